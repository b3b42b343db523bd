"""Requests/s of JSON API routes as a share of GET /healthz, measured as a user's load test would.

    python benchmarks/api_ratio.py [--runs 5] [--seconds 8] [--clients 4] [--route PATH ...]

gunicorn -w 2 on a loopback port; each route is loaded by --clients separate processes, each holding one plain
http.client keep-alive connection and sending requests back to back for --seconds. Every run measures /healthz
and each route in turn on the same server, so each ratio compares figures taken minutes apart at most; the
median of --runs runs is printed next to every run. Loopback only; bounded in time; gunicorn is stopped at
the end. Rate limits are off (one client address sends thousands of requests).
"""

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import Gunicorn  # noqa: E402

PREDICT_BODY = json.dumps({"price": 40859.46, "1h": 0.022, "24h_volume": 35000000000, "mkt_cap": 770000000000})
ROUTES = {
    "/healthz": ("GET", None),
    "/api/v1/predict": ("POST", PREDICT_BODY),
}


def client(port, method, path, body, seconds, results):
    """Send requests on one keep-alive connection for seconds; put (ok, failed) on results."""
    headers = {"Content-Type": "application/json"} if body else {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = failed = 0
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                ok += 1
            else:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
            connection.close()
    connection.close()
    results.put((ok, failed))


def requests_per_second(port, path, clients, seconds):
    """Return (requests/s, failures) of path under clients client processes for seconds."""
    method, body = ROUTES.get(path, ("GET", None))
    results = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=client, args=(port, method, path, body, seconds, results))
                 for _ in range(clients)]
    for process in processes:
        process.start()
    counts = [results.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    return sum(ok for ok, _ in counts) / seconds, sum(failed for _, failed in counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--route", action="append", default=None,
                        help="GET path or /api/v1/predict, compared with /healthz (repeatable; default the predict API)")
    args = parser.parse_args(argv)
    routes = args.route or ["/api/v1/predict"]
    # A store of its own from the committed demo slice (the coin routes need data; every forecast is logged there).
    folder = tempfile.TemporaryDirectory(prefix="api-ratio-store-")
    store_url = f"sqlite:///{folder.name}/market.db"
    subprocess.run([sys.executable, "-m", "liquidity", "import", str(ROOT / "DATASET")], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": store_url}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Gunicorn(workers=2, extra_env={"DATABASE_URL": store_url})
    if server.ready_seconds is None:
        print(f"gunicorn did not start:\n{server.log_tail()}")
        server.stop()
        return 1
    ratios = {route: [] for route in routes}
    try:
        requests_per_second(server.port, "/healthz", args.clients, 1.0)  # warm both workers
        for route in routes:
            requests_per_second(server.port, route, args.clients, 1.0)
        for run in range(1, args.runs + 1):
            health, _ = requests_per_second(server.port, "/healthz", args.clients, args.seconds)
            for route in routes:
                rate, failed = requests_per_second(server.port, route, args.clients, args.seconds)
                ratios[route].append(rate / health)
                print(f"run {run}: {route} {rate:,.0f} req/s ({failed} failed), /healthz {health:,.0f} req/s"
                      f" -> {rate / health:.0%}", flush=True)
    finally:
        server.stop()
        folder.cleanup()
    for route, values in ratios.items():
        median = statistics.median(values)
        print(f"{route}: median {median:.0%} of /healthz over {len(values)} runs"
              f" ({', '.join(f'{value:.0%}' for value in values)}); goal >= 70 %: {'met' if median >= 0.7 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
