"""Security faults a fault-injection run found: a shared batch folder, the report serving what is not the report,
non-finite numbers in JSON, and production headers and settings (HSTS, SECRET_KEY's length, gunicorn's banner)."""

import http.client
import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import strict_json

from liquidity.artifacts import ArtifactPaths
from liquidity.web import ConfigError
from liquidity.web.settings import load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CSV = b"coin,symbol,price,1h,24h_volume,mkt_cap\nBitcoin,BTC,40851.38,-0.02,20476118020,776077432316\n"


def upload(client):
    form = {"csrf_token": client.csrf_token("/batch"), "action": "show", "file": (io.BytesIO(CSV), "s.csv")}
    return client.post("/batch", data=form, content_type="multipart/form-data")


# --- 9: kept batch results ------------------------------------------------------------------------------------------

def test_kept_batch_results_go_to_a_private_folder_under_instance_by_default():
    assert load_settings({})["BATCH_RESULT_DIR"] == PROJECT_ROOT / "instance" / "batch-results"


def test_a_new_batch_folder_is_private_and_so_are_its_files(make_app, trained_dir, report_dir, tmp_path):
    folder = tmp_path / "made" / "results"
    client = make_app(trained_dir, report_dir, BATCH_RESULT_DIR=folder).test_client()

    assert upload(client).status_code == 200

    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    kept = list(folder.glob("*.csv"))
    assert len(kept) == 1 and oct(kept[0].stat().st_mode & 0o777) == oct(0o600)


@pytest.mark.parametrize("prepare, reason", [
    (lambda folder: folder.chmod(0o777), "mode 0777"),
    (lambda folder: folder.chmod(0o750), "mode 0750"),
    (lambda folder: os.chown(folder, 65534, 65534), "belongs to user id 65534"),
])
def test_start_up_refuses_a_batch_folder_another_user_owns_or_can_open(make_app, trained_dir, report_dir, tmp_path,
                                                                      prepare, reason):
    if reason.startswith("belongs") and os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    prepare(folder)

    with pytest.raises(ConfigError, match=f"LIQUIDITY_BATCH_RESULT_DIR={re.escape(str(folder))}: .*{reason}"):
        make_app(trained_dir, report_dir, BATCH_RESULT_DIR=folder)


def test_start_up_refuses_a_symlink_planted_as_the_batch_folder(make_app, trained_dir, report_dir, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)

    with pytest.raises(ConfigError, match="is not a folder"):
        make_app(trained_dir, report_dir, BATCH_RESULT_DIR=tmp_path / "link")


# --- 10: the report serves its own files only -----------------------------------------------------------------------

