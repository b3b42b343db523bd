"""Peak memory of `python -m liquidity import` on a generated CSV of about 200 MB, against a 500 MB budget.

python benchmarks/bench_import_memory.py [--megabytes 200] [--budget-mb 500] [--keep FOLDER]
Writes a daily history like the shared one (date, coin_id, coin, symbol, price, volume, mkt_cap; 1,000 coins a day,
about 70 bytes a row) into a temporary folder, imports it into a fresh SQLite store there in a child process and
reports the child's peak resident memory (its ru_maxrss), the time, and the rows added. Fails above the budget.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COINS = 1_000


def write_history(path, megabytes, seed=11):
    """Write whole days of COINS coins until the file holds about megabytes MB; return the number of rows."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"coin-{i:04d}" for i in range(COINS)])
    names = np.array([f"Coin {i}" for i in range(COINS)])
    symbols = np.array([f"C{i}" for i in range(COINS)])
    rows, day, target = 0, pd.Timestamp("2000-01-01"), megabytes * 1_000_000
    with open(path, "w", newline="") as out:
        out.write("date,coin_id,coin,symbol,price,volume,mkt_cap\n")
        while out.tell() < target:
            days = pd.date_range(day, periods=30, freq="D")  # a month per write: fast, and whole days
            count = COINS * len(days)
            mkt_cap = rng.lognormal(18, 2.5, count)
            frame = pd.DataFrame({
                "date": np.repeat(days.strftime("%Y-%m-%d"), COINS), "coin_id": np.tile(ids, len(days)),
                "coin": np.tile(names, len(days)), "symbol": np.tile(symbols, len(days)),
                "price": rng.lognormal(0, 3, count), "volume": mkt_cap * rng.lognormal(-3, 1.2, count),
                "mkt_cap": mkt_cap})
            frame.to_csv(out, header=False, index=False, float_format="%.10g")
            rows += count
            day = days[-1] + pd.Timedelta(days=1)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--budget-mb", type=float, default=500)
    parser.add_argument("--keep", type=Path, default=None, help="write the CSV and the store here and keep them")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        csv = folder / "history.csv"
        rows = write_history(csv, args.megabytes)
        size_mb = csv.stat().st_size / 1e6
        store = folder / "market.db"
        store.unlink(missing_ok=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "liquidity", "import", str(csv), "--database-url",
                                 f"sqlite:///{store}"], cwd=PROJECT_ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    if result.returncode:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        return 1
    added = next((line for line in result.stdout.splitlines() if line.startswith("added")), "?")
    print(f"file: {size_mb:,.0f} MB, {rows:,} rows ({COINS:,} coins a day)")
    print(f"import: {seconds:,.1f} s, {rows / seconds:,.0f} rows/s; {added}")
    print(f"peak RSS of the import: {peak_mb:,.0f} MB (budget {args.budget_mb:,.0f} MB)")
    if peak_mb > args.budget_mb:
        print(f"error: the import's peak memory {peak_mb:,.0f} MB is over the budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
