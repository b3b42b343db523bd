"""Measure the fast path, batch scoring, start-up and the HTTP API, each next to its baseline in the same run.

    python benchmarks/bench.py [--seconds 5] [--rows 100000] [--no-http]

Figures (goals from issue 5 in brackets):
- predict_liquidity, one row, validation and features included, vs model.predict(scaler.transform(row))
  on the same pickles [median <= 0.1 ms and >= 100x faster];
- forecast (score + tree band), one row, vs the same model scoring with scikit-learn;
- predict_frame rows/s on --rows rows vs scikit-learn's vectorised predict [>= 200,000 rows/s];
- forecast from history (issue 11): the whole market's latest snapshot (1,000 coins, 31 days of their rows)
  through forecast_snapshots [< 50 ms], and one coin from its own rows through forecast_history [< 1 ms],
  each next to the same call on scikit-learn; one coin's forecast at every horizon (1, 7, 30 days) with its 80 %
  and 90 % intervals through the read model's window (issue 19) [< 1 ms];
- cold start: import + LiquidityModel.load, with and without the fast path; create_app + first /healthz [< 2 s];
- HTTP under gunicorn -w 2 on loopback (gunicorn.conf.py applies too): spawn to the first 200 [< 2 s]; a --rows
  CSV through /batch and the same rows through the JSON API in chunks of 10,000, end to end [< 5 s], on a
  temporary SQLite store of the demo slice, every forecast logged. Skipped (exit 0) when the app is not there yet.
  The API's requests/s against /healthz is benchmarks/api_ratio.py's (make bench runs both).

Timings are wall clock on a shared machine: run it on a quiet one and read the ratios, not single figures.
Everything is bounded in time; the load generator talks to 127.0.0.1 only; gunicorn is stopped at the end.
"""

import argparse
import http.client
import json
import logging
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liquidity.dataset import add_liquidity_score  # noqa: E402
from liquidity.features import INPUT_COLUMNS, LONGEST_LAG, input_features  # noqa: E402
from liquidity.modeling import fastpath  # noqa: E402
from liquidity.modeling.predict import LiquidityModel, predict_liquidity  # noqa: E402

BITCOIN = dict(volume=35_390_763_321.0, mkt_cap=770_991_461_396.0, h1=0.022, price=40_859.46)
API_BODY = {"price": 40859.46, "1h": 0.022, "24h_volume": 35000000000, "mkt_cap": 770000000000}
API_CHUNK = 10_000  # the API's limit of objects per request


def percentile_ms(times, q):
    return float(np.percentile(times, q)) * 1000


def time_calls(call, max_calls, max_seconds, warmup=20):
    """Return per-call wall times (s) of call, stopping at max_calls or max_seconds."""
    for _ in range(warmup):
        call()
    times = []
    deadline = time.perf_counter() + max_seconds
    while len(times) < max_calls and time.perf_counter() < deadline:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return np.array(times)


