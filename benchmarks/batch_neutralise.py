"""What neutralising spreadsheet formulas costs a batch: POST /batch of 50,000 rows, with and without it, in one run.

Run: .venv/bin/python benchmarks/batch_neutralise.py (in process, no server; about 30 s). Prints medians of 3 rounds and
their ratio to the download without neutralising, so the figure holds on a loaded machine too.
"""
import io
import statistics
import tempfile
import time

import numpy as np

import liquidity.web.batch.views as views
from liquidity.csvsafe import neutralise_frame
from liquidity.web import create_app

rng = np.random.default_rng(0)
n = 50_000
lines = ["coin,symbol,price,1h,24h_volume,mkt_cap"]
for i in range(n):
    cap = 10 ** rng.uniform(7, 11)
    volume = cap * 10 ** rng.uniform(-3, 0)
    lines.append(f"coin{i},C{i},{10 ** rng.uniform(-3, 4):.6g},{rng.normal(0, .02):.4f},{volume:.2f},{cap:.2f}")
data = ("\n".join(lines) + "\n").encode()
kept = tempfile.TemporaryDirectory(prefix="bench-batch-results-")  # the files the result page keeps
app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                  "MAX_CONTENT_LENGTH": 64 << 20, "BATCH_RESULT_DIR": kept.name})
client = app.test_client()


def run(action):
    """Return the seconds one POST /batch of the whole upload takes."""
    started = time.perf_counter()
    response = client.post("/batch", data={"action": action, "file": (io.BytesIO(data), "s.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.status_code
    return time.perf_counter() - started


def unchanged(frame):
    return frame


rounds = {"download, neutralised": (neutralise_frame, "download"), "download, not neutralised": (unchanged, "download"),
          "show (table + kept file)": (neutralise_frame, "show")}
times = {name: [] for name in rounds}
for _ in range(3):  # interleaved, so each case sees the same machine
    for name, (neutralise, action) in rounds.items():
        views.neutralise_frame = neutralise
        times[name].append(run(action))
base = statistics.median(times["download, not neutralised"])
for name, values in times.items():
    print(f"{name:28s} median {statistics.median(values):.2f} s  ratio {statistics.median(values) / base:.2f}")
kept.cleanup()
