"""The movers view in process: GET /coins?sort=change and GET /api/v1/coins?sort=change at 1,000 coins, each
next to GET /healthz measured in the same run (issue 20).

    python benchmarks/movers.py [--coins 1000] [--seconds 3]

The app (the committed model, production's settings but rate limits and request log lines off) serves a
temporary SQLite store of a synthetic market (--coins coins, 31 days), "today" frozen the day after its latest
snapshot, through Flask's test client: no sockets, so the figures are the app's own time per request. Printed: the
median and p99 of each route, its requests/s as a share of /healthz's, the goal (< 20 ms median for the movers view
and its API); then the read model's sort and filter of every coin for a listing not asked before (the first request
of a new filter pays it).
The ratio under gunicorn is benchmarks/api_ratio.py's (its default routes include the movers API).
"""

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import percentile_ms, synthetic_market, time_calls, verdict  # noqa: E402

GOAL_MS = 20.0
ROUTES = ("/healthz", "/coins?sort=change", "/api/v1/coins?sort=change", "/coins?sort=change&order=asc&horizon=7"
          "&cap=large", "/coins.csv?sort=change")
GOAL_ROUTES = ("/coins?sort=change", "/api/v1/coins?sort=change")


def fill_store(url, coins):
    """Write the synthetic market of `coins` coins into the store at url; return its latest date."""
    from liquidity.store import MarketStore

    market = synthetic_market(coins=coins).assign(source="bench", **{"24h": np.nan, "7d": np.nan})
    market["coin"] = market["symbol"]
    with MarketStore(url, migrate=True) as store:
        store.add_snapshots(market)
    return market["date"].max()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coins", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per route (default 3)")
    args = parser.parse_args(argv)

    from liquidity.web import create_app, current_market
    from liquidity.web.market import Listing, matching

    with tempfile.TemporaryDirectory(prefix="bench-movers-") as folder:
        url = f"sqlite:///{folder}/market.db"
        latest = fill_store(url, args.coins)
        today = date.fromisoformat(latest) + timedelta(days=1)
        # Request log lines off (WARNING): thousands of them on a terminal would be timed, not the app.
        app = create_app({"DATABASE_URL": url, "RATELIMIT_ENABLED": False, "TODAY": today, "LOG_LEVEL": "WARNING",
                          "BATCH_RESULT_DIR": Path(folder) / "batch"})
        client = app.test_client()
        for route in ROUTES:
            answer = client.get(route)
            if answer.status_code != 200:
                print(f"{route} answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
                return 1
        print(f"in process (Flask test client), {args.coins:,} coins x 31 days on SQLite, the committed model;"
              f" {args.seconds:g} s per route")
        medians = {}
        for route in ROUTES:
            times = time_calls(lambda route=route: client.get(route), 100_000, args.seconds)
            medians[route] = np.median(times)
            share = medians["/healthz"] / medians[route]
            goal = (f"; {verdict(percentile_ms(times, 50) < GOAL_MS)} (< {GOAL_MS:g} ms)"
                    if route in GOAL_ROUTES else "")
            print(f"GET {route}: median {percentile_ms(times, 50):.2f} ms, p99 {percentile_ms(times, 99):.2f} ms,"
                  f" {1 / medians[route]:,.0f} req/s = {share:.0%} of /healthz{goal}")

        with app.test_request_context():
            state = current_market()
            table = state._horizon_table(7)
        listing = Listing(sort="change", order="asc", horizon=7, cap="mid", level="Low")
        times = time_calls(lambda: matching(table, listing), 100_000, args.seconds)
        print(f"the read model's filter (cap and level) and sort by change of {len(table):,} coins for a listing not"
              f" kept yet: median {percentile_ms(times, 50):.2f} ms, p99 {percentile_ms(times, 99):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
