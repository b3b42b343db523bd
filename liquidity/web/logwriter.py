"""Write the prediction log off the request's path: one thread per process drains a queue in batched transactions.

A request only queues its rows with the time it made them (microseconds); the thread writes what has gathered
every FLUSH_SECONDS in one transaction, so two gunicorn workers on one SQLite file take its write lock a few times a second
instead of once per request. A list of rows from one request (an API list, a batch) always lands in one
transaction. Nothing queued is dropped: the thread flushes before the process exits (atexit, which gunicorn's
graceful worker exit runs), and flush() waits for everything queued so far, for tests and shutdown hooks.
"""

import atexit
import logging
import os
import queue
import threading
import time
from datetime import UTC, datetime

log = logging.getLogger("liquidity.web")

FLUSH_SECONDS = 0.05
MAX_BATCH_ROWS = 20_000
_WRITE_NOW = object()  # queued by flush(): the writer stops gathering and writes what it holds


class LogWriter:
    """Queue logged forecasts and write them from a background thread of this process."""

    def __init__(self, bound, flush_seconds=FLUSH_SECONDS):
        self.bound = bound  # the BoundStore: its store, opened in this process, and its LogCounter
        self.flush_seconds = flush_seconds
        self.queue = queue.SimpleQueue()
        self.idle = threading.Condition()
        self.pending = 0
        self.thread = None
        self.pid = None

    def put(self, rows, source, model_version):
        """Queue rows (mappings or a DataFrame) for the log; never blocks on the database."""
        self._ensure_thread()
        with self.idle:
            self.pending += 1
        self.queue.put((rows, source, model_version, datetime.now(UTC)))

    def flush(self, timeout=10.0):
        """Wait until every row queued so far is written (or counted as failed); return False on timeout."""
        deadline = time.monotonic() + timeout
        self.queue.put(_WRITE_NOW)
        with self.idle:
            while self.pending:
                left = deadline - time.monotonic()
                if left <= 0 or (self.thread is None or not self.thread.is_alive()):
                    return not self.pending
                self.idle.wait(left)
        return True

    def _ensure_thread(self):
        if self.thread is not None and self.pid == os.getpid() and self.thread.is_alive():
            return
        with self.idle:
            if self.thread is not None and self.pid == os.getpid() and self.thread.is_alive():
                return
            if self.pid != os.getpid():  # a forked worker: the parent's queue and counts are not this process's
                self.queue, self.pending = queue.SimpleQueue(), 0
                atexit.register(self.flush)
            self.pid = os.getpid()
            self.thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
            self.thread.start()

    def _run(self):
        while True:
            first = self.queue.get()
            if first is _WRITE_NOW:
                continue
            batch, rows = [first], len(first[0])
            deadline = time.monotonic() + self.flush_seconds
            while rows < MAX_BATCH_ROWS:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self.queue.get(timeout=left)
                except queue.Empty:
                    break
                if item is _WRITE_NOW:
                    break
                batch.append(item)
                rows += len(item[0])
            try:
                self._write(batch)
            except Exception:  # the writer must outlive any one bad batch
                log.exception("prediction log: a batch could not be written")
            with self.idle:
                self.pending -= len(batch)
                self.idle.notify_all()

    def _write(self, batch):
        from liquidity.store import StoreError
        from liquidity.store.predictions import log_forecast_batches

        rows = sum(len(item[0]) for item in batch)
        try:
            written = log_forecast_batches(self.bound.open(), batch)
        except (StoreError, OSError) as error:
            self.bound.log.add(failed=rows)
            sources = ", ".join(sorted({item[1] for item in batch}))
            log.error("prediction log: %d forecast(s) from %s not logged: %s", rows, sources, error)
        else:
            self.bound.log.add(written=written)