def best_of(call, repeats=3):
    """Return the shortest wall time (s) of repeats calls."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def verdict(ok):
    return "goal met" if ok else "GOAL MISSED"


def synthetic_frame(card, rows, seed=0):
    """Return rows of raw inputs spread log-uniformly over the training ranges of the model card."""
    rng = np.random.default_rng(seed)
    ranges = card["inputs"]
    columns = {}
    for name in INPUT_COLUMNS:
        low, high = ranges[name]["min"], ranges[name]["max"]
        if low is None:  # an input the training data never held (the daily history has no 1h)
            low, high = -0.05, 0.05
        if name == "1h":
            columns[name] = rng.uniform(low, high, rows)
        else:
            low = max(low, 1.0) if name == "volume" else low
            columns[name] = np.exp(rng.uniform(np.log(low), np.log(high), rows))
    return pd.DataFrame(columns)


def sklearn_only(model):
    """Return the same model forced onto scikit-learn, as if the fast path could not be built."""
    real = fastpath.compile_forest
    fastpath.compile_forest = lambda forest, scaler: (None, "benchmark baseline")
    quiet = logging.getLogger("liquidity.modeling.predict")
    level, quiet.level = quiet.level, logging.ERROR  # the fallback warning is expected here
    try:
        return LiquidityModel(model.forest, model.scaler, model.card, model.threshold)
    finally:
        fastpath.compile_forest = real
        quiet.setLevel(level)


def bench_one_row(model, seconds):
    print("\n== one row, in process ==")
    row = input_features(*BITCOIN.values(), model.reference)
    forest, scaler = model.forest, model.scaler
    baseline = time_calls(lambda: forest.predict(scaler.transform(row)), 300, seconds, warmup=3)
    fast = time_calls(lambda: predict_liquidity(**BITCOIN, model=model), 50_000, seconds)
    ratio = np.median(baseline) / np.median(fast)
    print(f"predict_liquidity (validation + features + score): median {percentile_ms(fast, 50):.4f} ms,"
          f" p99 {percentile_ms(fast, 99):.4f} ms  [{len(fast)} calls, backend {model.backend}]")
    print(f"baseline model.predict(scaler.transform(row)):     median {percentile_ms(baseline, 50):.3f} ms,"
          f" p99 {percentile_ms(baseline, 99):.3f} ms  [{len(baseline)} calls]")
    print(f"-> {ratio:,.0f}x faster; {verdict(percentile_ms(fast, 50) <= 0.1 and ratio >= 100)}"
          " (median <= 0.1 ms and >= 100x)")

    slow = sklearn_only(model)
    baseline = time_calls(lambda: slow.forecast(**BITCOIN), 100, seconds, warmup=2)
    fast = time_calls(lambda: model.forecast(**BITCOIN), 20_000, seconds)
    print(f"forecast (score + 10-90 % tree band): median {percentile_ms(fast, 50):.3f} ms,"
          f" p99 {percentile_ms(fast, 99):.3f} ms; with scikit-learn median {percentile_ms(baseline, 50):.2f} ms"
          f" -> {np.median(baseline) / np.median(fast):,.0f}x faster")


def bench_batch(model, rows):
    print(f"\n== batch, in process, {rows:,} rows ==")
    frame = synthetic_frame(model.card, rows)
    features = model.input_features(frame)
    fast = best_of(lambda: model.predict_frame(frame))
    baseline = best_of(lambda: model.forest.predict(model.scaler.transform(features)))
    print(f"predict_frame (features + scores + levels): {rows / fast:,.0f} rows/s ({fast:.3f} s),"
          f" {model.fast.workers if model.fast else 1} thread(s)")
    print(f"baseline forest.predict(scaler.transform(features)), n_jobs={model.forest.n_jobs}:"
          f" {rows / baseline:,.0f} rows/s ({baseline:.3f} s)")
    print(f"-> {baseline / fast:.1f}x; {verdict(rows / fast >= 200_000)} (>= 200,000 rows/s)")
    band = best_of(lambda: model.band(features), repeats=1)
    print(f"band (10-90 % of the trees) for all rows: {rows / band:,.0f} rows/s ({band:.3f} s)")


def synthetic_market(coins=1000, days=LONGEST_LAG + 1, seed=0):
    """Return `days` daily snapshots of `coins` coins in the loader's columns, with liquidity scores."""
    rng = np.random.default_rng(seed)
    dates = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + days).astype(str)
    mkt_cap = np.exp(rng.uniform(np.log(1e7), np.log(1e12), coins))
    frame = pd.DataFrame({
        "date": np.repeat(dates, coins), "coin_id": np.tile([f"coin-{i}" for i in range(coins)], days),
        "symbol": np.tile([f"C{i}" for i in range(coins)], days),
        "price": np.exp(rng.normal(0, 3, coins * days)), "mkt_cap": np.tile(mkt_cap, days),
        "1h": np.nan})
    frame["volume"] = frame["mkt_cap"] * np.exp(rng.normal(-3, 1.5, len(frame)))
    return add_liquidity_score(frame)


