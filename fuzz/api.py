"""Run Schemathesis with every check against gunicorn -w 2 over a small store with forecasts logged (make api-fuzz).

The store is fuzz/market.csv (hand-made: a coin delisted, a day missing for another, two coins sharing a symbol),
with the committed model's forecasts of every date logged by the forecast command, so the coin forecast's past and
outcomes are there to check. A fixed seed and number of examples per operation keep a run the same and bounded.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faults.harness import HOST, ROOT, Server

FIXTURE = Path(__file__).with_name("market.csv")
CONFIG = Path(__file__).with_name("schemathesis.toml")
FIRST, LAST = "2024-03-01", "2024-03-04"


def build_store(url):
    """Import the fixture into the store at url and log the committed model's forecasts of every stored date."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    for command in (["import", str(FIXTURE)], ["forecast", "--start", FIRST, "--end", LAST, "--out", os.devnull]):
        subprocess.run([sys.executable, "-m", "liquidity", *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--timeout", type=float, default=300, help="seconds before the run is stopped and failed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="api-fuzz-") as folder:
        url = f"sqlite:///{folder}/market.db"
        build_store(url)
        # Limits on, high enough that the fuzzer is not stopped: the X-RateLimit-* headers are checked too.
        server = Server(url, folder, LIQUIDITY_RATELIMIT_ENABLED="true",
                        LIQUIDITY_RATELIMIT_API="100000 per minute")
        started = time.monotonic()
        try:
            command = [sys.executable, "-m", "fuzz.st", "--config-file", str(CONFIG), "run",
                       f"http://{HOST}:{server.port}/api/v1/openapi.json", "--checks", "all",
                       "--max-examples", str(args.examples), "--seed", str(args.seed), "--workers", "2",
                       "--generation-database", "none", "--no-color", "--report", "junit",
                       "--report-dir", str(Path(folder) / "report")]
            try:
                # Run in the temporary folder: Schemathesis keeps a crash cache (.schemathesis/) where it runs.
                code = subprocess.run(command, cwd=folder, timeout=args.timeout,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode
            except subprocess.TimeoutExpired:
                print(f"api-fuzz: stopped after {args.timeout:g} s", file=sys.stderr)
                code = 1
        finally:
            server.stop()
        print(f"api-fuzz: {'0 failures' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s "
              f"({args.examples} examples per operation, seed {args.seed})", file=sys.stderr)
        return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
