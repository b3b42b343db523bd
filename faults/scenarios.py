"""The fault scenarios: each starts gunicorn -w 2, loads it, injects one real fault, removes it and measures.

Each returns a Result: the answers by status, the prediction log rows the answers should have written against
those in the store, those the server counted as failed or lost (its /healthz, summed over the workers), the rows
lost without being counted, and the seconds from the fault's end until every store route answered 200 again and a
new log row landed (no restart in between). tests/test_faults.py asserts on them; faults/run.py prints them.
"""

import json
import os
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from faults.harness import (
    Load,
    Redis,
    Server,
    import_demo,
    log_rows,
    request,
    store_routes,
    wait_until,
)
from liquidity.web.logwriter import FLUSH_SECONDS

LOAD_CLIENTS = 4


@dataclass
class Result:
    """What one fault scenario measured."""

    fault: str
    backend: str
    statuses: Counter = field(default_factory=Counter)
    rows_expected: int = 0  # log rows the answers (200s of the logging routes) should have written
    rows_written: int = 0  # rows in the store (for a deleted file: the old file's, read as it was deleted, and the new)
    rows_failed: int = 0  # rows the server counted as not written (a store error it logged)
    rows_lost_counted: int = 0  # rows the server counted as lost (into a deleted file, a killed worker's queue)
    recover_seconds: float | None = None  # None: did not recover
    health_during: str | None = None
    health_after: str | None = None
    slowest_seconds: float = 0.0
    notes: list = field(default_factory=list)
    # What single scenarios measure besides: answers of the store routes during the fault, the rows answered in the
    # last flush interval before a kill, the answers while Redis was paused and the slowest, whether the outage was
    # logged, the requests a rate limit let through, 429s whose Retry-After and retry_after differ, a 429's message.
    fault_statuses: Counter = field(default_factory=Counter)
    window_rows: int = 0
    paused_answers: int = 0
    paused_slowest: float = 0.0
    outage_logged: bool = False
    allowed: int = 0
    retry_after_disagreements: int = 0
    message: str = ""

    @property
    def served(self):
        return sum(count for status, count in self.statuses.items() if isinstance(status, int))

    @property
    def rows_lost_uncounted(self):
        """Rows the answers promised that are neither in the store nor counted by the server (never below 0: a
        killed worker's queue can hold rows of requests whose answer never went out)."""
        return max(0, self.rows_expected - self.rows_written - self.rows_failed - self.rows_lost_counted)

    def errors(self):
        """Return the answers other than 2xx and 3xx, by status."""
        return {status: count for status, count in sorted(self.statuses.items(), key=str)
                if not (isinstance(status, int) and status < 400)}


def _health(server):
    try:
        status, body = server.health()
    except OSError:
        return "no answer", {}
    return f"{status} {body.get('status')}", body


def _settle(server, load, result, before_rows, url):
    """Stop the load, let the workers write what they queued, and fill result's row counts and statuses."""
    load.__exit__()
    time.sleep(1.0 + FLUSH_SECONDS)
    result.health_after, body = _health(server)
    totals = body.get("prediction_log", {})
    result.rows_failed = totals.get("failed", 0)
    result.rows_lost_counted = totals.get("lost", 0)
    result.rows_written += log_rows(url) - before_rows
    result.rows_expected = load.logged()
    result.statuses = load.statuses()
    result.slowest_seconds = max((seconds for *_, seconds in load.answers), default=0.0)


def _recover(load, coin_id, url, seconds=30, answered=lambda status: status < 400):
    """Return the seconds until every store route is answered (2xx or 3xx unless told) and, over half a second of
    load, log rows land and none fails (every worker writes again); None if that never happened within seconds."""
    def failed():
        try:
            return json.loads(request(load.port, "GET", "/healthz")[2])["prediction_log"]["failed"]
        except (OSError, ValueError, KeyError):
            return None

    def recovered():
        if not load.all_store_routes_answer(coin_id, answered):
            return False
        rows, failures = log_rows_or_none(url), failed()
        for _ in range(10):
            load.send("logs", "POST", "/api/v1/predict")
        time.sleep(0.5)
        later = log_rows_or_none(url)
        return (None not in (rows, later, failures) and later >= rows + 10 and failed() == failures)

    return wait_until(recovered, seconds, 0.2)


def log_rows_or_none(url):
    try:
        return log_rows(url)
    except Exception:  # the store itself is what is failing
        return None


def _loaded(server, coin_id):
    return Load(server.port, store_routes(coin_id), clients=LOAD_CLIENTS)


# --- PostgreSQL -------------------------------------------------------------------------------------------------

