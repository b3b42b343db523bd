"""Latency across a store change (issue 18): does any request wait while the workers take in a new snapshot?

    python benchmarks/store_change.py [--coins 10000] [--seconds 45] [--rate 25] [--check]

Builds a synthetic SQLite market store in a temporary folder, --coins coins a day over LONGEST_LAG + 2 days
(log-normal market caps and turnover, written with MarketStore.add_snapshots), holding the last day back. Starts
`gunicorn -c gunicorn.conf.py app:app` with 2 workers on a free loopback port (LIQUIDITY_ENV=production, the
prediction log on, LIQUIDITY_STORE_CHECK_SECONDS=1, rate limits and worker recycling off) and loads it with one
client process per route, each on a plain http.client keep-alive connection (it reconnects when gunicorn's sync
worker closes it): GET /api/v1/coins, GET /api/v1/coins/<random id>/forecast, GET /coins, and GET /healthz as the
baseline measured in the same run. After a warm-up and a third of --seconds, a separate process imports the
held-back day into the store while the load runs.

Each client sends --rate requests a second on a fixed schedule and times every request from the moment it was due.
A request due while the client still waits for an answer cannot be sent; it is counted ("unsent") with the latency
it would have had, answered when the outstanding one was, and the schedule resumes without a burst of catching up.
So a worker that stalls for 3 s shows in the p99 as the users arriving in those 3 s would feel it, not as one slow
sample among thousands (a back-to-back client would hide it). The service time of the requests sent is shown too.
A request belongs to the phase in which it was due.

Prints p50/p99/max latency per route in four phases: start-up (the warm-up, each worker's first requests),
before the change, during it (from the import process's start until --settle seconds after every answer of
/api/v1/coins carries the new date) and after; the time until the new date is first served and served by every
worker; errors by status; each worker's RSS (and peak RSS) when cold, before and after the change. The goal line
is p99 < 100 ms on every store route during the change. Exit status 0 once measured (1 with --check when the goal
is missed), 2 when the benchmark could not run. Loopback only; bounded in time; gunicorn is stopped at the end.
"""

import argparse
import http.client
import inspect
import json
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liquidity.features import LONGEST_LAG  # noqa: E402

HOST = "127.0.0.1"
GOAL_MS = 100.0
FIRST_DAY = np.datetime64("2024-01-01")
STORE_ROUTES = ("GET /api/v1/coins", "GET /api/v1/coins/<id>/forecast", "GET /coins")
BASELINE_ROUTE = "GET /healthz"
PHASES = ("start-up", "before", "during", "after")


# ---------------------------------------------------------------- the synthetic store


def synthetic_days(coins, days, seed=0):
    """Return `days` daily snapshots of `coins` coins in the loader's columns (scores are the store's to compute)."""
    rng = np.random.default_rng(seed)
    dates = np.arange(FIRST_DAY, FIRST_DAY + days).astype(str)
    # Log-normal market caps and turnover like the real market: a few giants, a long tail of small coins.
    mkt_cap = np.exp(rng.normal(np.log(3e7), 2.2, coins)).clip(1e5, 2e12)
    drift = np.exp(np.cumsum(rng.normal(0, 0.03, (days, coins)), axis=0))
    turnover = np.exp(rng.normal(-3.2, 1.3, coins) + rng.normal(0, 0.5, (days, coins)))
    price = np.exp(rng.normal(0, 3, coins)) * drift
    caps = mkt_cap * drift
    numbers = np.arange(coins)
    return pd.DataFrame({
        "date": np.repeat(dates, coins),
        "coin_id": np.tile(np.char.add("coin-", np.char.zfill(numbers.astype(str), 5)), days),
        "coin": np.tile(np.char.add("Coin ", numbers.astype(str)), days),
        "symbol": np.tile(np.char.add("C", numbers.astype(str)), days),
        "price": price.ravel(), "volume": (caps * turnover).ravel(), "mkt_cap": caps.ravel(),
        "1h": np.nan,  # the daily history has no 1h change either
        "24h": rng.normal(0, 0.05, coins * days), "7d": rng.normal(0, 0.12, coins * days),
        "source": "store_change benchmark"})


