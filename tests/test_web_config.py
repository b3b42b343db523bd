import importlib.util
import os
import subprocess
import sys

import pytest

from liquidity.paths import PROJECT_ROOT
from liquidity.web import create_app
from liquidity.web.extensions import models
from liquidity.web.settings import ConfigError, load_settings


def test_embedded_defaults_need_no_configuration():
    settings = load_settings({})
    assert settings["LIQUIDITY_ENV"] == "development"
    assert len(settings["SECRET_KEY"]) >= 32
    assert settings["LIQUIDITY_THRESHOLD"] is None
    assert settings["MAX_CONTENT_LENGTH"] == 5 * 1024 * 1024
    assert settings["ARTIFACT_PATHS"].model.parent == PROJECT_ROOT
    assert settings["SESSION_COOKIE_SECURE"] is False


def test_development_key_is_random_per_process_never_fixed():
    assert load_settings({})["SECRET_KEY"] != load_settings({})["SECRET_KEY"]


def test_production_without_secret_key_is_a_clear_start_up_error():
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_settings({"LIQUIDITY_ENV": "production"})


def test_production_with_a_key_is_secure_and_never_debug():
    settings = load_settings({"LIQUIDITY_ENV": "production", "SECRET_KEY": "k" * 64})
    assert settings["SECRET_KEY"] == "k" * 64
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["DEBUG"] is False


def test_production_refuses_the_debugger():
    with pytest.raises(ConfigError, match="FLASK_DEBUG"):
        load_settings({"LIQUIDITY_ENV": "production", "SECRET_KEY": "k" * 64, "FLASK_DEBUG": "1"})


@pytest.mark.parametrize("name, value", [
    ("LIQUIDITY_THRESHOLD", "abc"),
    ("LIQUIDITY_THRESHOLD", "1.5"),
    ("LIQUIDITY_THRESHOLD", "0"),
    ("LIQUIDITY_THRESHOLD", "nan"),
    ("LIQUIDITY_MAX_UPLOAD_MB", "-1"),
    ("LIQUIDITY_MAX_UPLOAD_MB", "lots"),
    ("LIQUIDITY_LOG_LEVEL", "LOUD"),
    ("LIQUIDITY_ENV", "staging"),
    ("LIQUIDITY_STORE_CHECK_SECONDS", "-1"),
    ("LIQUIDITY_STORE_CHECK_SECONDS", "often"),
])
def test_invalid_environment_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_environment_values_are_read():
    settings = load_settings({"LIQUIDITY_THRESHOLD": "0.7", "LIQUIDITY_MAX_UPLOAD_MB": "0.5",
                              "LIQUIDITY_LOG_LEVEL": "warning", "LIQUIDITY_MODEL_PATH": "/m.pkl",
                              "LIQUIDITY_REPORT_DIR": "/r", "SECRET_KEY": "abc", "LIQUIDITY_STORE_CHECK_SECONDS": "30"})
    assert settings["LIQUIDITY_THRESHOLD"] == 0.7
    assert settings["STORE_CHECK_SECONDS"] == 30.0 and load_settings({})["STORE_CHECK_SECONDS"] == 5.0
    assert settings["MAX_CONTENT_LENGTH"] == 512 * 1024
    assert settings["LOG_LEVEL"] == "WARNING"
    assert str(settings["ARTIFACT_PATHS"].model) == "/m.pkl"
    assert str(settings["REPORT_DIR"]) == "/r"
    assert settings["SECRET_KEY"] == "abc"


def test_threshold_setting_reaches_the_model(make_app, trained_dir, report_dir, monkeypatch):
    monkeypatch.setenv("LIQUIDITY_THRESHOLD", "0.8")
    app = make_app(trained_dir, report_dir)
    assert models.get(app).threshold == 0.8


def test_create_app_fails_at_start_up_on_a_bad_setting(monkeypatch):
    monkeypatch.setenv("LIQUIDITY_THRESHOLD", "abc")
    with pytest.raises(ConfigError, match="LIQUIDITY_THRESHOLD='abc' is not a number"):
        create_app()


@pytest.mark.slow
def test_app_module_exposes_the_app_on_the_committed_model():
    spec = importlib.util.spec_from_file_location("app_module", PROJECT_ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.app.test_client().get("/healthz").status_code == 200


def load_gunicorn_config():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", PROJECT_ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("environ, cpus, expected", [({}, 2, 5), ({}, 16, 8), ({"WEB_CONCURRENCY": "3"}, 16, 3),
                                                      ({"WEB_CONCURRENCY": "0"}, 2, 1)])
def test_gunicorn_workers_follow_cores_or_web_concurrency(environ, cpus, expected):
    assert load_gunicorn_config().workers_for(environ, cpus) == expected


def test_gunicorn_logs_access_to_stdout_and_has_a_timeout():
    config = load_gunicorn_config()
    assert config.accesslog == "-"
    assert 0 < config.timeout <= 120


@pytest.mark.slow
def test_starting_the_app_module_in_production_without_a_key_fails_in_one_line():
    environ = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    environ["LIQUIDITY_ENV"] = "production"
    result = subprocess.run([sys.executable, "-c", "import app"], cwd=PROJECT_ROOT, env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().startswith("configuration error: SECRET_KEY is not set")
    assert "Traceback" not in result.stderr


def test_debug_is_a_boolean_that_follows_flask_debug_in_development(make_app, trained_dir, report_dir, monkeypatch):
    assert load_settings({})["DEBUG"] is False
    assert load_settings({"FLASK_DEBUG": "1"})["DEBUG"] is True
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    assert make_app(trained_dir, report_dir).debug is False


def test_coingecko_settings_are_read_and_checked_at_start_up():
    settings = load_settings({"COINGECKO_API_KEY": "k", "COINGECKO_API_PLAN": "pro"})
    assert (settings["COINGECKO_BASE_URL"], settings["COINGECKO_API_KEY"], settings["COINGECKO_API_PLAN"]) == (
        "https://pro-api.coingecko.com/api/v3", "k", "pro")
    with pytest.raises(ConfigError, match="COINGECKO_API_PLAN"):
        load_settings({"COINGECKO_API_PLAN": "enterprise"})
