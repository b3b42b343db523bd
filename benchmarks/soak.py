"""Soak test: gunicorn on loopback, concurrent clients on the JSON API and the form, for a bounded time.

Run: make soak   (or: .venv/bin/python benchmarks/soak.py --seconds 60 --clients 16 --workers 2)

Starts `gunicorn -c gunicorn.conf.py app:app` on a free 127.0.0.1 port with LIQUIDITY_ENV=production and a random
SECRET_KEY, on a fresh SQLite market store filled from DATASET/ (the demo slice), with the prediction log on
(--no-log turns it off, for comparison). Waits for /healthz, warms up, then runs the clients, a third each:
POST /api/v1/predict; GET / and POST /predict with the form's CSRF token and session cookie; a coin page
(GET /coins/<coin_id>) and the coin forecast API. Every one of those answers writes a log row, so several workers
write the same SQLite file at once. Reports requests, errors (non-2xx or exceptions), req/s, p50/p99/max latency per
request kind, each worker's RSS at start and end, the log rows written against the answers that should have written
one, and any "database is locked" or failed log write in gunicorn's log. Worker recycling (max_requests) is turned
off so a leak would show. Stops gunicorn itself. Exit status 1 on any error, missing log row, locked database or
RSS growth above --max-growth, 0 otherwise. Never leaves loopback.
"""

import argparse
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
HOST = "127.0.0.1"


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=30):
    """Send one request on a new connection (gunicorn's sync workers close each one); return status, headers, body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def worker_pids(master):
    """Return the pids of gunicorn's workers: the master's children, read from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(int(entry.name))
    return sorted(children)


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def coin():
    """Return plausible inputs, different each call so no cache hides the work."""
    mkt_cap = 10 ** random.uniform(7, 12)
    return {"price": 10 ** random.uniform(-4, 4.5), "1h": random.uniform(-0.03, 0.05),
            "24h_volume": mkt_cap * 10 ** random.uniform(-4, 0), "mkt_cap": mkt_cap}


# Answers that write one prediction log row each when they succeed.
LOGGING_KINDS = {"POST /api/v1/predict", "GET /predict?...", "GET /coins/<id>", "GET /api/v1/coins/<id>/forecast"}


class Recorder:
    """Thread-safe latencies and failures per request kind, and the log rows the answers should have written."""

    logged = 0  # shared by every recorder of a run (warm-up included): the log is counted once at the end
    logged_lock = threading.Lock()

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = defaultdict(list)
        self.errors = defaultdict(list)

    def record(self, kind, started, status=None, error=None, expected=range(200, 300)):
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[kind].append(elapsed)
            if error is not None or status not in expected:
                self.errors[kind].append(error or f"HTTP {status}")
            elif kind in LOGGING_KINDS:
                with Recorder.logged_lock:
                    Recorder.logged += 1


def api_client(port, deadline, recorder):
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            status, _, body = request(port, "POST", "/api/v1/predict", json.dumps(coin()),
                                      {"Content-Type": "application/json"})
            if status == 200 and not 0 <= json.loads(body)["prediction"]["score"] <= 1:
                raise ValueError("score outside 0..1")
            recorder.record("POST /api/v1/predict", started, status)
        except Exception as error:  # a failed request is a result to count, not a reason to stop
            recorder.record("POST /api/v1/predict", started, error=f"{error.__class__.__name__}: {error}")


