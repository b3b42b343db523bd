"""Where one route's time goes under gunicorn: py-spy samples every worker while client processes load the route.

    python benchmarks/profile_route.py [--route "POST /api/v1/predict"] [--seconds 8] [--clients 4] [--top 30]

The server, the store and the clients are api_ratio.py's (gunicorn -w 2, demo-slice store, log on, one keep-alive
http.client connection per client process). Prints the functions holding the largest share of the workers' samples,
including what they call and on their own; run it for /healthz too and compare. The test client cannot show this:
it has no sockets, no gunicorn and no worker recycling. Needs py-spy (requirements-dev.txt); loopback only.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_ratio import demo_server, load  # noqa: E402

LOOP_SHARE = 0.85
FRAME = re.compile(r" \((?:[^()]*/)?([^/()]+\.py):\d+\)$")  # "name (/path/to/file.py:12)" -> "name (file.py)"


def read_samples(path):
    """Return (samples, {function: samples including callees}, {function: own samples}) from py-spy's raw output."""
    total, inclusive, own = 0, Counter(), Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [FRAME.sub(r" (\1)", frame) for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        count = int(count)
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return total, inclusive, own


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="POST /api/v1/predict", help="'METHOD /path' (default the predict API)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: .venv/bin/pip install -r requirements-dev.txt")
        return 1
    route = args.route if " " in args.route else f"GET {args.route}"
    with demo_server() as server, tempfile.TemporaryDirectory(prefix="profile-route-") as folder:
        if server is None:
            return 1
        load(server.port, route, args.clients, 1.0)  # warm up: imports, the fast path, the store's window
        output = Path(folder) / "samples.txt"
        sampler = subprocess.Popen([spy, "record", "--pid", str(server.process.pid), "--subprocesses",
                                    "--duration", str(int(args.seconds)), "--rate", "250", "--format", "raw",
                                    "--output", str(output), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        rate, _, failed = load(server.port, route, args.clients, args.seconds)
        _, errors = sampler.communicate(timeout=args.seconds + 60)
        if not output.exists():
            print(f"py-spy recorded nothing (it needs ptrace rights):\n{errors.strip()}")
            return 1
        total, inclusive, own = read_samples(output)
    print(f"{route}: {rate:,.0f} req/s ({failed} failed) under {args.clients} clients; {total:,} samples of the"
          " gunicorn processes (master and workers)")
    print(f"\nshare of samples, including callees (frames in more than {LOOP_SHARE:.0%} of them, gunicorn's loops,"
          " left out):")
    shown = [(frame, count) for frame, count in inclusive.most_common() if count <= LOOP_SHARE * total]
    per = 1000 / (rate * args.seconds) if rate else float("nan")
    for frame, count in shown[:args.top]:
        print(f"{count / total:6.1%}  {count * per:6.1f} per 1,000 requests  {frame}")
    print("\nshare of samples, own time:")
    for frame, count in own.most_common(args.top):
        print(f"{count / total:6.1%}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
