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
        store = MarketStore(url, migrate=True)
    except StoreError as error:
        log.error("market store not migrated at start-up: %s", error)
        return False
    store.close()
    if store.migration is not None and store.migration.changed:
        log.info("%s at start-up", store.migration.describe())
    return True


class ProcessStore:
    """The app's market store, opened for reading on first use in each process (never in gunicorn's master).

    A SQLite file is watched: the identity (device, inode) of the file opened is kept, and changed() says when the
    file at the path is gone or is another file (deleted, replaced by a restore), so the log writer can count the
    rows it wrote into the lost file and reopen() the one now at the path.
    """

    def __init__(self, url):
        self.url = url
        self.lock = threading.Lock()
        self.store = None
        self.pid = None
        self.path = None  # the SQLite file, None for PostgreSQL; each store opened keeps its file_identity
        self.incident = None  # (when, what) of the last time the file went away, for /healthz

    def open(self):
        """Return this process's MarketStore (the same one on every call); raise StoreError if it cannot open."""
        from liquidity.store import MarketStore
        from liquidity.store.store import sqlite_file

        store = self.store
        if store is not None and self.pid == os.getpid():  # every call after the first: no lock
            return store
        with self.lock:
            if self.store is None or self.pid != os.getpid():
                # A forked worker must not share its parent's pooled connections.
                if self.store is not None:
                    self.store.engine.dispose(close=False)
                self.store = MarketStore(self.url, migrate=False, pooled=False)
                self.pid = os.getpid()
                self.path = sqlite_file(self.store.url)
                self.store.file_identity = self._stat()
            return self.store

    def _stat(self):
        if self.path is None:
            return None
        try:
            status = os.stat(self.path)
        except OSError:
            return None
        return status.st_dev, status.st_ino

    def changed(self, store):
        """Return why the SQLite file store (a MarketStore this object opened) wrote to is no longer the one at the
        path (deleted, or replaced by another file), or None; None for PostgreSQL."""
        if self.path is None:
            return None
        now = self._stat()
        if getattr(store, "file_identity", None) is None:
            store.file_identity = now  # opened before the file existed: the first file seen is the one written to
            return None
        if now is None:
            return f"the store file {self.path.name} was deleted"
        if now != store.file_identity:
            return f"the store file {self.path.name} was replaced by another file"
        return None

    def reset(self):
        """Close every pooled connection, so the next use connects afresh: after a failure, a connection opened
        during the episode must not stay pooled (a PostgreSQL server restarting; SQLite connections are not pooled
        here at all, see MarketStore's pooled), and give a SQLite file's -wal and -shm its mode again."""
        store = self.store
        if store is not None and self.pid == os.getpid():
            store.engine.dispose()
        if self.path is not None:
            repair_sidecars(self.path)


    def reopen(self, stale, why):
        """Drop the store stale after its file went away (why) and open the file now at the path, migrated (a
        deleted file comes back empty, and the log needs its tables); return the store to use now (another
        thread's reopening, if it came first), or raise StoreError."""
        from liquidity.store import MarketStore

        with self.lock:
            if self.store is not stale and self.store is not None and self.pid == os.getpid():
                return self.store
            self.incident = (datetime.now(UTC).isoformat(timespec="seconds"), why)
            stale.engine.dispose()
            self.store = None
            opened = MarketStore(self.url, migrate=True, pooled=False)
            opened.file_identity = self._stat()
            self.store, self.pid = opened, os.getpid()
            return opened


def repair_sidecars(path):
    """Give a SQLite file's -wal and -shm the file's own mode when the file is writable and they are not.

    A process that opens a WAL database it cannot write creates -wal and -shm with the database's mode, read-only:
    once the file is made writable again, every writer still failed on the read-only -shm until a restart removed
    it. The process owns what it created, so it may change the mode back; files of another owner are left alone.
    """
    try:
        status = os.stat(path)
        if not os.access(path, os.W_OK):
            return
        for suffix in ("-wal", "-shm"):
            sidecar = path.with_name(path.name + suffix)
            if sidecar.exists() and not os.access(sidecar, os.W_OK) and sidecar.stat().st_uid == os.geteuid():
                os.chmod(sidecar, status.st_mode & 0o666)
                log.warning("market store: %s was read-only; given its database's mode again", sidecar.name)
    except OSError as error:
        log.warning("market store: cannot check the mode of %s's -wal and -shm: %s", path.name, error)

class LogCounter:
    """How many forecasts were logged, failed or lost: this process's own, and every worker's since the server
    started (the shared counts, liquidity/web/logcounts.py)."""

    def __init__(self):
        from liquidity.web.logcounts import SharedLogCounts

        self.lock = threading.Lock()
        self.written = 0
        self.failed = 0
        self.lost = 0
        self.last_failure_at = None
        self.shared = SharedLogCounts()

    def add(self, written=0, failed=0, lost=0):
        with self.lock:
            self.written += written
            self.failed += failed
            self.lost += lost
            if failed or lost:
                self.last_failure_at = datetime.now(UTC).isoformat(timespec="seconds")
        if written:
            self.shared.written(written)
        if failed:
            self.shared.failed(failed)
        if lost:
            self.shared.lost(lost)

    def as_dict(self):
        with self.lock:
            return {"written": self.written, "failed": self.failed, "lost": self.lost,
                    "last_failure_at": self.last_failure_at}

    def totals(self):
        """Return every worker's counts since the server started (see liquidity/web/logcounts.py)."""
        sums = self.shared.totals()
        # The last write failed (or lost rows) after the last that succeeded: the log is failing now.
        sums["failing"] = sums["last_failure"] is not None and sums["last_failure"] >= (sums["last_success"] or 0)
        for name in ("last_failure", "last_success"):
            stamp = sums.pop(name)
            sums[f"{name}_at"] = None if stamp is None else datetime.fromtimestamp(stamp / 1000, UTC).isoformat(
                timespec="milliseconds")
        return sums


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
        """Return this process's counts of logged, failed and lost forecasts, and whether logging is on."""
        prediction_log = self.get(app)
        return {"enabled": prediction_log.enabled, **prediction_log.counts.as_dict()}

    def totals(self, app=None):
        """Return the counts of every worker of this server since it started, and whether logging is on."""
        prediction_log = self.get(app)
        return {"enabled": prediction_log.enabled, **prediction_log.counts.totals()}

    def retire(self, pid, app=None):
        """Count what the exited worker pid queued and never wrote as lost (gunicorn's child_exit, in the master)."""
        return self.get(app).counts.shared.retire(pid)


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