def bench_history(model, seconds):
    print("\n== forecast from history, in process ==")
    market = synthetic_market()
    latest = market["date"].max()
    slow = sklearn_only(model)
    fast = time_calls(lambda: model.forecast_snapshots(market, dates=[latest]), 200, seconds, warmup=3)
    baseline = time_calls(lambda: slow.forecast_snapshots(market, dates=[latest]), 20, seconds, warmup=1)
    coins = market["coin_id"].nunique()
    print(f"whole market, {coins:,} coins x {market['date'].nunique()} days of rows, latest date forecast with band:"
          f" median {percentile_ms(fast, 50):.1f} ms, p99 {percentile_ms(fast, 99):.1f} ms"
          f" ({coins / np.median(fast):,.0f} rows/s); with scikit-learn median {percentile_ms(baseline, 50):.1f} ms"
          f" -> {np.median(baseline) / np.median(fast):.1f}x; {verdict(percentile_ms(fast, 50) < 50)} (< 50 ms)")
    own = market[market["coin_id"] == "coin-7"]
    arrays = (own["date"].to_numpy(), own["volume"].to_numpy(), own["mkt_cap"].to_numpy(), own["1h"].to_numpy(),
              own["price"].to_numpy(), own["liquidity_score"].to_numpy())
    fast = time_calls(lambda: model.forecast_history(*arrays), 20_000, seconds)
    baseline = time_calls(lambda: slow.forecast_history(*arrays), 200, seconds, warmup=3)
    print(f"one coin from its {len(own)} rows (forecast_history, score + band):"
          f" median {percentile_ms(fast, 50):.3f} ms,"
          f" p99 {percentile_ms(fast, 99):.3f} ms; with scikit-learn median {percentile_ms(baseline, 50):.2f} ms"
          f" -> {np.median(baseline) / np.median(fast):,.0f}x; {verdict(percentile_ms(fast, 50) < 1)} (< 1 ms)")


