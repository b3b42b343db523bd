"""The web app's services: the model loader, the market store opened per process, the prediction log.

Each class here is bound to an app in create_app (init_app); liquidity/web/extensions.py holds the instances.
"""

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from werkzeug.exceptions import ServiceUnavailable

from liquidity.web.logwriter import LogWriter

log = logging.getLogger("liquidity.web")


class ModelUnavailable(ServiceUnavailable):
    """The model artifacts did not verify at start-up, so nothing can be scored."""


class StoreUnavailable(ServiceUnavailable):
    """The market store cannot be opened or read, so the pages built on it cannot be shown."""


@dataclass
class LoadedModel:
    """One app's model, or the reason (safe to show on /healthz) it is not loaded."""

    model: object = None
    error: str | None = None


class ModelLoader:
    """Load the verified model once per app at start-up and hand it to the views."""

    name = "liquidity_model"

    def init_app(self, app):
        """Load the model from app.config's ARTIFACT_PATHS and LIQUIDITY_THRESHOLD; on failure keep the reason."""
        app.extensions[self.name] = load_model(app.config["ARTIFACT_PATHS"], app.config["LIQUIDITY_THRESHOLD"])

    def state(self, app=None):
        """Return the LoadedModel of app (default: the current app)."""
        return (app or current_app).extensions[self.name]

    def get(self, app=None):
        """Return the LiquidityModel of app, or None when it is not loaded."""
        return self.state(app).model

    def require(self):
        """Return the current app's LiquidityModel, or raise ModelUnavailable."""
        model = self.get()
        if model is None:
            raise ModelUnavailable("The model is not available: its files did not pass verification at start-up. "
                                   "The operator can see why at /healthz.")
        return model


def load_model(paths, threshold):
    """Return a LoadedModel: the verified model, or why it did not load (without the deploy folders)."""
    from liquidity.artifacts import ArtifactError
    from liquidity.modeling.card import check_model
    from liquidity.modeling.predict import LiquidityModel

    # A model that fails verification is never unpickled, and the app still starts so /healthz can say why.
    try:
        model = LiquidityModel.load(paths, threshold)
        check_model(model)
    except ArtifactError as error:
        reason = str(error)
    except Exception as error:  # a card that verifies but does not fit the code: any error, and still start
        reason = (f"{paths.card}: the model card does not fit this app "
                  f"({error.__class__.__name__}: {error})")
    else:
        return LoadedModel(model=model)
    log.error("model not loaded: %s", reason)
    # /healthz is public: it names the file and the fault, not the folders the app is deployed in.
    for folder in {str(path.parent) for path in (paths.model, paths.scaler, paths.card)}:
        reason = reason.replace(folder.rstrip("/") + "/", "")
    return LoadedModel(error=reason)


def migrate_store(url):
    """Migrate the market store at url to the newest schema; return False (logged) when it cannot be.

    The app's start-up is the one place the web layer migrates; it runs in gunicorn's master, before the fork,
    and every later open is for reading. A store that cannot be migrated (a read-only file, a server that is
    down) leaves the app serving its other pages, and the store's pages answer 503 until it can be read.
    """
    from liquidity.store import MarketStore, StoreError

    try:
        MarketStore(url, migrate=True).close()
    except StoreError as error:
        log.error("market store not migrated at start-up: %s", error)
        return False
    return True


class ProcessStore:
    """The app's market store, opened for reading on first use in each process (never in gunicorn's master)."""

    def __init__(self, url):
        self.url = url
        self.lock = threading.Lock()
        self.store = None
        self.pid = None

    def open(self):
        """Return this process's MarketStore (the same one on every call); raise StoreError if it cannot open."""
        from liquidity.store import MarketStore

        store = self.store
        if store is not None and self.pid == os.getpid():  # every call after the first: no lock
            return store
        with self.lock:
            if self.store is None or self.pid != os.getpid():
                # A forked worker must not share its parent's pooled connections.
                if self.store is not None:
                    self.store.engine.dispose(close=False)
                self.store = MarketStore(self.url, migrate=False)
                self.pid = os.getpid()
            return self.store


class LogCounter:
    """How many forecasts this process logged, and how many it could not (per process: each worker its own)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.written = 0
        self.failed = 0
        self.last_failure_at = None

    def add(self, written=0, failed=0):
        with self.lock:
            self.written += written
            self.failed += failed
            if failed:
                self.last_failure_at = datetime.now(UTC).isoformat(timespec="seconds")

    def as_dict(self):
        with self.lock:
            return {"written": self.written, "failed": self.failed, "last_failure_at": self.last_failure_at}


class PredictionLog:
    """One app's prediction log: forecasts queued by requests, written by this process's LogWriter thread."""

    def __init__(self, store, enabled):
        self.store = store  # the ProcessStore the read model reads through; the log writes through it too
        self.enabled = enabled
        self.counts = LogCounter()
        self.writer = LogWriter(self)

    def open(self):
        """Return this process's MarketStore, for the writer."""
        return self.store.open()


def process_store(app):
    """Return app's ProcessStore on its DATABASE_URL, shared by the read model and the prediction log."""
    return app.extensions.setdefault("liquidity_store", ProcessStore(app.config["DATABASE_URL"]))


class PredictionLogExtension:
    """Bind the prediction log (PREDICTION_LOG_ENABLED, read in web/settings.py) to an app."""

    name = "liquidity_prediction_log"

    def init_app(self, app):
        """Give app a PredictionLog writing through its ProcessStore."""
        app.extensions[self.name] = PredictionLog(process_store(app), app.config["PREDICTION_LOG_ENABLED"])

    def get(self, app=None):
        """Return the PredictionLog of app (default: the current app)."""
        return (app or current_app).extensions[self.name]

    def log_forecasts(self, rows, source, model_version):
        """Queue rows (see liquidity.store.predictions.LOG_FIELDS) for the log, written off the request's path.

        Never raises and never waits on the database: a write error is logged and counted by the writer (GET
        /healthz shows the count) and the caller's answer has gone out. Returns the number of rows queued.
        """
        prediction_log = self.get()
        if not prediction_log.enabled:
            return 0
        rows = rows if hasattr(rows, "columns") else list(rows)  # a DataFrame goes through as it is
        if len(rows):
            prediction_log.writer.put(rows, source, model_version)
        return len(rows)

    def flush(self, app=None, timeout=10.0):
        """Wait until this process has written every queued log row; return False on timeout."""
        return self.get(app).writer.flush(timeout)

    def log_state(self, app=None):
        """Return this process's counts of logged and failed forecasts, and whether logging is on."""
        prediction_log = self.get(app)
        return {"enabled": prediction_log.enabled, **prediction_log.counts.as_dict()}


class ReadModelExtension:
    """Bind the read model (DATABASE_URL, STORE_CHECK_SECONDS and the loaded model) to an app."""

    name = "liquidity_read_model"

    def init_app(self, app, model):
        """Give app a ReadModel on its ProcessStore and model; it reads the store on first use in each process."""
        from liquidity.web.readmodel import ReadModel

        app.extensions[self.name] = ReadModel(process_store(app), model, app.config["STORE_CHECK_SECONDS"])

    def get(self, app=None):
        """Return the ReadModel of app (default: the current app)."""
        return (app or current_app).extensions[self.name]
