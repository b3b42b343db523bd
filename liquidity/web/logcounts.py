"""The prediction log's counts, summed across the workers of one server since it started.

The counts live in anonymous shared memory mapped in create_app: gunicorn (preload_app = True) creates the app in
its master and forks the workers from it, so every worker of one server writes into the same pages and /healthz
in any worker reads the sum. Neither a file in instance/ nor a table in the store: the counts matter most when the
store (or its disk) is failing, which is exactly when a counter kept there could not be written.

Each process has a slot of its own and is its slot's only writer (a request thread adds to `queued`, the log
writer thread to the others), so no lock is taken on the request's path; a reader sums slots that may be a write
behind. When a worker dies without writing its queue (kill -9, a crash), gunicorn's child_exit hook runs
retire(pid) in the master: the rows the worker had queued but neither written nor counted as failed are counted as
lost, and its slot folds into the retired totals, so a recycled or killed worker's counts survive it.
"""

import mmap
import multiprocessing
import os
import time

SLOTS = 128  # live processes at once (workers of one server, plus the master's own tests); a slot is freed on exit
FIELDS = ("pid", "queued", "written", "failed", "lost", "last_failure", "last_success")
PID, QUEUED, WRITTEN, FAILED, LOST, LAST_FAILURE, LAST_SUCCESS = range(len(FIELDS))
RETIRED = 0  # the slot that holds the sums of processes that exited


def _now_ms():
    return int(time.time() * 1000)


class SharedLogCounts:
    """Counts of the prediction log's rows across the processes forked from the one that made this."""

    def __init__(self):
        self._memory = mmap.mmap(-1, SLOTS * len(FIELDS) * 8)  # anonymous and MAP_SHARED: inherited by a fork
        self._values = memoryview(self._memory).cast("q")
        self._claim = multiprocessing.Lock()  # a semaphore in shared memory: taken only to claim or free a slot
        self._slot = None
        self._slot_pid = None

    def _mine(self):
        """Return this process's slot index, claiming a free one on first use."""
        pid = os.getpid()
        if self._slot_pid == pid:
            return self._slot
        with self._claim:
            width = len(FIELDS)
            for slot in range(1, SLOTS):
                if self._values[slot * width + PID] in (0, pid):
                    self._values[slot * width: (slot + 1) * width] = memoryview(bytes(width * 8)).cast("q")
                    self._values[slot * width + PID] = pid
                    self._slot, self._slot_pid = slot, pid
                    return slot
        # Every slot taken (far more processes than any server runs): count into the retired totals.
        self._slot, self._slot_pid = RETIRED, pid
        return RETIRED

    def _add(self, field, amount):
        index = self._mine() * len(FIELDS) + field
        self._values[index] += amount

    def queued(self, rows):
        """Count rows a request put on this process's queue."""
        self._add(QUEUED, rows)

    def written(self, rows):
        """Count rows the log writer wrote."""
        self._add(WRITTEN, rows)
        self._values[self._mine() * len(FIELDS) + LAST_SUCCESS] = _now_ms()

    def failed(self, rows):
        """Count rows a store error kept out of the log (the writer logged why)."""
        self._add(FAILED, rows)
        self._values[self._mine() * len(FIELDS) + LAST_FAILURE] = _now_ms()

    def lost(self, rows):
        """Count rows that were written but did not last (into a store file that was deleted or replaced)."""
        self._add(LOST, rows)
        self._values[self._mine() * len(FIELDS) + LAST_FAILURE] = _now_ms()

    def retire(self, pid):
        """Fold the slot of the exited process pid into the retired totals; return the rows it lost unwritten."""
        width = len(FIELDS)
        with self._claim:
            for slot in range(1, SLOTS):
                base = slot * width
                if self._values[base + PID] != pid:
                    continue
                queued, written, failed, lost = (self._values[base + field] for field in (QUEUED, WRITTEN, FAILED,
                                                                                          LOST))
                unwritten = max(0, queued - written - failed - lost)
                retired = RETIRED * width
                for field in (QUEUED, WRITTEN, FAILED, LOST):
                    self._values[retired + field] += self._values[base + field]
                self._values[retired + LOST] += unwritten
                for field in (LAST_FAILURE, LAST_SUCCESS):
                    self._values[retired + field] = max(self._values[retired + field], self._values[base + field])
                if unwritten:
                    self._values[retired + LAST_FAILURE] = _now_ms()
                self._values[base: base + width] = memoryview(bytes(width * 8)).cast("q")
                return unwritten
        return 0

    def totals(self):
        """Return the sums over every process: queued, written, failed, lost, pending; the last failure and success
        (milliseconds since the epoch, None when none)."""
        width = len(FIELDS)
        sums = dict.fromkeys(("queued", "written", "failed", "lost"), 0)
        last_failure = last_success = 0
        for slot in range(SLOTS):
            base = slot * width
            if slot != RETIRED and self._values[base + PID] == 0:
                continue
            for name, field in (("queued", QUEUED), ("written", WRITTEN), ("failed", FAILED), ("lost", LOST)):
                sums[name] += self._values[base + field]
            last_failure = max(last_failure, self._values[base + LAST_FAILURE])
            last_success = max(last_success, self._values[base + LAST_SUCCESS])
        sums["pending"] = max(0, sums["queued"] - sums["written"] - sums["failed"] - sums["lost"])
        sums["last_failure"] = last_failure or None
        sums["last_success"] = last_success or None
        return sums
