"""Requests/s of the JSON API as a share of GET /healthz, measured as a user's load test would (issue 14).

    python benchmarks/api_ratio.py [--runs 5] [--seconds 8] [--clients 4] [--route PATH ...]

gunicorn -w 2 (gunicorn.conf.py applies) on a loopback port, on a store of its own filled from the committed demo
slice, every forecast logged. Each route is loaded by --clients separate processes, each holding one plain
http.client keep-alive connection (it reconnects when gunicorn's sync worker closes it) and sending requests back
to back. Every run measures each route against /healthz in alternating slices of --seconds/2, /healthz then the
route then the route then /healthz (ABBA), and divides the route's requests by /healthz's: a shared machine's speed
drifts by tens of percent over a minute, and slices taken alternately, seconds apart, see the same drift on both
sides. Each run's ratio, p50 and p99 are printed, then the median of the runs. The default routes are POST
/api/v1/predict, the coin API (the list, the movers list sorted by forecast change, the largest coin's history and
its forecast), the movers page (/coins?sort=change) and a conditional GET of the list: "304 /api/v1/coins" sends
the list's current ETag in If-None-Match and counts the 304s (goal >= 90 % of /healthz; the other routes >= 70 %).
Loopback only; bounded in time; gunicorn is stopped at the end. Rate limits are off (one address sends thousands).
"""

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import Gunicorn  # noqa: E402

PREDICT_BODY = json.dumps({"price": 40859.46, "1h": 0.022, "24h_volume": 35000000000, "mkt_cap": 770000000000})
GOAL = 0.7
NOT_MODIFIED_GOAL = 0.9  # a 304 skips the view: it should cost little more than /healthz


def client(port, method, path, body, seconds, results, headers=None, expected=200):
    """Send requests on one keep-alive connection for seconds; put (latencies of the answers with the expected
    status, failures) on results."""
    headers = {"Content-Type": "application/json"} if body else dict(headers or {})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, failed = [], 0
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            failed += 1
            connection.close()
            continue
        if response.status == expected:
            latencies.append(time.perf_counter() - started)
        else:
            failed += 1
    connection.close()
    results.put((latencies, failed))


def current_etag(port, path):
    """Return the ETag of path's answer now."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.getheader("ETag")


def load(port, route, clients, seconds):
    """Return (requests/s, latencies in s, failures) of route ("METHOD path", or "304 path": a GET with the path's
    current ETag, expecting 304) under clients processes."""
    method, path = route.split(" ", 1)
    body = PREDICT_BODY if method == "POST" else None
    headers, expected = {}, 200
    if method == "304":
        method, headers, expected = "GET", {"If-None-Match": current_etag(port, path)}, 304
    results = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=client, args=(port, method, path, body, seconds, results, headers,
                                                              expected))
                 for _ in range(clients)]
    for process in processes:
        process.start()
    answers = [results.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    latencies = np.concatenate([np.array(times) for times, _ in answers])
    return len(latencies) / seconds, latencies, sum(failed for _, failed in answers)


def paired(port, route, clients, seconds):
    """Return (route's requests/s, /healthz's requests/s, the route's latencies, the route's failures), measured in
    ABBA slices of seconds / 2: /healthz, route, route, /healthz."""
    slice_seconds = seconds / 2
    counts = {"health": 0, "route": 0}
    latencies, failed = [], 0
    for side in ("health", "route", "route", "health"):
        _, times, failures = load(port, "GET /healthz" if side == "health" else route, clients, slice_seconds)
        counts[side] += len(times)
        if side == "route":
            latencies.append(times)
            failed += failures
    return counts["route"] / seconds, counts["health"] / seconds, np.concatenate(latencies), failed


def default_routes(port):
    """Return the predict API, the movers list (API and page) and the coin API on the largest coin of the store's
    latest snapshot."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/api/v1/coins?per_page=1")
    coin_id = json.loads(connection.getresponse().read())["coins"][0]["coin_id"]
    connection.close()
    coin = quote(coin_id, safe="")
    return ["POST /api/v1/predict", "GET /api/v1/coins", "GET /api/v1/coins?sort=change", "GET /coins?sort=change",
            f"GET /api/v1/coins/{coin}", f"GET /api/v1/coins/{coin}/forecast", "304 /api/v1/coins"]


@contextlib.contextmanager
def demo_server(workers=2):
    """Yield gunicorn (bench.Gunicorn) serving a fresh SQLite store of the committed demo slice, or None if it
    did not start; stop it and delete the store afterwards."""
    with tempfile.TemporaryDirectory(prefix="api-ratio-store-") as folder:
        store_url = f"sqlite:///{folder}/market.db"
        subprocess.run([sys.executable, "-m", "liquidity", "import", str(ROOT / "DATASET")], cwd=ROOT, check=True,
                       env={**os.environ, "DATABASE_URL": store_url}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        server = Gunicorn(workers=workers, extra_env={"DATABASE_URL": store_url})
        try:
            if server.ready_seconds is None:
                print(f"gunicorn did not start:\n{server.log_tail()}")
                yield None
            else:
                yield server
        finally:
            server.stop()


def ms(times, q):
    return float(np.percentile(times, q) * 1000) if len(times) else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--route", action="append", default=None,
                        help="'GET /path', '304 /path' (a conditional GET with its ETag) or 'POST /api/v1/predict', "
                             "compared with /healthz (repeatable; default the predict API, the coin API and a 304 "
                             "of the list)")
    args = parser.parse_args(argv)
    with demo_server() as server:
        if server is None:
            return 1
        routes = [r if " " in r else f"GET {r}" for r in args.route] if args.route else default_routes(server.port)
        print(f"gunicorn -w 2 on 127.0.0.1, {args.clients} client processes with one http.client keep-alive"
              f" connection each, {args.seconds:g} s per route and as much of /healthz around it (ABBA slices of"
              f" {args.seconds / 2:g} s), {args.runs} runs; demo-slice store, log on", flush=True)
        ratios = {route: [] for route in routes}
        for route in ["GET /healthz", *routes]:  # warm both workers: imports, the fast path, the store's window
            load(server.port, route, args.clients, 1.0)
        for run in range(1, args.runs + 1):
            for route in routes:
                rate, health, times, failed = paired(server.port, route, args.clients, args.seconds)
                ratios[route].append(rate / health)
                print(f"run {run}: {route} {rate:,.0f} req/s ({failed} failed), p50 {ms(times, 50):.2f} ms,"
                      f" p99 {ms(times, 99):.2f} ms; /healthz {health:,.0f} req/s in the slices around it"
                      f" -> {rate / health:.0%} of /healthz", flush=True)
    for route, values in ratios.items():
        median = statistics.median(values)
        goal = NOT_MODIFIED_GOAL if route.startswith("304 ") else GOAL
        print(f"{route}: median {median:.0%} of /healthz over {len(values)} runs"
              f" ({', '.join(f'{value:.0%}' for value in values)}); goal >= {goal:.0%}:"
              f" {'met' if median >= goal else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
