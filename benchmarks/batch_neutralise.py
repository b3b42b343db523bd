"""What neutralising spreadsheet formulas costs a batch: POST /batch of 50,000 rows, with and without it, in one run.

Run: .venv/bin/python benchmarks/batch_neutralise.py (in process, no server; about 30 s). Prints medians of 3 rounds and
their ratio to the download without neutralising, so the figure holds on a loaded machine too.
"""
import io
import statistics
import time

import numpy as np

import liquidity.web.batch.views as views
from liquidity import create_app
from liquidity.csvsafe import neutralise_frame

rng = np.random.default_rng(0)
n = 50_000
lines = ["coin,symbol,price,1h,24h_volume,mkt_cap"]
for i in range(n):
    cap = 10 ** rng.uniform(7, 11)
    lines.append(f"coin{i},C{i},{10 ** rng.uniform(-3, 4):.6g},{rng.normal(0, .02):.4f},{cap * 10 ** rng.uniform(-3, 0):.2f},{cap:.2f}")
data = ("\n".join(lines) + "\n").encode()
app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "MAX_CONTENT_LENGTH": 64 << 20})
client = app.test_client()

def run(action):
    started = time.perf_counter()
    r = client.post("/batch", data={"action": action, "file": (io.BytesIO(data), "s.csv")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.status_code
    return time.perf_counter() - started

times = {"download, neutralised": [], "download, not neutralised": [], "show (table + kept file)": []}
for _ in range(3):
    views.neutralise_frame = neutralise_frame; times["download, neutralised"].append(run("download"))
    views.neutralise_frame = lambda frame: frame; times["download, not neutralised"].append(run("download"))
    views.neutralise_frame = neutralise_frame; times["show (table + kept file)"].append(run("show"))
base = statistics.median(times["download, not neutralised"])
for name, values in times.items():
    print(f"{name:28s} median {statistics.median(values):.2f} s  ratio {statistics.median(values) / base:.2f}")
