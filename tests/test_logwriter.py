"""The prediction log is written off the request's path, in batches, and nothing queued is lost."""

import subprocess
import sys
import time
from datetime import UTC, datetime

import pandas as pd
from conftest import logged, open_store

from liquidity.web.services import PredictionLog, ProcessStore

ROW = {"volume": 1.0, "mkt_cap": 2.0, "h1": None, "price": 3.0, "forecast_score": 0.5, "level": "High",
       "band_low": 0.4, "band_high": 0.6}


def log_on(url):
    """Return a PredictionLog on the store at url, migrated first as the app's start-up does."""
    open_store(url).close()
    return PredictionLog(ProcessStore(url), enabled=True)


def test_rows_are_stamped_when_queued_and_written_together(market_store_in_tmp):
    log = log_on(market_store_in_tmp)
    log.writer.flush_seconds = 0.3  # gather both requests into one batch
    queued_at = datetime.now(UTC)
    log.writer.put([ROW], "api", "v1")
    log.writer.put(pd.DataFrame([ROW, ROW]), "batch", "v1")
    time.sleep(0.1)
    assert logged(market_store_in_tmp).empty  # nothing written while the batch gathers
    assert log.writer.flush()
    rows = logged(market_store_in_tmp)
    assert rows["source"].tolist() == ["api", "batch", "batch"]
    assert rows["created_at"].iloc[1] == rows["created_at"].iloc[2]  # one request's rows: one time
    made = pd.Timestamp(rows["created_at"].iloc[0]).tz_localize(UTC)
    assert abs((made - pd.Timestamp(queued_at)).total_seconds()) < 0.1  # the time it was made, not written
    assert log.counts.as_dict()["written"] == 3


def test_a_failed_batch_is_counted_and_the_writer_goes_on(market_store_in_tmp):
    log = log_on(market_store_in_tmp)
    log.writer.put([ROW], "no such source", "v1")  # refused by the log: counted as failed, not fatal
    assert log.writer.flush()
    log.writer.put([ROW], "api", "v1")
    assert log.writer.flush()
    assert logged(market_store_in_tmp)["source"].tolist() == ["api"]
    assert log.writer.thread.is_alive()


EXIT_SCRIPT = """
import sys
from liquidity.web.services import PredictionLog, ProcessStore
log = PredictionLog(ProcessStore(sys.argv[1]), enabled=True)
log.writer.flush_seconds = 30  # far longer than the process lives: only the exit flush can write the rows
for _ in range(5):
    log.writer.put([{"volume": 1.0, "mkt_cap": 2.0, "price": 3.0, "forecast_score": 0.5, "level": "High"}],
                     "api", "v1")
"""


def test_rows_still_queued_when_the_process_exits_are_written(market_store_in_tmp):
    open_store(market_store_in_tmp).close()  # migrated before the child opens it
    subprocess.run([sys.executable, "-c", EXIT_SCRIPT, market_store_in_tmp], check=True, timeout=60)
    assert len(logged(market_store_in_tmp)) == 5


def test_a_forked_worker_writes_its_own_rows_and_never_its_parents(market_store_in_tmp):
    import os

    log = log_on(market_store_in_tmp)
    log.writer.flush_seconds = 30  # the parent's rows stay queued across the fork
    log.writer.put([ROW], "api", "parent")
    pid = os.fork()
    if pid == 0:  # the child, as a gunicorn worker forked from a master that had queued rows
        code = 1
        try:
            fresh = len(log.writer.items) == 0
            log.writer.put([ROW, ROW], "api", "child")
            code = 0 if fresh and log.writer.flush() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert log.writer.flush()
    assert sorted(logged(market_store_in_tmp)["model_version"]) == ["child", "child", "parent"]