def form_client(port, deadline, recorder):
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            status, headers, body = request(port, "GET", "/")
            recorder.record("GET /", started, status)
            token = CSRF_FIELD.search(body.decode()).group(1)
            cookie = "; ".join(value.split(";", 1)[0] for name, value in headers if name.lower() == "set-cookie")
        except Exception as error:
            recorder.record("GET /", started, error=f"{error.__class__.__name__}: {error}")
            continue
        values = coin()
        form = {"csrf_token": token, "volume": f"{values['24h_volume']:.2f}", "mkt_cap": f"{values['mkt_cap']:.2f}",
                "h1": f"{values['1h'] * 100:.3f}", "price": f"{values['price']:.6g}"}
        started = time.perf_counter()
        try:
            status, headers, _ = request(port, "POST", "/predict", urllib.parse.urlencode(form),
                                         {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
            recorder.record("POST /predict", started, status, expected=(303,))  # a redirect to the result URL
            location = next(value for name, value in headers if name.lower() == "location")
        except Exception as error:
            recorder.record("POST /predict", started, error=f"{error.__class__.__name__}: {error}")
            continue
        started = time.perf_counter()
        try:
            status, _, body = request(port, "GET", location)
            if status == 200 and b'<output id="score">' not in body:
                raise ValueError("no score on the result page")
            recorder.record("GET /predict?...", started, status)
        except Exception as error:
            recorder.record("GET /predict?...", started, error=f"{error.__class__.__name__}: {error}")


COIN_IDS = []  # filled from /api/v1/coins before the clients start


def coin_client(port, deadline, recorder):
    while time.monotonic() < deadline:
        coin_id = urllib.parse.quote(random.choice(COIN_IDS), safe="")
        for kind, path in (("GET /coins/<id>", f"/coins/{coin_id}?days=30"),
                           ("GET /api/v1/coins/<id>/forecast", f"/api/v1/coins/{coin_id}/forecast")):
            started = time.perf_counter()
            try:
                status, _, body = request(port, "GET", path)
                if status == 200 and kind.startswith("GET /coins") and b'id="forecast-score"' not in body:
                    raise ValueError("no forecast on the coin page")
                recorder.record(kind, started, status)
            except Exception as error:
                recorder.record(kind, started, error=f"{error.__class__.__name__}: {error}")


def prepare_store(folder):
    """Return the URL of a fresh SQLite store in folder holding DATASET/ (the demo slice)."""
    url = f"sqlite:///{folder}/market.db"
    subprocess.run([sys.executable, "-m", "liquidity", "import", str(ROOT / "DATASET")], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.DEVNULL)
    return url


def log_rows(url):
    """Return the number of rows in the store's prediction log."""
    import sqlite3

    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return connection.execute("SELECT COUNT(*) FROM prediction_log").fetchone()[0]
    finally:
        connection.close()


def wait_for_health(port, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode} before answering /healthz")
        try:
            if request(port, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"/healthz did not answer 200 within {seconds} s")


def wait_for_workers(master, count, seconds=30):
    """Return the worker pids once all count have booted (the first can answer /healthz before the last forks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        workers = worker_pids(master)
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    raise SystemExit(f"only {len(worker_pids(master))} of {count} workers booted within {seconds} s")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_clients(port, clients, seconds, recorder):
    deadline = time.monotonic() + seconds
    kinds = (api_client, form_client, coin_client)
    threads = [threading.Thread(target=kinds[i % 3], args=(port, deadline, recorder), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)


def main(argv=None):
    """Run the soak test and print the figures; return 1 on any error or memory growth."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured run (default 60)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, half API, half form")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before start RSS is read")
    parser.add_argument("--max-growth", type=float, default=0.20, help="largest allowed RSS growth per worker")
    parser.add_argument("--no-log", dest="log", action="store_false", help="turn the prediction log off")
    args = parser.parse_args(argv)

    port = free_port()
    store_folder = tempfile.TemporaryDirectory(prefix="soak-store-")
    store_url = prepare_store(store_folder.name)
    environ = {**os.environ, "LIQUIDITY_ENV": "production", "SECRET_KEY": secrets.token_hex(32),
               "DATABASE_URL": store_url, "LIQUIDITY_PREDICTION_LOG": "true" if args.log else "false",
               "WEB_CONCURRENCY": str(args.workers), "GUNICORN_BIND": f"{HOST}:{port}", "LIQUIDITY_LOG_LEVEL": "INFO",
               # 16 clients on one address would meet the per-client rate limits: the soak measures the app.
               "LIQUIDITY_RATELIMIT_ENABLED": "false",
               # The demo slice is years old: /healthz must say ok, its age is not what the soak measures.
               "LIQUIDITY_DEGRADED_DAYS": "36500"}
    environ.pop("FLASK_DEBUG", None)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = tempfile.NamedTemporaryFile(prefix="soak-gunicorn-", suffix=".log", delete=False)
    command = [str(gunicorn), "-c", "gunicorn.conf.py", "--max-requests", "0", "app:app"]
    print(f"starting: {' '.join(command)} on {HOST}:{port} (log: {log.name})")
    process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        wait_for_health(port, process)
        workers = wait_for_workers(process.pid, args.workers)
        listing = json.loads(request(port, "GET", "/api/v1/coins?per_page=500")[2])
        COIN_IDS.extend(coin["coin_id"] for coin in listing["coins"])
        cold = {pid: rss_mb(pid) for pid in workers}
        run_clients(port, args.clients, args.warmup, Recorder())
        start = {pid: rss_mb(pid) for pid in workers}
        recorder = Recorder()
        began = time.perf_counter()
        run_clients(port, args.clients, args.seconds, recorder)
        elapsed = time.perf_counter() - began
        end = {pid: rss_mb(pid) if Path(f"/proc/{pid}").exists() else float("nan") for pid in workers}
        workers_after = worker_pids(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    written = log_rows(store_url)
    store_folder.cleanup()
    log_text = Path(log.name).read_text(errors="replace")
    locked = log_text.count("database is locked")
    failed_writes = log_text.count("prediction log:")

    total = sum(len(v) for v in recorder.latencies.values())
    errors = sum(len(v) for v in recorder.errors.values())
    print(f"\n{args.clients} clients (a third each: API, form, coin page + coin API), {args.workers} workers, "
          f"{elapsed:.1f} s, {os.cpu_count()} cores, {len(COIN_IDS)} stored coins, prediction log "
          f"{'on' if args.log else 'off'}")
    print(f"{'request':<24}{'count':>8}{'errors':>8}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for kind in sorted(recorder.latencies):
        values = recorder.latencies[kind]
        print(f"{kind:<24}{len(values):>8}{len(recorder.errors[kind]):>8}{len(values) / elapsed:>8.1f}"
              f"{statistics.median(values) * 1000:>9.1f}{percentile(values, 0.99) * 1000:>9.1f}"
              f"{max(values) * 1000:>9.1f}")
    print(f"{'all':<24}{total:>8}{errors:>8}{total / elapsed:>8.1f}")
    for kind, messages in recorder.errors.items():
        for message in sorted(set(messages))[:5]:
            print(f"  error on {kind}: {message} (x{messages.count(message)})")
    growth_ok = True
    print(f"\n{'worker pid':<12}{'cold MB':>9}{'start MB':>10}{'end MB':>9}{'growth':>9}")
    for pid in workers:
        growth = end[pid] / start[pid] - 1
        growth_ok &= growth <= args.max_growth  # NaN (worker gone) fails too
        print(f"{pid:<12}{cold[pid]:>9.1f}{start[pid]:>10.1f}{end[pid]:>9.1f}{growth:>+9.1%}")
    if workers_after != workers:
        print(f"workers changed during the run: {workers} -> {workers_after}")
        growth_ok = False
    expected_rows = Recorder.logged if args.log else 0
    print(f"\nprediction log (SQLite, WAL): {written} row(s) written, {expected_rows} expected (warm-up included); "
          f"'database is locked' in gunicorn's log: {locked}; failed log writes: {failed_writes}")
    log_ok = written == expected_rows and locked == 0 and failed_writes == 0
    ok = errors == 0 and total > 0 and growth_ok and log_ok
    print("\nPASS" if ok else "\nFAIL", f"(errors: {errors}, log rows missing: {expected_rows - written}, locked: "
          f"{locked}, RSS growth limit {args.max_growth:.0%})")
    if ok:
        Path(log.name).unlink()
    else:
        print(f"gunicorn's log: {log.name}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
