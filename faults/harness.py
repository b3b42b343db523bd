"""What the fault scenarios are built from: gunicorn -w 2 on loopback, client load, and the faults themselves.

A real PostgreSQL of the scenario's own (.ci/postgres), stopped and started with pg_ctl; a real redis-server paused
with SIGSTOP; a SQLite file made read-only for a gunicorn started under `setpriv --bounding-set
-dac_override,-dac_read_search,-fowner`, since root ignores file modes otherwise.
"""

import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Root keeps no file-permission override under this, so a read-only file is read-only to the server too.
UNPRIVILEGED = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
# A request slower than this counts as stalled (status "timeout").
REQUEST_TIMEOUT = 5.0


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def request(port, method, path, body=None, timeout=REQUEST_TIMEOUT):
    """Send one request on a new connection; return (status, headers dict, body bytes)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def inputs():
    """Return plausible inputs for POST /api/v1/predict, different each call."""
    mkt_cap = 10 ** random.uniform(7, 12)
    return {"price": 10 ** random.uniform(-4, 4.5), "1h": random.uniform(-0.03, 0.05),
            "24h_volume": mkt_cap * 10 ** random.uniform(-4, 0), "mkt_cap": mkt_cap}


# --- the market store ----------------------------------------------------------------------------------------------

def import_demo(url):
    """Fill the store at url with DATASET/ (the demo slice)."""
    subprocess.run([sys.executable, "-m", "liquidity", "import", str(ROOT / "DATASET")], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def log_rows(url):
    """Return how many rows the store's prediction log holds."""
    from liquidity.store import parse_database_url

    engine = sa.create_engine(parse_database_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT COUNT(*) FROM prediction_log")).scalar_one()
    finally:
        engine.dispose()


def a_coin(url):
    """Return the coin_id of the largest coin on the latest stored date."""
    from liquidity.store import parse_database_url

    engine = sa.create_engine(parse_database_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT coin_id FROM snapshots WHERE date = (SELECT MAX(date) FROM "
                                              "snapshots) ORDER BY mkt_cap DESC LIMIT 1")).scalar_one()
    finally:
        engine.dispose()


class Postgres:
    """A private PostgreSQL server (.ci/postgres), which a scenario stops and starts with pg_ctl."""

    def __init__(self):
        output = subprocess.run([str(ROOT / ".ci" / "postgres"), "start"], check=True, capture_output=True,
                                text=True).stdout
        values = dict(re.findall(r"export (\w+)=(\S+)", output))
        self.url, self.dir = values["TEST_DATABASE_URL"], Path(values["LIQUIDITY_PG_DIR"])
        self.port = sa.make_url(self.url).port
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]

    def _pg_ctl(self, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-w", *args], check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        self._pg_ctl("-m", "fast", "stop")

    def start(self):
        self._pg_ctl("-l", str(self.dir / "server.log"), "-o", f"-c listen_addresses={HOST} -p {self.port} "
                     f"-k {self.dir} -c fsync=off -c full_page_writes=off", "start")

    def close(self):
        subprocess.run([str(ROOT / ".ci" / "postgres"), "stop", str(self.dir)], check=False)


class Redis:
    """A redis-server of its own on a free loopback port, without persistence."""

    def __init__(self, folder):
        import redis

        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.process = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(self.port),
                                         "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(folder)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.client = redis.Redis.from_url(self.url, socket_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def hits(self):
        """Return the sum of every rate limit counter in Redis."""
        return sum(int(self.client.get(key) or 0) for key in self.client.keys("LIMITS:*")
                   if self.client.type(key) == b"string")

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def close(self):
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        self.process.wait(timeout=10)


# --- the server -------------------------------------------------------------------------------------------------

class Server:
    """gunicorn -c gunicorn.conf.py -w 2 app:app on a free loopback port, optionally without root's file override."""

    def __init__(self, database_url, folder, unprivileged=False, wait_ok=True, **environ):
        self.port = free_port()
        self.log_path = Path(folder) / f"gunicorn-{self.port}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LIQUIDITY_ENV": "production",
               "SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": database_url, "WEB_CONCURRENCY": "2",
               "GUNICORN_BIND": f"{HOST}:{self.port}", "LIQUIDITY_STORE_CHECK_SECONDS": "0.5",
               "LIQUIDITY_RATELIMIT_ENABLED": "false",
               # The demo slice is years old: its age must not turn /healthz degraded under the faults studied.
               "LIQUIDITY_DEGRADED_DAYS": "36500", **environ}
        env.pop("FLASK_DEBUG", None)
        command = [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "app:app"]
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen((UNPRIVILEGED if unprivileged else []) + command, cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_until_answering(ok=wait_ok)
        self.wait_for_workers(2)

    def wait_until_answering(self, ok=True, seconds=90):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}); log: {self.log_path}")
            try:
                status = request(self.port, "GET", "/healthz", timeout=2)[0]
                if status == 200 or (not ok and status in (200, 503)):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"/healthz did not answer within {seconds} s; log: {self.log_path}")

    def workers(self):
        """Return the pids of gunicorn's workers: the master's children (setpriv execs gunicorn in its place)."""
        return self._children(self.process.pid)

    @staticmethod
    def _children(pid):
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
        return sorted(found)

    def wait_for_workers(self, count, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.workers()) >= count:
                return self.workers()
            time.sleep(0.1)
        raise RuntimeError(f"fewer than {count} workers within {seconds} s; log: {self.log_path}")

    def health(self):
        status, _, body = request(self.port, "GET", "/healthz")
        return status, json.loads(body)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def log_text(self):
        return self.log_path.read_text(errors="replace")