def postgres_stopped(postgres, folder, coin_id, down_seconds=4.0):
    """PostgreSQL stopped (pg_ctl stop -m fast) under load for down_seconds, then started again."""
    result = Result("PostgreSQL stopped and started", "postgresql")
    before = log_rows(postgres.url)
    server = Server(postgres.url, folder)
    try:
        load = _loaded(server, coin_id).__enter__()
        time.sleep(2)
        postgres.stop()
        time.sleep(down_seconds / 2)
        result.health_during, _ = _health(server)
        time.sleep(down_seconds / 2)
        postgres.start()
        result.recover_seconds = _recover(load, coin_id, postgres.url)
        time.sleep(1)
        _settle(server, load, result, before, postgres.url)
    finally:
        server.stop()
    if "Traceback" in server.log_text() and result.statuses.get(500):
        result.notes.append("a traceback in gunicorn's log")
    return result


def postgres_down_at_start(postgres, folder, coin_id):
    """gunicorn started while PostgreSQL is stopped: the store routes answer 503 (never 500), the predict API 200;
    then PostgreSQL started, and everything serves without a restart."""
    result = Result("PostgreSQL down at start-up", "postgresql")
    before = log_rows(postgres.url)
    postgres.stop()
    try:
        server = Server(postgres.url, folder, wait_ok=False)
    except Exception:
        postgres.start()
        raise
    try:
        load = _loaded(server, coin_id).__enter__()
        time.sleep(2)
        result.health_during, _ = _health(server)
        result.fault_statuses = Counter(status for _, label, status, _ in list(load.answers) if label == "store")
        result.notes.append(f"store routes while the server was down: {dict(result.fault_statuses)}")
        postgres.start()
        result.recover_seconds = _recover(load, coin_id, postgres.url)
        time.sleep(1)
        _settle(server, load, result, before, postgres.url)
    finally:
        server.stop()
    return result


def killed_worker(url, backend, folder, coin_id):
    """One worker killed with SIGKILL under load; gunicorn starts another; the rows it held are counted as lost."""
    result = Result("worker killed (kill -9)", backend)
    before = log_rows(url)
    server = Server(url, folder)
    try:
        load = Load(server.port, [("logs", "POST", "/api/v1/predict")], clients=8).__enter__()
        time.sleep(2)
        victim = server.workers()[0]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        # What the victim can have lost: the rows answered in the last flush interval (plus one write's time).
        window = FLUSH_SECONDS + 0.25
        result.window_rows = sum(1 for started, label, status, seconds in list(load.answers)
                                 if status == 200 and started + seconds >= killed_at - window)
        result.recover_seconds = wait_until(lambda: len(server.workers()) == 2 and victim not in server.workers(),
                                            30)
        time.sleep(2)
        _settle(server, load, result, before, url)
    finally:
        server.stop()
    result.notes.append(f"{result.window_rows} rows answered in the {window:.2f} s before the kill bound the loss")
    return result


# --- SQLite -------------------------------------------------------------------------------------------------------

def _sqlite_files(path):
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def sqlite_read_only_episode(path, folder, coin_id, seconds=4.0):
    """The SQLite file (and its -wal, -shm) made read-only under load, a worker recycled meanwhile (so connections
    open on the read-only file), then made writable again; the server runs without root's file override."""
    url = f"sqlite:///{path}"
    result = Result("SQLite file read-only, a worker recycled meanwhile", "sqlite")
    before = log_rows(url)
    server = Server(url, folder, unprivileged=True)
    try:
        load = _loaded(server, coin_id).__enter__()
        time.sleep(2)
        for file in _sqlite_files(path):
            if file.exists():
                file.chmod(0o444)
        os.kill(server.workers()[0], signal.SIGTERM)  # a recycled worker opens its connections during the episode
        time.sleep(seconds / 2)
        result.health_during, _ = _health(server)
        time.sleep(seconds / 2)
        path.chmod(0o644)  # what an operator does: the database file; SQLite made the -wal and -shm itself
        result.recover_seconds = _recover(load, coin_id, url)
        time.sleep(1)
        _settle(server, load, result, before, url)
    finally:
        server.stop()
    return result


def sqlite_cold_read_only(path, folder, coin_id):
    """gunicorn started on a SQLite file that is read-only (the start-up migration cannot write); the read-only pages
    must serve, then the file made writable and the log must resume without a restart."""
    url = f"sqlite:///{path}"
    result = Result("SQLite file read-only at start-up", "sqlite")
    before = log_rows(url)
    path.chmod(0o444)
    server = Server(url, folder, unprivileged=True, wait_ok=False)
    try:
        load = _loaded(server, coin_id).__enter__()
        time.sleep(3)
        result.health_during, _ = _health(server)
        result.fault_statuses = Counter(status for _, label, status, _ in list(load.answers) if label == "store")
        result.notes.append(f"store routes while read-only: {dict(result.fault_statuses)}")
        path.chmod(0o644)
        result.recover_seconds = _recover(load, coin_id, url)
        time.sleep(1)
        _settle(server, load, result, before, url)
    finally:
        server.stop()
        path.chmod(0o644)
    return result