@pytest.fixture
def built_report(report_dir):
    (report_dir / "report.html").write_text("<html><body><h1>EDA</h1><img src='figures/a.png'></body></html>")
    (report_dir / "report.css").write_text("body { margin: 0 }")
    (report_dir / "figures").mkdir()
    (report_dir / "figures" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (report_dir / "eda.ipynb").write_text('{"cells": []}')
    return report_dir


def test_the_report_serves_its_page_style_and_figures(client, built_report):
    assert client.get("/report/").status_code == 200
    assert client.get("/report/report.css").mimetype == "text/css"
    figure = client.get("/report/figures/a.png")
    assert figure.status_code == 200 and figure.mimetype == "image/png"


@pytest.mark.parametrize("path", ["/report/eda.ipynb", "/report/figures/", "/report/figures/a.png.bak"])
def test_the_report_does_not_serve_files_that_are_not_part_of_it(client, built_report, path):
    if path.endswith(".bak"):
        (built_report / "figures" / "a.png.bak").write_text("old")
    response = client.get(path)
    assert response.status_code == 404
    assert b"cells" not in response.data and b"old" not in response.data


@pytest.mark.parametrize("link, target", [
    ("report.css", "/etc/passwd"),
    ("figures/b.png", "/etc/passwd"),
    ("figures/store.png", "market.db"),
])
def test_the_report_never_follows_a_symlink(client, built_report, tmp_path, link, target):
    if target == "market.db":
        target = tmp_path / "market.db"
        target.write_bytes(b"SQLite format 3\x00 secret rows")
    (built_report / link).unlink(missing_ok=True)
    (built_report / link).symlink_to(target)

    response = client.get(f"/report/{link}")

    assert response.status_code == 404
    assert b"root:" not in response.data and b"secret rows" not in response.data


def test_the_report_page_itself_is_not_served_through_a_symlink(client, built_report, tmp_path):
    elsewhere = tmp_path / "other.html"
    elsewhere.write_text("<h1>not the report</h1>")
    (built_report / "report.html").unlink()
    (built_report / "report.html").symlink_to(elsewhere)
    assert b"not the report" not in client.get("/report/").data


def test_a_symlinked_figures_folder_is_not_followed(client, built_report, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c.png").write_bytes(b"outside the report")
    (built_report / "figures" / "a.png").unlink()
    (built_report / "figures").rmdir()
    (built_report / "figures").symlink_to(outside)
    assert client.get("/report/figures/c.png").status_code == 404


# --- 11: no non-finite number in any JSON answer --------------------------------------------------------------------

def test_a_stored_row_whose_turnover_overflows_answers_null_not_infinity(client, history_store):
    with history_store.engine.begin() as connection:  # written before the import refused such rows
        connection.execute(sa.text(
            "INSERT INTO snapshots (date, coin_id, coin, symbol, price, volume, mkt_cap, source) "
            "VALUES ('2024-03-02', 'overflow', 'Overflow', 'OVF', 1, 1e308, 0.5, 'old import')"))
    history_store.repair_scores()

    answer = client.get("/api/v1/coins/overflow")

    assert answer.status_code == 200
    row = strict_json(answer)["history"][-1]
    assert row["turnover"] is None and row["volume_usd"] == 1e308
    listing = client.get("/api/v1/coins?per_page=100")
    assert listing.status_code == 200 and "overflow" in [c["coin_id"] for c in strict_json(listing)["coins"]]


def test_the_apps_json_refuses_non_finite_numbers_so_a_regression_is_a_500(make_app, trained_dir, report_dir):
    app = make_app(trained_dir, report_dir, TESTING=False)  # errors answer 500 as in production, not raise
    app.add_url_rule("/infinite", "infinite", lambda: {"turnover": float("inf")})

    with pytest.raises(ValueError):
        app.json.dumps({"score": float("nan")})
    response = app.test_client().get("/infinite")
    assert response.status_code == 500
    assert b"Infinity" not in response.data


# --- 12: production headers and settings ----------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["k", "k" * 31])
def test_production_refuses_a_short_secret_key_naming_the_variable_not_the_key(key):
    with pytest.raises(ConfigError, match=f"SECRET_KEY is {len(key)} character") as refused:
        load_settings({"LIQUIDITY_ENV": "production", "SECRET_KEY": key})
    assert "at least 32" in str(refused.value) and key * 2 not in str(refused.value)
    assert load_settings({"LIQUIDITY_ENV": "production", "SECRET_KEY": "k" * 32})["SECRET_KEY"] == "k" * 32
    assert load_settings({"SECRET_KEY": key})["SECRET_KEY"] == key  # development takes what it is given


def test_hsts_only_in_production_and_only_on_https(make_app, trained_dir, report_dir, monkeypatch):
    development = make_app(trained_dir, report_dir).test_client()
    assert "Strict-Transport-Security" not in development.get("/healthz", base_url="https://localhost").headers
    monkeypatch.setenv("LIQUIDITY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    production = make_app(trained_dir, report_dir, PROXY_COUNT=1).test_client()

    assert "Strict-Transport-Security" not in production.get("/healthz").headers
    secure = production.get("/healthz", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    proxied = production.get("/healthz", headers={"X-Forwarded-Proto": "https"})  # ProxyFix: TLS ended at the proxy
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_sends_no_server_banner_and_hsts_behind_an_https_proxy(trained_dir, tmp_path):
    paths = ArtifactPaths.in_folder(trained_dir)
    port = free_port()
    environ = {**os.environ, "LIQUIDITY_ENV": "production", "SECRET_KEY": "s" * 64, "WEB_CONCURRENCY": "1",
               "GUNICORN_BIND": f"127.0.0.1:{port}", "LIQUIDITY_PROXY_COUNT": "1",
               "DATABASE_URL": f"sqlite:///{tmp_path}/market.db", "LIQUIDITY_BATCH_RESULT_DIR": str(tmp_path / "b"),
               "LIQUIDITY_MODEL_PATH": str(paths.model), "LIQUIDITY_SCALER_PATH": str(paths.scaler),
               "LIQUIDITY_CARD_PATH": str(paths.card), "LIQUIDITY_RATELIMIT_ENABLED": "off"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
                              cwd=PROJECT_ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                plain = connection.getresponse()
                plain.read()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        connection.request("GET", "/healthz", headers={"X-Forwarded-Proto": "https"})
        proxied = connection.getresponse()
        proxied.read()
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert plain.getheader("Server") is None and proxied.getheader("Server") is None
    assert plain.getheader("Strict-Transport-Security") is None
    assert proxied.getheader("Strict-Transport-Security") == "max-age=31536000"
