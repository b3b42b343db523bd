"""Shared fixtures: the hand-made data, a quick model trained on it, and apps and clients on that model."""

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from liquidity.artifacts import ArtifactPaths
from liquidity.modeling.predict import LiquidityModel
from liquidity.modeling.train import QUICK_GRID, train

FIXTURES = Path(__file__).parent / "fixtures"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def pytest_collection_modifyitems(items):
    """Mark the tests that load the committed 300-tree model (fixture committed_model) as slow."""
    for item in items:
        if "committed_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def snapshots_dir():
    """Three hand-made snapshot dates (2024-01-01, -02, -04)."""
    return FIXTURES / "snapshots"


@pytest.fixture(scope="session")
def broken_dir():
    """Snapshot files that break one rule each."""
    return FIXTURES / "broken"


@pytest.fixture(scope="session")
def history_dir():
    """Two hand-made dates of a coin_id-keyed source without 1h/24h/7d, two coins sharing a symbol."""
    return FIXTURES / "history"


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, snapshots_dir):
    """Artifacts of a quick model trained on the hand-made fixture snapshots."""
    folder = tmp_path_factory.mktemp("artifacts")
    train(snapshots_dir, folder, grid=QUICK_GRID, n_folds=3, n_jobs=1, verbose=0, progress=lambda _: None)
    return folder


@pytest.fixture(scope="session")
def fixture_model(trained_dir):
    return LiquidityModel.load(ArtifactPaths.in_folder(trained_dir))


@pytest.fixture(scope="session", autouse=True)
def no_store_outside_tmp(tmp_path_factory):
    """Point DATABASE_URL at a session's SQLite file before any module- or session-scoped app is created.

    Those apps (the browser tests' live servers) are built before the per-test fixture below runs, and would
    otherwise log their forecasts into instance/market.db (or a developer's own DATABASE_URL).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('session-store')}/market.db")
        yield


@pytest.fixture(autouse=True)
def market_store_in_tmp(tmp_path, monkeypatch):
    """Point DATABASE_URL at a fresh SQLite file, so no test (or its subprocesses) writes instance/market.db."""
    url = f"sqlite:///{tmp_path}/market.db"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


class FormClient(FlaskClient):
    """A test client that can read the CSRF token of a page's form, and that returns once the app's prediction log
    writer has written what the request queued (the app writes it off the request's path: tests/test_logwriter.py)."""

    def open(self, *args, **kwargs):
        from liquidity.web.extensions import prediction_logs

        response = super().open(*args, **kwargs)
        assert prediction_logs.flush(self.application), "the prediction log writer did not finish within its timeout"
        return response

    def csrf_token(self, path="/"):
        """GET path and return the CSRF token of its form."""
        match = CSRF_FIELD.search(self.get(path).get_data(as_text=True))
        assert match, f"no CSRF token on {path}"
        return match.group(1)


@pytest.fixture(scope="session")
def make_app():
    """Return a factory: make_app(artifact_dir, report_dir, **config) is an app on those artifacts, rate limits off,
    that checks the store for new data on every request (tests import data between requests)."""
    from liquidity.web import create_app

    def make(artifact_dir, report_dir, **overrides):
        app = create_app({"TESTING": True, "ARTIFACT_PATHS": ArtifactPaths.in_folder(artifact_dir),
                          "REPORT_DIR": report_dir, "RATELIMIT_ENABLED": False, "STORE_CHECK_SECONDS": 0.0,
                          **overrides})
        app.test_client_class = FormClient
        return app

    return make


@pytest.fixture
def report_dir(tmp_path):
    """An empty folder standing in for EDA_REPORT."""
    folder = tmp_path / "EDA_REPORT"
    folder.mkdir()
    return folder


@pytest.fixture
def app(make_app, trained_dir, report_dir):
    """The app on the fixture model, CSRF on as in production."""
    return make_app(trained_dir, report_dir)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def no_coingecko_settings_from_the_machine(monkeypatch):
    """Keep a developer's CoinGecko key, base URL and proxies out of the tests."""
    for name in ("COINGECKO_API_KEY", "COINGECKO_API_PLAN", "COINGECKO_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def coingecko():
    """A fake CoinGecko API on a loopback port."""
    from fake_coingecko import FakeCoinGecko

    with FakeCoinGecko() as server:
        yield server
