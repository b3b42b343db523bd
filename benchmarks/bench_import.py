"""Time `import` of the shared daily history into a fresh store: rows/s, against the loader alone as baseline.

python benchmarks/bench_import.py [--data ../shared/data/coingecko-history] [--database-url URL]
Without --database-url it imports into a SQLite file in a temporary folder (deleted afterwards). A PostgreSQL
URL must name a scratch database: its snapshots table is emptied first.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from liquidity.dataset import load_snapshots
from liquidity.store import MarketStore
from liquidity.store.importer import import_snapshots
from liquidity.store.schema import snapshots

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "coingecko-history"


def timed(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def read_timings(store, repeats=2000):
    """Return the median and p99 seconds of one coin's last 31 days (coin_history), over several coins."""
    coins = store.coins()["coin_id"].tolist()[:50] or [None]
    store.coin_history(coins[0])  # warm the statement cache and the pool
    seconds = []
    for index in range(repeats):
        start = time.perf_counter()
        store.coin_history(coins[index % len(coins)], days=31)
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return statistics.median(seconds), seconds[int(len(seconds) * 0.99)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.exit(2, f"error: {args.data}: no such file or folder (the shared history sits beside the project)\n")
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/market.db"
        with MarketStore(url, migrate=True) as store:
            with store.engine.begin() as connection:
                connection.execute(sa.delete(snapshots))
            load_s, loaded = timed(lambda: load_snapshots(args.data))
            rows = len(loaded.frame)
            import_s, first = timed(lambda: import_snapshots(args.data, store))
            again_s, second = timed(lambda: import_snapshots(args.data, store))
            median_s, p99_s = read_timings(store)
            print(f"backend: {store.dialect}   rows: {rows:,} from {len(loaded.files)} file(s)")
            print(f"loader alone (baseline)    {load_s:6.1f} s  {rows / load_s:>10,.0f} rows/s")
            print(f"import into an empty store {import_s:6.1f} s  {rows / import_s:>10,.0f} rows/s  "
                  f"({import_s / load_s:.1f}x the loader; added {first.added:,})")
            print(f"re-import (all skipped)    {again_s:6.1f} s  {rows / again_s:>10,.0f} rows/s  "
                  f"({again_s / load_s:.1f}x the loader; added {second.added:,}, skipped {second.skipped:,})")
            print(f"coin_history(coin, days=31): median {median_s * 1e3:.3f} ms, p99 {p99_s * 1e3:.3f} ms")
    if first.added != rows or second.added != 0:
        print("error: the counts are wrong", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