# --- load ---------------------------------------------------------------------------------------------------------

@dataclass
class Load:
    """Client threads sending requests in turn until stopped; every answer recorded with its time and latency."""

    port: int
    routes: list  # (label, method, path): POST bodies are fresh inputs; label "predict" answers write a log row
    clients: int = 4
    answers: list = field(default_factory=list)  # (started, label, status, seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: threading.Event = field(default_factory=threading.Event)

    def __enter__(self):
        self.threads = [threading.Thread(target=self._client, args=(offset,), daemon=True)
                        for offset in range(self.clients)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stopped.set()
        for thread in self.threads:
            thread.join(REQUEST_TIMEOUT + 5)

    def _client(self, offset):
        turn = offset
        while not self.stopped.is_set():
            self.send(*self.routes[turn % len(self.routes)])
            turn += 1

    def send(self, label, method, path):
        """Send one request, record its answer, and return its status ("timeout", "refused" when none came)."""
        started = time.monotonic()
        try:
            status = request(self.port, method, path, inputs() if method == "POST" else None)[0]
        except TimeoutError:
            status = "timeout"
        except (OSError, http.client.HTTPException):  # refused, or cut off by a killed worker
            status = "refused"
        with self.lock:
            self.answers.append((started, label, status, time.monotonic() - started))
        return status

    def statuses(self):
        with self.lock:
            return Counter(status for _, _, status, _ in self.answers)

    def logged(self):
        """Return the answers that should each have written one log row (routes labelled "logs", answered 200)."""
        with self.lock:
            return sum(1 for _, label, status, _ in self.answers if label == "logs" and status == 200)

    def all_store_routes_answer(self, coin_id, answered=lambda status: status < 400):
        """Send every store route once (recorded); return True when answered(status) held for each."""
        statuses = [self.send(*route) for route in store_routes(coin_id)]
        return all(isinstance(status, int) and answered(status) for status in statuses)


def store_routes(coin_id):
    """Return the routes the store scenarios load: each store page and API, the monitor, and the predict API; the
    answers labelled "logs" write one prediction log row each."""
    return [("logs", "POST", "/api/v1/predict"), ("store", "GET", "/api/v1/coins"),
            ("store", "GET", f"/api/v1/coins/{coin_id}"), ("logs", "GET", f"/api/v1/coins/{coin_id}/forecast"),
            ("store", "GET", "/coins"), ("logs", "GET", f"/coins/{coin_id}"),
            ("store", "GET", f"/coins/pick?coin={coin_id}"),  # answered with a redirect to the filled form
            ("store", "GET", "/api/v1/monitor"), ("store", "GET", "/monitor"), ("logs", "POST", "/api/v1/predict")]


def wait_until(check, seconds, step=0.1):
    """Return the seconds until check() was true, or None if it never was within seconds."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(step)
    return None


@contextmanager
def scratch(prefix):
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if os.environ.get("FAULTS_KEEP"):  # to read the gunicorn logs afterwards
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
