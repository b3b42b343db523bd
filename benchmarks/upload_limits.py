"""Measure time and peak memory of batch uploads at and beyond the limits (each case in a fresh process).

Run: .venv/bin/python benchmarks/upload_limits.py
Cases: the app at rest (baseline), 1,000,000 short rows (over the 5 MB body limit), ~650,000 short rows
(inside 5 MB, over the 100,000-row cap), and 100,000 snapshot rows at the cap (scored).
"""

import io
import json
import resource
import subprocess
import sys
import time

HEADER = "coin,symbol,price,1h,24h_volume,mkt_cap\n"
ROW = "Bitcoin,BTC,40851.38,0.001,20476118020,776077432316\n"
CASES = {
    "baseline (app started, no upload)": None,
    "1,000,000 short rows (8.0 MB, over the body limit)": ("price,1h,volume,mkt_cap\n", "1,0,1,1\n", 1_000_000),
    "~650,000 short rows (just inside 5 MB, over the row cap)": ("price,1h,volume,mkt_cap\n", "1,0,1,1\n",
                                                                              650_000),
    "100,000 snapshot rows (at the row cap, scored)": (HEADER, ROW, 100_000),
}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(name):
    """Run one case in this process and print a JSON line: status, seconds, peak RSS before and after."""
    from liquidity.web import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    client.get("/healthz")
    before = peak_rss_mb()
    spec = CASES[name]
    status, seconds, size = None, 0.0, 0
    if spec:
        header, row, count = spec
        data = (header + row * count).encode()
        limit = app.config["MAX_CONTENT_LENGTH"]
        if count == 650_000 and len(data) > limit:  # keep this case just inside the body limit
            data = data[: limit - 4096].rsplit(b"\n", 1)[0] + b"\n"
        size = len(data)
        started = time.perf_counter()
        response = client.post("/batch", data={"action": "download", "file": (io.BytesIO(data), "big.csv")},
                               content_type="multipart/form-data")
        seconds = time.perf_counter() - started
        status = response.status_code
    print(json.dumps({"case": name, "bytes": size, "status": status, "seconds": round(seconds, 2),
                      "peak_rss_before_mb": round(before, 1), "peak_rss_after_mb": round(peak_rss_mb(), 1)}))


def main():
    if len(sys.argv) > 1:
        run_case(sys.argv[1])
        return
    print(f"{'case':<70}{'MB':>6}{'status':>8}{'seconds':>9}{'peak RSS MB':>13}")
    for name in CASES:
        output = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(f"{name:<70}{result['bytes'] / 1048576:>6.2f}{str(result['status']):>8}{result['seconds']:>9.2f}"
              f"{result['peak_rss_after_mb']:>13.0f}")


if __name__ == "__main__":
    main()