def bench_store(model, seconds):
    """Forecasts read from a SQLite market store of the synthetic market, next to the same forecasts from memory."""
    from liquidity.forecasting import forecast_coin, forecast_market
    from liquidity.store import MarketStore
    from liquidity.web.readmodel import ReadModel
    from liquidity.web.services import ProcessStore

    print("\n== forecast from the market store (SQLite), in process ==")
    market = synthetic_market().assign(source="bench", **{"24h": np.nan, "7d": np.nan})
    market["coin"] = market["symbol"]
    with tempfile.TemporaryDirectory() as folder, MarketStore(f"sqlite:///{folder}/market.db", migrate=True) as store:
        started = time.perf_counter()
        store.add_snapshots(market)
        took = time.perf_counter() - started
        print(f"import {len(market):,} rows with their scores: {len(market) / took:,.0f} rows/s ({took:.2f} s;"
              " the full history: make bench-import)")
        own = market[market["coin_id"] == "coin-7"]
        arrays = (own["date"].to_numpy(), own["volume"].to_numpy(), own["mkt_cap"].to_numpy(), own["1h"].to_numpy(),
                  own["price"].to_numpy(), own["liquidity_score"].to_numpy())
        stored = time_calls(lambda: forecast_coin(store, model, "coin-7"), 5_000, seconds)
        # The read model's path (issue 19): every horizon with both intervals, from the calibration it holds.
        prepared = model.prepared_intervals(model.calibration)
        memory = time_calls(lambda: model.forecast_history_horizons(*arrays, calibration=prepared), 20_000, seconds)
        read_model = ReadModel(ProcessStore(f"sqlite:///{folder}/market.db"), model, check_seconds=3600)
        started = time.perf_counter()
        state = read_model.start()  # the read model's state: the window and every coin's forecast, once per snapshot
        loaded = time.perf_counter() - started
        read_model.stop()
        # The state forecasts each coin once per store version: time every coin's first forecast, then repeats.
        coin_ids = [coin_id for coin_id in market["coin_id"].unique() if coin_id != "coin-7"]
        first = []
        for coin_id in coin_ids:
            started = time.perf_counter()
            state.coin_forecast(coin_id)
            first.append(time.perf_counter() - started)
        first = np.array(first)
        windowed = time_calls(lambda: state.coin_forecast("coin-7"), 20_000, seconds)
        horizons = ", ".join(str(h.horizon) for h in state.coin_forecast("coin-7").horizons)
        print(f"one coin, {len(own)} rows of history, score + {horizons}-day forecasts with 80 % and 90 % intervals:"
              " through the read model, first time per snapshot"
              f" median {percentile_ms(first, 50):.3f} ms, p99 {percentile_ms(first, 99):.3f} ms"
              f" {verdict(percentile_ms(first, 50) < 1)} (< 1 ms), again median {percentile_ms(windowed, 50):.4f} ms;"
              f" from rows already in memory (baseline) median {percentile_ms(memory, 50):.3f} ms"
              f" -> {np.median(first) / np.median(memory):.2f}x;"
              f" reading the store each time (forecast_coin on the store) median {percentile_ms(stored, 50):.3f} ms,"
              f" p99 {percentile_ms(stored, 99):.3f} ms; building the read model's state once per snapshot"
              f" {loaded * 1000:.0f} ms")
        coins = market["coin_id"].nunique()
        direct = time_calls(lambda: forecast_market(store, model), 50, seconds, warmup=1)
        cached = time_calls(state.market_table, 2_000, seconds)
        print(f"whole latest snapshot ({coins:,} coins): through the read model median"
              f" {percentile_ms(cached, 50):.2f} ms {verdict(percentile_ms(cached, 50) < 50)} (< 50 ms);"
              f" computed from the store each time median"
              f" {percentile_ms(direct, 50):.1f} ms ({coins / np.median(direct):,.0f} rows/s, 31 days read), once per"
              f" snapshot; from rows in memory see forecast_snapshots above")


def bench_forecast_range(model):
    """The forecast command's work over a range of dates, read from a SQLite market store."""
    from liquidity.forecasting import forecast_dates
    from liquidity.store import MarketStore

    # What `python -m liquidity forecast --start .. --end ..` does, minus writing the CSV.
    days = 180
    market = synthetic_market(days=days + LONGEST_LAG, seed=1).assign(source="bench", **{"24h": np.nan, "7d": np.nan})
    market["coin"] = market["symbol"]
    with tempfile.TemporaryDirectory() as folder, MarketStore(f"sqlite:///{folder}/market.db", migrate=True) as store:
        store.add_snapshots(market)
        dates = sorted(market["date"].unique())[-days:]
        took = best_of(lambda: forecast_dates(store, model, dates), repeats=1)
        print(f"forecast command's work, {days} days x {market['coin_id'].nunique():,} coins"
              f" ({days * market['coin_id'].nunique():,} forecasts with band, read from the store): {took:.1f} s"
              f" {verdict(took < 60)} (< 60 s)")


STARTUP = """
import json, sys, time
started = time.perf_counter()
if {block_fast}:
    sys.modules["onnxruntime"] = None
from liquidity.modeling.predict import LiquidityModel
model = LiquidityModel.load()
loaded = time.perf_counter() - started
model.predict_one(35e9, 770e9, 0.022, 40859.46)  # the first prediction starts onnxruntime in this process
print(json.dumps({{"loaded": loaded, "seconds": time.perf_counter() - started, "backend": model.backend,
                  "reason": model.backend_reason}}))
"""

APP_STARTUP = """
import json, time
started = time.perf_counter()
from liquidity.web import create_app
app = create_app()
status = app.test_client().get("/healthz").status_code
print(json.dumps({"seconds": time.perf_counter() - started, "status": status}))
"""