def sqlite_deleted(path, folder, coin_id):
    """The SQLite file (with its -wal and -shm) deleted under load: the rows written into the unlinked file must be
    counted as lost, the file at the path reopened, and /healthz degraded."""
    url = f"sqlite:///{path}"
    result = Result("SQLite file deleted", "sqlite")
    before = log_rows(url)
    server = Server(url, folder)
    try:
        load = _loaded(server, coin_id).__enter__()
        time.sleep(2)
        # Hold the write lock while counting and deleting, so no row lands between the two.
        holder = sqlite3.connect(path, isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        in_old_file = holder.execute("SELECT COUNT(*) FROM prediction_log").fetchone()[0]
        for file in _sqlite_files(path):
            file.unlink(missing_ok=True)
        holder.execute("ROLLBACK")
        # The new file at the path is empty: a store route answers 200 or 404 (no such coin yet), never 5xx.
        result.recover_seconds = _recover(load, coin_id, url, answered=lambda status: status < 500)
        time.sleep(1)
        result.health_during, _ = _health(server)
        result.rows_written = in_old_file - before
        _settle(server, load, result, 0, url)
        holder.close()
    finally:
        server.stop()
    return result


# --- Redis --------------------------------------------------------------------------------------------------------

def redis_paused(folder, store_url, pause_seconds=4.0):
    """redis-server paused with SIGSTOP under load: every request must still answer within a second (in-memory limits
    meanwhile), and after SIGCONT the limit must be counted in Redis again."""
    result = Result("Redis paused (SIGSTOP)", "redis")
    before = log_rows(store_url)
    redis = Redis(folder)
    server = Server(store_url, folder, LIQUIDITY_RATELIMIT_ENABLED="true",
                    LIQUIDITY_RATELIMIT_STORAGE_URL=redis.url, LIQUIDITY_RATELIMIT_API="100000 per minute")
    try:
        load = Load(server.port, [("logs", "POST", "/api/v1/predict")], clients=LOAD_CLIENTS).__enter__()
        time.sleep(1.5)
        if redis.hits() == 0:
            result.notes.append("no limit counted in Redis before the pause")
        redis.pause()
        paused_at = time.monotonic()
        time.sleep(pause_seconds)
        redis.resume()
        resumed_at = time.monotonic()
        during = [seconds for started, _, _, seconds in list(load.answers) if paused_at <= started < resumed_at]
        result.notes.append(f"{len(during)} answers while paused, slowest {max(during, default=0):.2f} s")
        result.paused_slowest = max(during, default=0.0)
        result.paused_answers = len(during)

        def counted_in_redis():
            start = redis.hits()
            sent = [load.send("logs", "POST", "/api/v1/predict") for _ in range(6)]
            return redis.hits() - start == len(sent)  # both workers count in Redis again

        load.__exit__()  # from here only counted_in_redis's requests: all of them must reach Redis
        result.recover_seconds = wait_until(counted_in_redis, 60, 0.2)
        _settle(server, load, result, before, store_url)
        outage_logged = "falling back to in-memory storage" in server.log_text()
        result.notes.append("outage logged" if outage_logged else "outage NOT logged")
        result.outage_logged = outage_logged
    finally:
        server.stop()
        redis.close()
    return result


def per_worker_limit(folder, store_url, redis_url=None, limit=10):
    """A client sending 4 x limit requests to gunicorn -w 2 under "limit per minute": how many it gets, and whether
    each 429's Retry-After header and body agree."""
    storage = redis_url or "memory://"
    result = Result(f"rate limit {limit}/min, {storage.split(':')[0]} storage", "redis" if redis_url else "memory")
    server = Server(store_url, folder, LIQUIDITY_RATELIMIT_ENABLED="true", LIQUIDITY_RATELIMIT_STORAGE_URL=storage,
                    LIQUIDITY_RATELIMIT_API=f"{limit} per minute")
    try:
        import json

        statuses, disagreements, bodies = Counter(), 0, []
        for _ in range(4 * limit):
            status, headers, body = request(server.port, "POST", "/api/v1/predict", {"price": 1, "1h": 0,
                                                                                    "24h_volume": 5, "mkt_cap": 10})
            statuses[status] += 1
            if status == 429:
                answer = json.loads(body)
                bodies.append(answer)
                if str(answer.get("retry_after")) != headers.get("Retry-After"):
                    disagreements += 1
        result.statuses = statuses
        result.allowed = statuses[200]
        result.retry_after_disagreements = disagreements
        result.message = bodies[0]["message"] if bodies else ""
        result.notes.append(f"{statuses[200]} of {4 * limit} allowed; Retry-After and retry_after disagree in "
                            f"{disagreements}")
    finally:
        server.stop()
    return result


def demo_store(folder):
    """Return the path of a SQLite file holding DATASET/, made once per folder and copied for each scenario."""
    master = Path(folder) / "demo.db"
    if not master.exists():
        import_demo(f"sqlite:///{master}")
        connection = sqlite3.connect(master)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
    return master
