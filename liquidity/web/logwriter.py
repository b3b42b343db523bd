"""Write the prediction log off the request's path: one thread per process writes what gathered, in batches.

A request only appends its rows with the time it made them (microseconds, and it never wakes the writer while the
writer is busy or gathering); the thread writes what has gathered every FLUSH_SECONDS in one transaction, so two
gunicorn workers on one SQLite file take its write lock a few times a second instead of once per request. A list of
rows from one request (an API list, a batch) always lands in one transaction. Nothing queued is dropped: the thread
flushes before the process exits (atexit, which gunicorn's graceful worker exit runs), and flush() waits for
everything queued so far, for tests and shutdown hooks.
"""

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from datetime import UTC, datetime

# Imported with the module, not on first write: the exit flush runs during interpreter shutdown, when importing
# pandas (which the store needs) fails with "can't register atexit after shutdown".
from liquidity.store import StoreError
from liquidity.store.predictions import log_forecast_batches

log = logging.getLogger("liquidity.web")

# Each write opens a connection, commits and closes it (SQLite checkpoints on the last close): under the API
# benchmark's load, writing every 50 ms cost the predict API about 10 points of its rate against /healthz (measured
# A/B, benchmarks/api_ratio.py); every 250 ms amortises that over ~100 rows, and a killed worker loses at most this.
FLUSH_SECONDS = 0.25
MAX_BATCH_ROWS = 20_000


class LogWriter:
    """Queue logged forecasts and write them from a background thread of this process."""

    def __init__(self, prediction_log, flush_seconds=FLUSH_SECONDS):
        self.prediction_log = prediction_log  # the PredictionLog: its store, opened in this process, and its counts
        self.flush_seconds = flush_seconds
        self.thread = None
        self.pid = None  # the process the thread and the exit flush belong to
        self._reset()
        # A forked worker starts with empty queues and fresh locks: the parent's are not this process's.
        weak = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: weak() and weak()._reset())

    def _reset(self):
        self.items = deque()
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self.queued = 0  # requests' row lists put so far
        self.handled = 0  # of those, written or counted as failed
        self.waiting = threading.Event()  # set while items wait for the writer
        self.now = threading.Event()  # set by flush(): write without gathering

    def put(self, rows, source, model_version):
        """Queue rows (mappings or a DataFrame) for the log; never blocks on the database."""
        self._ensure_thread()
        with self.lock:
            self.items.append((rows, source, model_version, datetime.now(UTC)))
            self.queued += 1
        self.prediction_log.counts.shared.queued(len(rows))
        if not self.waiting.is_set():  # only the first put after the writer went idle wakes it
            self.waiting.set()

    def flush(self, timeout=10.0):
        """Wait until every row queued so far is written (or counted as failed); return False on timeout."""
        with self.lock:
            target = self.queued
            if self.handled >= target:
                return True
        self.now.set()
        self.waiting.set()
        with self.done:
            self.done.wait_for(lambda: self.handled >= target or not self._alive(), timeout)
            return self.handled >= target

    def _alive(self):
        return self.thread is not None and self.thread.is_alive()

    def _ensure_thread(self):
        if self._alive():  # after a fork the parent's thread is not alive in the child
            return
        with self.lock:
            if self._alive():
                return
            if self.pid != os.getpid():
                self.pid = os.getpid()
                atexit.register(self.flush)
            self.thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
            self.thread.start()

    def _run(self):
        while True:
            self.waiting.wait()
            self.now.wait(self.flush_seconds)  # gather what arrives meanwhile, unless a flush wants it now
            with self.lock:
                batch, rows = [], 0
                while self.items and (not batch or rows < MAX_BATCH_ROWS):
                    item = self.items.popleft()
                    batch.append(item)
                    rows += len(item[0])
                if not self.items:  # else the rest goes next, at once if a flush asked
                    self.waiting.clear()
                    self.now.clear()
            if batch:
                try:
                    self._write(batch)
                except Exception:  # the writer must outlive any one bad batch, and count it
                    self.prediction_log.counts.add(failed=sum(len(item[0]) for item in batch))
                    log.exception("prediction log: a batch could not be written")
            with self.done:
                self.handled += len(batch)
                self.done.notify_all()

    def _write(self, batch):
        rows = sum(len(item[0]) for item in batch)
        process_store = self.prediction_log.store
        try:
            store = self.prediction_log.open()
            gone = process_store.changed(store)
            if gone:  # the file went before this batch: write it into the one at the path now
                log.error("prediction log: %s; reopening the store at its path", gone)
                store = process_store.reopen(store, gone)
            written = log_forecast_batches(store, batch)
        except (StoreError, OSError) as error:
            self.prediction_log.counts.add(failed=rows)
            # Connections opened during the failure (a read-only SQLite file, a server restarting) must not stay.
            process_store.reset()
            sources = ", ".join(sorted({item[1] for item in batch}))
            log.error("prediction log: %d forecast(s) from %s not logged: %s", rows, sources, error)
            return
        gone = process_store.changed(store)
        if gone:
            # Written into a file no longer at the path (unlinked, or replaced): those rows are lost, and said so.
            self.prediction_log.counts.add(lost=written)
            log.error("prediction log: %s; %d forecast(s) written into it are lost; reopening the store at its path",
                      gone, written)
            try:
                process_store.reopen(store, gone)
            except (StoreError, OSError) as error:
                log.error("prediction log: cannot reopen the store: %s", error)
        else:
            self.prediction_log.counts.add(written=written)
