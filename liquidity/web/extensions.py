"""Flask extensions, created unbound and bound to an app in create_app with init_app."""

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import ServiceUnavailable

from liquidity.web.logwriter import LogWriter

log = logging.getLogger("liquidity.web")


class ModelUnavailable(ServiceUnavailable):
    """The model artifacts did not verify at start-up, so nothing can be scored."""


@dataclass
class LoadedModel:
    """One app's model, or the reason (safe to show on /healthz) it is not loaded."""

    model: object = None
    error: str | None = None


class ModelStore:
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
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.web import check_model

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


csrf = CSRFProtect()
models = ModelStore()


class StoreUnavailable(ServiceUnavailable):
    """The market store cannot be opened or read, so the pages built on it cannot be shown."""


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


class BoundStore:
    """One app's market store, opened on first use in each process (never in gunicorn's master before the fork)."""

    def __init__(self, url, log_enabled, check_seconds):
        self.url = url
        self.log_enabled = log_enabled
        self.check_seconds = check_seconds
        self.lock = threading.Lock()
        self.store = None
        self.window = None
        self.pid = None
        self.log = LogCounter()
        self.writer = LogWriter(self)

    def open(self):
        from liquidity.store import MarketStore

        store = self.store
        if store is not None and self.pid == os.getpid():  # every request after the first: no lock
            return store
        with self.lock:
            if self.store is None or self.pid != os.getpid():
                # A forked worker must not share its parent's pooled connections.
                if self.store is not None:
                    self.store.engine.dispose(close=False)
                self.store = MarketStore(self.url)
                self.window = None
                self.pid = os.getpid()
            return self.store

    def market_window(self):
        """Return a MarketWindow on the store: the last days and the latest forecasts kept in memory."""
        from liquidity.forecasting import MarketWindow

        store = self.open()
        window = self.window
        if window is not None and window.store is store:
            return window
        with self.lock:
            if self.window is None or self.window.store is not store:
                self.window = MarketWindow(store, check_every=self.check_seconds)
            return self.window


class StoreExtension:
    """Bind the market store (DATABASE_URL, read in web/settings.py) to an app and write the prediction log."""

    name = "liquidity_store"

    def init_app(self, app):
        """Remember app.config's DATABASE_URL, PREDICTION_LOG_ENABLED and STORE_CHECK_SECONDS; the store opens on
        first use."""
        app.extensions[self.name] = BoundStore(app.config["DATABASE_URL"], app.config["PREDICTION_LOG_ENABLED"],
                                               app.config["STORE_CHECK_SECONDS"])

    def bound(self, app=None):
        return (app or current_app).extensions[self.name]

    def get(self):
        """Return the current app's MarketStore, or raise StoreUnavailable with a reason fit to show."""
        return self._available(self.bound().open)

    def window(self):
        """Return the current app's MarketWindow (forecasts of the latest snapshot from memory), or 503."""
        return self._available(self.bound().market_window)

    @staticmethod
    def _available(opener):
        """Return opener(), or raise StoreUnavailable (a 503 page) when the store cannot be opened or read."""
        from liquidity.store import StoreError

        try:
            return opener()
        except StoreError as error:
            log.error("market store unavailable: %s", error)
            raise StoreUnavailable("The market store cannot be opened right now; the operator can see why in "
                                   "the logs.") from None

    def reference_ratios(self):
        """Return the latest stored snapshot's sorted ratios for ranking a coin given by its four inputs, or None
        (the model card's reference) while the store is empty or cannot be read; from the worker's MarketWindow."""
        from liquidity.store import StoreError

        try:
            return self.bound().market_window().latest_ratios()
        except StoreError as error:
            log.warning("ranking against the model card's reference snapshot: %s", error)
            return None

    def log_forecasts(self, rows, source, model_version):
        """Queue rows (see liquidity.store.predictions.LOG_FIELDS) for the log, written off the request's path.

        Never raises and never waits on the database: a write error is logged and counted by the writer (GET
        /healthz shows the count) and the caller's answer has gone out. Returns the number of rows queued.
        """
        bound = self.bound()
        if not bound.log_enabled:
            return 0
        rows = rows if hasattr(rows, "columns") else list(rows)  # a DataFrame goes through as it is
        if len(rows):
            bound.writer.put(rows, source, model_version)
        return len(rows)

    def flush(self, app=None, timeout=10.0):
        """Wait until this process has written every queued log row; return False on timeout."""
        return self.bound(app).writer.flush(timeout)

    def log_state(self, app=None):
        """Return this process's counts of logged and failed forecasts, and whether logging is on."""
        bound = self.bound(app)
        return {"enabled": bound.log_enabled, **bound.log.as_dict()}


stores = StoreExtension()
