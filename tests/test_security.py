"""Web-security basics on every kind of response, production settings, request limits, and logs without secrets."""

import io
import json
import logging

import pytest

from liquidity.web.extensions import models
from liquidity.web.observability import JsonFormatter
from liquidity.web.settings import ConfigError

BITCOIN = {"price": 40851.38, "1h": 0.001, "24h_volume": 20476118020, "mkt_cap": 776077432316}
BITCOIN_FORM = {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"}


def responses(client, report_dir):
    """Yield (label, response) for pages, API answers, error pages, static files and the report."""
    (report_dir / "report.html").write_text("<html><body><h1>EDA</h1></body></html>")
    (report_dir / "figures").mkdir()
    (report_dir / "figures" / "a.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    yield "page /", client.get("/")
    yield "page /model", client.get("/model")
    yield "page /batch", client.get("/batch")
    yield "form 303", client.post("/predict", data={**BITCOIN_FORM, "csrf_token": client.csrf_token()})
    yield "result URL", client.get("/predict", query_string=BITCOIN_FORM)
    yield "API docs", client.get("/docs/api")
    yield "form 400", client.post("/predict", data={**BITCOIN_FORM, "price": "x", "csrf_token": client.csrf_token()})
    yield "csrf 400", client.post("/predict", data=BITCOIN_FORM)
    yield "404 page", client.get("/nowhere")
    yield "405 page", client.delete("/")
    yield "api 200", client.post("/api/v1/predict", json=BITCOIN)
    yield "api 400", client.post("/api/v1/predict", data="{", content_type="application/json")
    yield "api 415", client.post("/api/v1/predict", data="x", content_type="text/plain")
    yield "api 404", client.get("/api/v1/nowhere")
    yield "api model", client.get("/api/v1/model")
    yield "openapi", client.get("/api/v1/openapi.json")
    yield "healthz", client.get("/healthz")
    yield "static", client.get("/static/style.css")
    yield "report", client.get("/report/")
    yield "report figure", client.get("/report/figures/a.svg")
    yield "413", client.post("/api/v1/predict", data=b"[" + b" " * (6 * 1024 * 1024) + b"]",
                             content_type="application/json")


@pytest.fixture
def every_response(client, report_dir):
    return list(responses(client, report_dir))


def policy(response):
    return {name: value.split() for name, value in
            (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))}


def test_each_security_header_is_on_every_kind_of_response(every_response):
    statuses = {label: response.status_code for label, response in every_response}
    assert statuses["form 400"] == statuses["csrf 400"] == statuses["api 400"] == 400
    assert statuses["413"] == 413 and statuses["405 page"] == 405 and statuses["api 415"] == 415
    for label, response in every_response:
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", label
        assert headers["X-Frame-Options"] == "DENY", label
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin", label
        directives = policy(response)
        assert directives["script-src"] in (["'self'"], ["'none'"]), label
        assert directives["frame-ancestors"] == ["'none'"], label
        assert directives["object-src"] == ["'none'"], label
        assert directives["base-uri"] == ["'none'"], label
        assert "unsafe-inline" not in headers["Content-Security-Policy"], label
        assert "unsafe-eval" not in headers["Content-Security-Policy"], label


def test_the_report_gets_the_strict_policy_too(every_response):
    report = dict(every_response)["report"]
    assert report.status_code == 200
    assert policy(report)["style-src"] == ["'self'"]


def test_session_cookie_is_httponly_samesite_and_secure_only_in_production(make_app, trained_dir, report_dir,
                                                                          monkeypatch):
    development = make_app(trained_dir, report_dir).test_client().get("/")
    cookie = development.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    monkeypatch.setenv("LIQUIDITY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    production = make_app(trained_dir, report_dir).test_client().get("/")
    cookie = production.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_production_never_runs_in_debug(make_app, trained_dir, report_dir, monkeypatch):
    monkeypatch.setenv("LIQUIDITY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="FLASK_DEBUG"):
        make_app(trained_dir, report_dir)
    monkeypatch.delenv("FLASK_DEBUG")
    app = make_app(trained_dir, report_dir, DEBUG=True)
    assert app.debug is False
    response = app.test_client().get("/api/v1/nowhere")
    assert "Traceback" not in response.get_data(as_text=True) and "werkzeug" not in response.get_data(as_text=True)


def test_a_form_post_over_the_size_limit_is_413(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    response = client.post("/predict", data={**BITCOIN_FORM, "csrf_token": client.csrf_token(),
                                             "price": "1" * 100_000})
    assert response.status_code == 413
    assert "upload limit" in response.get_data(as_text=True)


def test_a_form_with_thousands_of_fields_is_refused_not_parsed(client):
    fields = {f"f{i}": "x" for i in range(5000)}
    response = client.post("/batch", data={**fields, "csrf_token": client.csrf_token("/batch"),
                                           "file": (io.BytesIO(b"x"), "a.csv")}, content_type="multipart/form-data")
    assert response.status_code == 413


@pytest.fixture
def log_lines():
    """Every line the app's JSON log handler would write, formatted as it writes them."""
    lines = []
    handler = logging.Handler()
    formatter = JsonFormatter()
    handler.emit = lambda record: lines.append(formatter.format(record))
    logger = logging.getLogger("liquidity.web")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_logs_hold_requests_and_predictions_but_never_secrets(make_app, trained_dir, report_dir, monkeypatch,
                                                               log_lines):
    monkeypatch.setenv("COINGECKO_API_KEY", "cg-secret-key-9f8e7d")
    monkeypatch.setenv("SECRET_KEY", "flask-secret-key-0123456789abcdef")
    app = make_app(trained_dir, report_dir)
    started = len(log_lines)  # the start-up's own lines (the store's schema created) come before any request
    client = app.test_client()
    token = client.csrf_token()
    client.post("/predict", data={**BITCOIN_FORM, "csrf_token": token}, follow_redirects=True)
    client.post("/api/v1/predict", json=BITCOIN)
    client.post("/api/v1/predict", json=[BITCOIN, BITCOIN])
    client.post("/predict", data={**BITCOIN_FORM, "csrf_token": "forged-token"})
    client.get("/live/fill?coin=")
    session_cookie = client.get_cookie("session").value
    entries = [json.loads(line) for line in log_lines[started:]]
    requests = [e for e in entries if e.get("event") == "request"]
    assert len(requests) == len(entries)  # one line per request; a prediction rides on its request's line
    predictions = [e["prediction"] for e in requests if "prediction" in e]
    assert [(e["method"], e["path"], e["status"]) for e in requests] == [
        ("GET", "/", 200), ("POST", "/predict", 303), ("GET", "/predict", 200), ("POST", "/api/v1/predict", 200),
        ("POST", "/api/v1/predict", 200), ("POST", "/predict", 400), ("GET", "/live/fill", 400)]
    assert all(e["duration_ms"] >= 0 for e in requests)
    assert len(predictions) == 3
    single = [e for e in predictions if e["source"] in ("form", "api") and "inputs" in e]
    assert len(single) == 2 and all({"inputs", "score", "model_version"} <= set(e) for e in single)
    text = "\n".join(log_lines)
    for secret in ("flask-secret-key-0123456789abcdef", "cg-secret-key-9f8e7d", token, session_cookie,
                   "forged-token"):
        assert secret not in text


@pytest.mark.parametrize("level, expect_request_lines", [("WARNING", False), ("INFO", True), ("DEBUG", True)])
def test_log_level_setting_controls_the_request_lines(make_app, trained_dir, report_dir, monkeypatch, log_lines, level,
                                                      expect_request_lines):
    monkeypatch.setenv("LIQUIDITY_LOG_LEVEL", level)
    client = make_app(trained_dir, report_dir).test_client()
    client.get("/healthz")
    assert any('"event": "request"' in line for line in log_lines) == expect_request_lines


# Headers, cookies and log lines on ordinary pages (moved from test_web_pages.py).

@pytest.mark.parametrize("path", ["/", "/model", "/batch", "/healthz", "/api/v1/model", "/nowhere", "/report/",
                                  "/static/style.css"])
@pytest.mark.parametrize("header, expected", [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
])
def test_security_headers_on_every_response(client, path, header, expected):
    assert client.get(path).headers[header] == expected


@pytest.mark.parametrize("path", ["/", "/model", "/batch", "/nowhere"])
def test_content_security_policy_forbids_inline_script_and_style_and_framing(client, path):
    policy = client.get(path).headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("path", ["/", "/model", "/batch"])
def test_pages_carry_no_inline_script_or_style(client, path):
    html = client.get(path).get_data(as_text=True)
    assert "<script" not in html
    assert "<style" not in html
    assert " style=" not in html


def test_session_cookie_is_httponly_and_samesite_lax(client):
    response = client.get("/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_in_production(make_app, trained_dir, report_dir, monkeypatch):
    monkeypatch.setenv("LIQUIDITY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    app = make_app(trained_dir, report_dir)
    assert app.debug is False
    assert "Secure" in app.test_client().get("/").headers["Set-Cookie"]


@pytest.fixture
def log_records(app):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("liquidity.web")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_one_json_log_line_per_request_with_method_path_status_duration(client, log_records):
    client.get("/nowhere")
    requests = [r.fields for r in log_records if getattr(r, "fields", {}).get("event") == "request"]
    assert len(requests) == 1
    assert requests[0]["method"] == "GET" and requests[0]["path"] == "/nowhere" and requests[0]["status"] == 404
    assert requests[0]["duration_ms"] >= 0
    line = JsonFormatter().format(log_records[-1])
    assert json.loads(line)["path"] == "/nowhere"


def test_prediction_is_logged_with_inputs_score_and_version_but_no_secret(client, app, log_records):
    client.post("/predict", data={**BITCOIN_FORM, "csrf_token": client.csrf_token()}, follow_redirects=True)
    lines = [r.fields for r in log_records if getattr(r, "fields", {}).get("event") == "request"]
    predictions = [line["prediction"] for line in lines if "prediction" in line]
    assert len(predictions) == 1 and len(lines) == len(log_records)
    assert predictions[0]["inputs"]["1h"] == pytest.approx(0.001)
    assert predictions[0]["model_version"] == models.get(app).version
    assert 0 < predictions[0]["score"] < 1
    assert app.config["SECRET_KEY"] not in json.dumps(predictions[0])