def run_child(code, timeout=60):
    """Run code in a fresh interpreter; return its JSON line and the wall time from spawn to exit."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout)
    wall = time.perf_counter() - started
    if result.returncode:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed")
    return json.loads(result.stdout.strip().splitlines()[-1]), wall


def bench_startup():
    print("\n== start-up, fresh interpreter (median of 3 alternating runs) ==")
    runs = {True: [], False: []}
    for _ in range(3):
        for block_fast in (False, True):
            runs[block_fast].append(run_child(STARTUP.format(block_fast=block_fast)))
    (fast, fast_wall), (slow, slow_wall) = (sorted(runs[key], key=lambda run: run[0]["seconds"])[1]
                                            for key in (False, True))
    print(f"import + LiquidityModel.load + first prediction, fast path: {fast['seconds']:.2f} s in process"
          f" (load {fast['loaded']:.2f} s), {fast_wall:.2f} s from spawn ({fast['backend']}: {fast['reason']})")
    print(f"baseline, scikit-learn only:                               {slow['seconds']:.2f} s in process"
          f" (load {slow['loaded']:.2f} s), {slow_wall:.2f} s from spawn"
          f" -> the fast path adds {fast['seconds'] - slow['seconds']:+.2f} s")
    try:
        app, app_wall = run_child(APP_STARTUP)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"create_app + first /healthz: skipped ({error})")
        return
    print(f"create_app + first /healthz ({app['status']}): {app['seconds']:.2f} s in process,"
          f" {app_wall:.2f} s from spawn; {verdict(app_wall < 2)} (< 2 s)")


# ---------------------------------------------------------------- HTTP


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=60):
    """Send one request on a new connection; return (status, headers, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


class Gunicorn:
    """gunicorn -w 2 on a free loopback port, started and stopped by the benchmark."""

    def __init__(self, workers=2, start_timeout=30, extra_env=None):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
        # One client address sends thousands of requests: the rate limits would answer most of them with 429.
        environment = dict(os.environ, LIQUIDITY_MAX_UPLOAD_MB=os.environ.get("LIQUIDITY_MAX_UPLOAD_MB", "64"),
                           LIQUIDITY_RATELIMIT_ENABLED="false",
                           # The demo slice is years old: /healthz must answer 200 for the server to count as up.
                           LIQUIDITY_DEGRADED_DAYS="36500", **(extra_env or {}))
        command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "app:app"]
        started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                        env=environment, start_new_session=True)
        self.ready_seconds = None
        deadline = started + start_timeout
        while time.perf_counter() < deadline and self.process.poll() is None:
            try:
                status, _, _ = request(self.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    self.ready_seconds = time.perf_counter() - started
                    break
            except OSError:
                pass
            time.sleep(0.02)

    def log_tail(self, lines=15):
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # our own process group: gunicorn master and its workers
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def csv_upload(port, csv_bytes, timeout=120):
    """Fetch the /batch form for its CSRF token and cookie, upload csv_bytes for a CSV download."""
    status, headers, page = request(port, "GET", "/batch")
    if status != 200:
        return None, f"GET /batch answered {status}"
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        rb'value="([^"]+)"[^>]*name="csrf_token"', page)
    if not token:
        return None, "no CSRF token on the /batch page"
    cookie = "; ".join(value.split(";", 1)[0] for key, value in headers.items() if key.lower() == "set-cookie")
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (("csrf_token", token.group(1)), ("action", b"download")):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value
                     + b"\r\n")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.csv"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + csv_bytes + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    started = time.perf_counter()
    status, _, answer = request(port, "POST", "/batch", body=body, timeout=timeout, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": cookie})
    seconds = time.perf_counter() - started
    if status != 200:
        return None, f"POST /batch answered {status}: {answer[:200]!r}"
    lines = answer.count(b"\n") - 1  # minus the header
    return seconds, f"{lines:,} rows back, {len(answer) / 1e6:.1f} MB"


def bench_http(model, rows):
    print("\n== HTTP: gunicorn -w 2 on 127.0.0.1 (requests/s against /healthz: benchmarks/api_ratio.py) ==")
    # A store of its own, filled from the committed demo slice: the coin figures need data, and the bench must not
    # write its logged forecasts into the developer's instance/market.db.
    store_folder = tempfile.TemporaryDirectory(prefix="bench-store-")
    store_url = f"sqlite:///{store_folder.name}/market.db"
    subprocess.run([sys.executable, "-m", "liquidity", "import", str(ROOT / "DATASET")], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": store_url}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Gunicorn(extra_env={"DATABASE_URL": store_url})
    try:
        if server.ready_seconds is None:
            print("skipped: app not merged yet (gunicorn did not answer /healthz)")
            print(server.log_tail())
            return
        status, _, _ = request(server.port, "POST", "/api/v1/predict", body=json.dumps(API_BODY),
                               headers={"Content-Type": "application/json"})
        if status == 404:
            print("skipped: app not merged yet (POST /api/v1/predict answered 404)")
            return
        print(f"gunicorn spawn -> first /healthz 200: {server.ready_seconds:.2f} s;"
              f" {verdict(server.ready_seconds < 2)} (< 2 s)")
        frame = synthetic_frame(model.card, rows, seed=1)
        text = frame.to_csv(index=False, float_format="%.6g").encode()
        upload_seconds, detail = csv_upload(server.port, text)
        if upload_seconds is None:
            print(f"{rows:,}-row CSV through /batch: not measured ({detail})")
        else:
            print(f"{rows:,}-row CSV ({len(text) / 1e6:.1f} MB) through POST /batch, CSV download:"
                  f" {upload_seconds:.2f} s end to end ({detail}); {verdict(upload_seconds < 5)} (< 5 s)")
        items = [{"price": p, "1h": h, "24h_volume": v, "mkt_cap": m} for v, m, h, p in
                 frame[list(INPUT_COLUMNS)].itertuples(index=False)]
        started = time.perf_counter()
        answered = 0
        for start in range(0, len(items), API_CHUNK):
            status, _, answer = request(server.port, "POST", "/api/v1/predict",
                                        body=json.dumps(items[start:start + API_CHUNK]).encode(),
                                        headers={"Content-Type": "application/json"}, timeout=120)
            if status != 200:
                print(f"JSON API chunk at {start}: status {status} {answer[:200]!r}")
                break
            answered += json.loads(answer)["count"]
        api_seconds = time.perf_counter() - started
        print(f"{rows:,} rows through POST /api/v1/predict in {-(-rows // API_CHUNK)} requests of"
              f" {API_CHUNK:,}, one after another: {api_seconds:.2f} s ({answered:,} scored);"
              f" {verdict(answered == rows and api_seconds < 5)} (< 5 s)")
    finally:
        server.stop()
        store_folder.cleanup()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measured loop (default 5)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the batch figures (default 100000)")
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn section")
    args = parser.parse_args(argv)

    import sklearn

    try:
        import onnxruntime

        runtime = f"onnxruntime {onnxruntime.__version__}"
    except ImportError:
        runtime = "onnxruntime not installed"

    model = LiquidityModel.load()
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()},"
          f" scikit-learn {sklearn.__version__}, {runtime}")
    print(f"model {model.version}: {len(model.forest.estimators_)} trees; backend {model.backend}"
          f" ({model.backend_reason})")
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average before the run: {load_avg:.2f} (figures are only comparable on a quiet machine)")
    bench_one_row(model, args.seconds)
    bench_batch(model, args.rows)
    bench_history(model, args.seconds)
    bench_store(model, args.seconds)
    bench_forecast_range(model)
    bench_startup()
    if not args.no_http:
        bench_http(model, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
