"""Rate limits: 429 with Retry-After on the API and the forms, unlimited health and static, shared via Redis."""

import io
import os
import shutil
import socket
import subprocess
import time

import pytest

from liquidity.artifacts import ArtifactPaths
from liquidity.web.settings import ConfigError, load_settings

BITCOIN = {"price": 40851.38, "1h": 0.001, "24h_volume": 20476118020, "mkt_cap": 776077432316}
BITCOIN_FORM = {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"}


@pytest.fixture
def limited_app(make_app, trained_dir, report_dir):
    """Return a factory: limited_app(**limits) is an app on the fixture model with rate limits on."""
    return lambda **limits: make_app(trained_dir, report_dir, RATELIMIT_ENABLED=True, **limits)


def test_the_api_answers_429_in_json_with_retry_after_past_its_limit(limited_app):
    client = limited_app(RATELIMIT_API="2 per minute").test_client()
    assert [client.post("/api/v1/predict", json=BITCOIN).status_code for _ in range(2)] == [200, 200]
    response = client.post("/api/v1/predict", json=BITCOIN)
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "Too many requests"
    assert "2 per 1 minute" in body["message"]
    assert 1 <= body["retry_after"] <= 61
    assert int(response.headers["Retry-After"]) == body["retry_after"]
    assert response.headers["Content-Security-Policy"]


def test_a_form_past_its_limit_gets_a_friendly_page_with_retry_after(limited_app):
    client = limited_app(RATELIMIT_FORMS="1 per minute").test_client()
    token = client.csrf_token()
    assert client.post("/predict", data={**BITCOIN_FORM, "csrf_token": token}).status_code == 303
    response = client.post("/predict", data={**BITCOIN_FORM, "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "Too many requests" in html and 'class="site-header"' in html
    assert 'id="retry-after"' in html
    assert int(response.headers["Retry-After"]) >= 1
    assert "Traceback" not in html


def batch_upload(client):
    form = {"csrf_token": client.csrf_token("/batch"), "action": "show",
            "file": (io.BytesIO(b"price,1h,volume,mkt_cap\n1,0,5,10\n"), "s.csv")}
    return client.post("/batch", data=form, content_type="multipart/form-data")


@pytest.mark.parametrize("send", [
    lambda client: client.get("/predict", query_string=BITCOIN_FORM),
    batch_upload,
    lambda client: client.get("/batch/download/" + "A" * 32),
    lambda client: client.get("/live/fill?coin="),
], ids=["result URL", "batch upload", "batch download", "live fill"])
def test_every_form_endpoint_is_limited(limited_app, send):
    client = limited_app(RATELIMIT_FORMS="1 per minute").test_client()
    assert send(client).status_code != 429
    response = send(client)
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_an_unreachable_redis_falls_back_to_limits_in_memory_and_says_so(limited_app, caplog):
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = limited_app(RATELIMIT_API="2 per minute",
                         RATELIMIT_STORAGE_URI=dead).test_client()
    started = time.monotonic()
    assert [client.post("/api/v1/predict", json=BITCOIN).status_code for _ in range(3)] == [200, 200, 429]
    assert time.monotonic() - started < 2
    assert "falling back to in-memory storage" in caplog.text


def test_health_static_and_page_views_are_not_limited(limited_app):
    client = limited_app(RATELIMIT_API="1 per minute",
                         RATELIMIT_FORMS="1 per minute").test_client()
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/static/style.css").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/model").status_code == 200


def test_the_test_config_turns_limits_off(client):
    assert client.application.config["RATELIMIT_ENABLED"] is False
    assert all(client.post("/api/v1/predict", json=BITCOIN).status_code == 200 for _ in range(130))


def test_behind_a_proxy_each_forwarded_client_has_its_own_budget(limited_app):
    app = limited_app(RATELIMIT_API="1 per minute", PROXY_COUNT=1)
    client = app.test_client()
    first = {"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"}
    second = {"X-Forwarded-For": "192.0.2.2", "X-Forwarded-Proto": "https"}
    assert client.post("/api/v1/predict", json=BITCOIN, headers=first).status_code == 200
    assert client.post("/api/v1/predict", json=BITCOIN, headers=first).status_code == 429
    assert client.post("/api/v1/predict", json=BITCOIN, headers=second).status_code == 200
    # The TLS-terminating proxy's https reaches url_for, so links the app builds are https too.
    assert "https://localhost/api/v1/predict" in client.get("/docs/api", headers=first).get_data(as_text=True)


@pytest.mark.parametrize("name, value, words", [
    ("LIQUIDITY_RATELIMIT_API", "lots", "is not a rate limit"),
    ("LIQUIDITY_RATELIMIT_FORMS", "5 per fortnight", "is not a rate limit"),
    ("LIQUIDITY_RATELIMIT_STORAGE_URL", "ftp://cache:21", "must be memory:// or a Redis URL"),
    ("LIQUIDITY_RATELIMIT_STORAGE_URL", "localhost:6379", "must be memory:// or a Redis URL"),
    ("LIQUIDITY_RATELIMIT_ENABLED", "maybe", "must be one of true, false"),
    ("LIQUIDITY_PROXY_COUNT", "1.5", "whole number"),
    ("LIQUIDITY_PROXY_COUNT", "-1", "must lie in"),
])
def test_a_bad_rate_limit_setting_stops_start_up_naming_the_variable(name, value, words):
    with pytest.raises(ConfigError) as error:
        load_settings({name: value})
    assert str(error.value).startswith(name)
    assert words in str(error.value)


def test_rate_limit_settings_defaults_and_overrides():
    defaults = load_settings({})
    assert defaults["RATELIMIT_ENABLED"] is True
    assert defaults["RATELIMIT_STORAGE_URI"] == "memory://"
    assert defaults["PROXY_COUNT"] == 0
    custom = load_settings({"LIQUIDITY_RATELIMIT_ENABLED": "off", "LIQUIDITY_RATELIMIT_API": "10/second; 1000/day",
                            "LIQUIDITY_RATELIMIT_STORAGE_URL": "redis://cache:6379/0", "LIQUIDITY_PROXY_COUNT": "2"})
    assert custom["RATELIMIT_ENABLED"] is False
    assert custom["RATELIMIT_API"] == "10/second; 1000/day"
    assert custom["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    assert custom["PROXY_COUNT"] == 2


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server of its own on a free loopback port, no persistence; CI fails without it."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Redis: {reason}")
        pytest.skip(reason)
    import redis

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_two_instances_on_one_redis_share_the_limit(limited_app, redis_url):
    import redis

    settings = {"RATELIMIT_API": "3 per minute", "RATELIMIT_STORAGE_URI": redis_url}
    first = limited_app(**settings).test_client()
    second = limited_app(**settings).test_client()
    assert [first.post("/api/v1/predict", json=BITCOIN).status_code for _ in range(2)] == [200, 200]
    assert second.post("/api/v1/predict", json=BITCOIN).status_code == 200
    refused = first.post("/api/v1/predict", json=BITCOIN)
    assert refused.status_code == 429
    assert refused.get_json()["retry_after"] >= 1
    assert second.post("/api/v1/predict", json=BITCOIN).status_code == 429
    # The counters really are in Redis, not in either process.
    assert redis.Redis.from_url(redis_url).keys("LIMITS:*")


def test_settings_from_the_environment_reach_redis(trained_dir, report_dir, redis_url, monkeypatch):
    from liquidity.web import create_app

    monkeypatch.setenv("LIQUIDITY_RATELIMIT_STORAGE_URL", redis_url)
    monkeypatch.setenv("LIQUIDITY_RATELIMIT_FORMS", "1 per hour")
    # No RATELIMIT_ENABLED in the test mapping: the environment's default (on) holds.
    config = {"TESTING": True, "ARTIFACT_PATHS": ArtifactPaths.in_folder(trained_dir), "REPORT_DIR": report_dir}
    client = create_app(config).test_client()
    assert client.get("/predict", query_string=BITCOIN_FORM).status_code == 200
    response = client.get("/predict", query_string=BITCOIN_FORM)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 60