def open_store(url):
    """Open the market store at url, migrating it (the keyword is `upgrade` today and may become `migrate`)."""
    from liquidity.store import MarketStore

    accepted = inspect.signature(MarketStore).parameters
    keyword = next((name for name in ("migrate", "upgrade") if name in accepted), None)
    return MarketStore(url, **({keyword: True} if keyword else {}))


def write_day(frame_path, url):
    """Add the pickled frame to the store at url; print when the process started, wrote and finished, as JSON."""
    spawned = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on Linux
    frame = pd.read_pickle(frame_path)
    store = open_store(url)
    try:
        writing = time.monotonic()
        result = store.add_snapshots(frame)
        written = time.monotonic()
    finally:
        store.close()
    print(json.dumps({"spawned": spawned, "writing": writing, "written": written, "added": result.added}))


# ---------------------------------------------------------------- gunicorn and its workers


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def get(port, path, timeout=10):
    """Send one GET on a new connection; return (status, body bytes)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for_health(port, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"gunicorn exited with status {process.returncode} before answering /healthz"
        try:
            if get(port, "/healthz", timeout=2)[0] == 200:
                return None
        except OSError:
            pass
        time.sleep(0.1)
    return f"/healthz did not answer 200 within {seconds} s"


def worker_pids(master):
    """Return the pids of gunicorn's workers: the master's children."""
    try:
        import psutil

        return sorted(child.pid for child in psutil.Process(master).children())
    except ImportError:
        pass
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    children.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(children)


def wait_for_workers(master, count, seconds=30):
    """Return the worker pids once all have forked (the first can answer /healthz before the last forks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        workers = worker_pids(master)
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    return worker_pids(master)


def memory_mb(pid):
    """Return (RSS, peak RSS) of pid in MB: psutil for the RSS if installed, /proc for the peak (VmHWM); NaN if gone."""
    rss = peak = float("nan")
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    try:
        import psutil

        rss = psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        pass
    except psutil.Error:
        rss = float("nan")
    return rss, peak


# ---------------------------------------------------------------- load


def client(port, route, rate, coin_ids, seed, stop, first_new_at, dates, results):
    """Send GETs of route on one keep-alive connection on a fixed schedule of rate a second until stop is set.

    Puts one row per request on results: due, sent (NaN for a request that was due while the client waited, so
    never sent) and done times (monotonic), status (0 for an exception) and, for /api/v1/coins, whether the
    answer's date was the new one (1), the old one (0) or neither (-1); dates is (old date, new date).
    """
    rng = np.random.default_rng(seed)
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    rows, failures = [], Counter()
    interval = 1.0 / rate
    due = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        path = route.split(" ", 1)[1]
        if "<id>" in path:
            path = path.replace("<id>", coin_ids[rng.integers(len(coin_ids))])
        sent = time.monotonic()
        status, fresh = 0, -1
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            status = response.status
            if route == "GET /api/v1/coins" and status == 200:
                fresh = {dates[0]: 0, dates[1]: 1}.get(json.loads(body)["date"], -1)
                if fresh == 1 and first_new_at.value == 0:
                    first_new_at.value = time.monotonic()
        except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
            failures[f"{error.__class__.__name__}: {error}"[:120]] += 1
            connection.close()  # http.client reconnects on the next request
        done = time.monotonic()
        rows.append((due, sent, done, status, fresh))
        due += interval
        # Users arriving while this request was outstanding would have waited until it was answered.
        while due < done:
            rows.append((due, np.nan, done, status, -1))
            due += interval
    connection.close()
    results.put((route, np.array(rows, dtype=np.float64).reshape(-1, 5), dict(failures)))


def start_load(port, routes, rate, coin_ids, dates):
    """Start one client process per route; return (processes, stop event, first-new-date time, results queue)."""
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    stop, first_new_at, results = context.Event(), context.Value("d", 0.0), context.Queue()
    processes = [context.Process(target=client, args=(port, route, rate, coin_ids, seed, stop, first_new_at, dates,
                                                      results), daemon=True)
                 for seed, route in enumerate(routes)]
    for process in processes:
        process.start()
    return processes, stop, first_new_at, results


def stop_load(processes, stop, results):
    """Stop the clients; return {route: (rows, failures)}."""
    stop.set()
    answers = {}
    for _ in processes:
        route, rows, failures = results.get(timeout=90)
        answers[route] = (rows, failures)
    for process in processes:
        process.join(timeout=10)
    return answers


# ---------------------------------------------------------------- figures


def phase_of(due, bounds):
    """Return the index into PHASES of each due time, given the phase boundaries (start, before, during, after,
    end)."""
    return np.searchsorted(np.asarray(bounds[1:4]), due, side="right")


def figures(latencies):
    """Return (count, p50, p99, max) in ms of latencies in seconds, NaNs when there are none."""
    if not len(latencies):
        return 0, float("nan"), float("nan"), float("nan")
    ms = latencies * 1000
    return len(ms), float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


def print_table(answers, bounds):
    """Print latency figures per route and phase; return {(route, phase): p99 ms from the due time}."""
    print(f"\n{'route':<34}{'phase':<10}{'sent':>7}{'unsent':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'service p99':>13}{'service max':>13}")
    p99s = {}
    for route in (*STORE_ROUTES, BASELINE_ROUTE):
        if route not in answers:
            continue
        rows, _ = answers[route]
        phases = phase_of(rows[:, 0], bounds)
        for index, phase in enumerate(PHASES):
            chosen = rows[phases == index]
            sent = chosen[~np.isnan(chosen[:, 1])]
            count, p50, p99, most = figures(chosen[:, 2] - chosen[:, 0])
            _, _, service_p99, service_max = figures(sent[:, 2] - sent[:, 1])
            p99s[route, phase] = p99
            print(f"{route:<34}{phase:<10}{len(sent):>7}{count - len(sent):>7}{p50:>9.1f}{p99:>9.1f}{most:>9.1f}"
                  f"{service_p99:>13.1f}{service_max:>13.1f}")
    return p99s


def print_errors(answers):
    """Print non-200 answers by status and failed requests by reason, per route; return how many there were."""
    total = 0
    for route, (rows, failures) in answers.items():
        sent = rows[~np.isnan(rows[:, 1])]
        statuses = Counter(int(status) for status in sent[:, 3] if status not in (0, 200))
        for status, count in sorted(statuses.items()):
            print(f"  {route}: HTTP {status} x{count}")
        for reason, count in failures.items():
            print(f"  {route}: {reason} x{count}")
        total += sum(statuses.values()) + sum(failures.values())
    if not total:
        print("  none")
    return total


def print_memory(samples):
    """Print each worker's RSS and peak RSS at each sample (label -> {pid: (rss, peak)})."""
    labels = list(samples)
    pids = sorted({pid for sample in samples.values() for pid in sample})
    print(f"{'worker pid':<12}" + "".join(f"{label + ' MB':>16}" for label in labels) + f"{'peak MB':>10}")
    for pid in pids:
        values = [samples[label].get(pid, (float("nan"), float("nan"))) for label in labels]
        print(f"{pid:<12}" + "".join(f"{rss:>16.1f}" for rss, _ in values) + f"{values[-1][1]:>10.1f}")


# ---------------------------------------------------------------- the run


def build_store(folder, coins, days, seed):
    """Write all but the last of `days` synthetic days into a SQLite store in folder; pickle the last day.

    Return (store URL, pickled day's path, coin ids, stored latest date, held-back date, rows written, seconds).
    """
    frame = synthetic_days(coins, days, seed)
    held_date = frame["date"].iloc[-1]
    held = frame["date"] == held_date
    url = f"sqlite:///{folder}/market.db"
    day_path = Path(folder) / "held-back-day.pkl"
    frame[held].reset_index(drop=True).to_pickle(day_path)
    started = time.perf_counter()
    store = open_store(url)
    try:
        store.add_snapshots(frame[~held])
        latest = store.latest_date()
    finally:
        store.close()
    coin_ids = sorted(frame.loc[held, "coin_id"].unique())
    return url, day_path, coin_ids, latest, held_date, int((~held).sum()), time.perf_counter() - started


def start_gunicorn(port, url, workers, log):
    environ = {**os.environ, "LIQUIDITY_ENV": "production", "SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": url,
               "LIQUIDITY_PREDICTION_LOG": "true", "LIQUIDITY_STORE_CHECK_SECONDS": "1",
               "WEB_CONCURRENCY": str(workers), "GUNICORN_BIND": f"{HOST}:{port}",
               # One client address sends thousands of requests: the rate limits would answer most of them with 429.
               "LIQUIDITY_RATELIMIT_ENABLED": "false",
               # The generated days start in 2024: their age must not turn /healthz degraded (503).
               "LIQUIDITY_DEGRADED_DAYS": "36500"}
    environ.pop("FLASK_DEBUG", None)
    # No recycling: a worker replaced mid-run would start cold and its memory would not be comparable.
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--max-requests", "0", "app:app"]
    print(f"starting: gunicorn -c gunicorn.conf.py --max-requests 0 app:app, {workers} workers on {HOST}:{port}"
          f" (log: {log.name})", flush=True)
    return subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_gunicorn(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # our own process group: the master and its workers
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def measure(args, server, port, url, day_path, coin_ids, old_date, new_date):
    """Run the load across the import; return (answers, phase bounds, import times, served times, memory samples)."""
    workers = wait_for_workers(server.pid, args.workers)
    memory = {"cold": {pid: memory_mb(pid) for pid in workers}}
    routes = (*STORE_ROUTES, BASELINE_ROUTE)
    processes, stop, first_new_at, results = start_load(port, routes, args.rate, coin_ids, (old_date, new_date))
    started = time.monotonic()
    try:
        time.sleep(args.warmup)
        warm = time.monotonic()
        memory["before"] = {pid: memory_mb(pid) for pid in workers}
        time.sleep(args.seconds / 3)
        print(f"importing {new_date} ({len(coin_ids):,} rows) from a separate process while the load runs", flush=True)
        importer = subprocess.Popen([sys.executable, __file__, "--write-day", str(day_path), "--store", url],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        spawned = time.monotonic()
        deadline = spawned + args.max_wait
        try:
            output, errors = importer.communicate(timeout=args.max_wait)
        except subprocess.TimeoutExpired:
            importer.kill()
            importer.communicate()
            raise RuntimeError(f"the import did not finish within {args.max_wait:g} s") from None
        while first_new_at.value == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        if importer.returncode:
            raise RuntimeError(f"the import failed: {errors.strip().splitlines()[-1] if errors.strip() else '?'}")
        imported = json.loads(output.strip().splitlines()[-1])
        # Every worker should have the new date within a store check or two of the first: keep loading long enough
        # to see the last old-date answer, the settle time after it and the after phase.
        ending = started + args.warmup + args.seconds
        if first_new_at.value:
            ending = max(ending, first_new_at.value + 2 + args.settle + args.seconds / 3)
        while time.monotonic() < ending:
            time.sleep(0.1)
        memory["after"] = {pid: memory_mb(pid) for pid in workers}
    finally:
        answers = stop_load(processes, stop, results)
    finished = time.monotonic()
    workers_after = worker_pids(server.pid)
    if workers_after != workers:
        print(f"workers changed during the run: {workers} -> {workers_after}")

    coins_rows = answers["GET /api/v1/coins"][0]
    new, old = coins_rows[coins_rows[:, 4] == 1], coins_rows[coins_rows[:, 4] == 0]
    first_new = float(new[:, 2].min()) if len(new) else None
    last_old = float(old[:, 2].max()) if len(old) else None
    served_all = max(first_new, last_old) if first_new is not None else None
    during_end = min(finished, served_all + args.settle) if served_all is not None else finished
    bounds = (started, warm, spawned, during_end, finished)
    return answers, bounds, imported, (first_new, served_all), memory


def main(argv=None):
    """Measure latency across a store change and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coins", type=int, default=10_000, help="coins a day in the synthetic store (default 10000)")
    parser.add_argument("--days", type=int, default=LONGEST_LAG + 2,
                        help=f"days in the store, the last one held back (default LONGEST_LAG + 2 = {LONGEST_LAG + 2})")
    parser.add_argument("--seconds", type=float, default=45.0,
                        help="load after the warm-up: a third before the import, the run is extended until a third "
                             "after the change has settled (default 45)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of load before 'before' (default 15)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds the 'during' phase lasts after every worker serves the new date (default 5)")
    parser.add_argument("--rate", type=float, default=25.0, help="requests a second per route (default 25)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--max-wait", type=float, default=90.0,
                        help="longest wait for the new date after the import starts (default 90)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    parser.add_argument("--write-day", help=argparse.SUPPRESS)  # the importing child process
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_day:
        write_day(args.write_day, args.store)
        return 0
    if args.days < 2 or args.coins < 1 or args.rate <= 0:
        parser.error("--days must be at least 2, --coins at least 1 and --rate above 0")

    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load_avg:.2f} before the run (p99s are only comparable on "
          f"a quiet machine)")
    with tempfile.TemporaryDirectory(prefix="store-change-") as folder:
        url, day_path, coin_ids, old_date, new_date, rows, took = build_store(folder, args.coins, args.days, args.seed)
        print(f"store: SQLite, {rows:,} rows ({args.coins:,} coins x {args.days - 1} days up to {old_date}) written"
              f" in {took:.1f} s; {new_date} held back", flush=True)
        port = free_port()
        log = tempfile.NamedTemporaryFile(prefix="store-change-gunicorn-", suffix=".log", delete=False)
        server = start_gunicorn(port, url, args.workers, log)
        try:
            problem = wait_for_health(port, server)
            if problem:
                print(problem)
                print(Path(log.name).read_text(errors="replace")[-3000:])
                return 2
            answers, bounds, imported, served, memory = measure(args, server, port, url, day_path, coin_ids,
                                                                 old_date, new_date)
        finally:
            stop_gunicorn(server)
            log.close()

    started, warm, spawned, during_end, finished = bounds
    first_new, served_all = served
    print(f"\nload: one client process per route, {args.rate:g} requests/s each on a fixed schedule, latency from"
          f" the time each request was due (requests due while the client waited counted as 'unsent', answered with"
          f" the outstanding one); {args.workers} workers, store checked every 1 s, prediction log on")
    print(f"phases (s from the load's start): start-up 0-{warm - started:.1f}, before -{spawned - started:.1f},"
          f" during -{during_end - started:.1f}, after -{finished - started:.1f}")
    print(f"import of {new_date}: process spawned at {spawned - started:.1f} s, writing"
          f" {imported['writing'] - spawned:.1f} s later, {imported['added']:,} rows written in"
          f" {imported['written'] - imported['writing']:.1f} s")
    if first_new is None:
        print(f"new date: NOT served by GET /api/v1/coins within {args.max_wait:g} s of the import's start")
    else:
        print(f"new date served by GET /api/v1/coins: first {first_new - spawned:.1f} s after the import process"
              f" started ({first_new - imported['written']:+.1f} s from the write's end), by every answer after"
              f" {served_all - spawned:.1f} s")
    p99s = print_table(answers, bounds)
    print("\nerrors:")
    failures = print_errors(answers)
    print("\nmemory per worker (RSS when cold, after the warm-up, after the change; peak RSS over the run):")
    print_memory(memory)

    during = {route: p99s.get((route, "during"), float("nan")) for route in STORE_ROUTES}
    met = first_new is not None and all(p99 < GOAL_MS for p99 in during.values())
    print(f"\nbaseline GET /healthz during the change: p99 {p99s.get((BASELINE_ROUTE, 'during'), float('nan')):.1f} ms")
    print(f"goal: p99 < {GOAL_MS:.0f} ms on every store route across the store change at {args.coins:,} coins a day: "
          f"{'PASS' if met else 'FAIL'} ("
          + ", ".join(f"{route} {p99:.1f} ms" for route, p99 in during.items())
          + ("" if first_new is not None else "; the new date was never served") + f"); {failures} error(s)")
    if met and not failures:
        Path(log.name).unlink(missing_ok=True)
    else:
        print(f"gunicorn's log: {log.name}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
