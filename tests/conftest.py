"""Shared fixtures: the hand-made data, the market store on each backend filled with it, a quick model trained on
it, and apps and clients on that model."""

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings

from liquidity.artifacts import ArtifactPaths
from liquidity.modeling.predict import LiquidityModel
from liquidity.modeling.train import QUICK_GRID, train
from liquidity.store import MarketStore, parse_database_url
from liquidity.store.importer import import_snapshots
from liquidity.store.schema import metadata, prediction_log

FIXTURES = Path(__file__).parent / "fixtures"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
BACKENDS = ("sqlite", "postgresql")

# The property tests assert what holds, not how fast: a shared, loaded machine must not fail them on Hypothesis's
# 200 ms per-example deadline (performance is measured by the benchmarks).
hypothesis_settings.register_profile("no_deadline", deadline=None)
hypothesis_settings.load_profile("no_deadline")


def pytest_configure(config):
    """Register the marker that runs a test on both backends."""
    config.addinivalue_line("markers", "sqlite_and_postgresql: run each test that uses store_url once per backend, "
                                       "PostgreSQL being the server at TEST_DATABASE_URL")


def pytest_generate_tests(metafunc):
    """Give store_url both backends in tests marked sqlite_and_postgresql; elsewhere it is SQLite only."""
    if "store_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("sqlite_and_postgresql"):
        metafunc.parametrize("store_url", BACKENDS, indirect=True)


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


def synthetic_history(days=200, coins=40, seed=0):
    """Return daily rows of coins whose liquidity ratio drifts around a coin's own level: every horizon has targets."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days).strftime("%Y-%m-%d")
    level = rng.normal(-3.0, 1.0, coins)
    log_ratio = level + np.cumsum(rng.normal(0, 0.15, (days, coins)), axis=0) * 0.5
    log_cap = rng.uniform(17, 25, coins) + np.cumsum(rng.normal(0, 0.03, (days, coins)), axis=0)
    price = np.exp(rng.uniform(-5, 8, coins) + np.cumsum(rng.normal(0, 0.03, (days, coins)), axis=0))
    return pd.DataFrame({
        "date": np.repeat(dates, coins), "coin_id": np.tile([f"coin-{i}" for i in range(coins)], days),
        "coin": np.tile([f"Coin {i}" for i in range(coins)], days), "symbol": np.tile([f"C{i}" for i in range(coins)],
                                                                                       days),
        "price": price.ravel(), "volume": np.exp(log_cap + log_ratio).ravel(), "mkt_cap": np.exp(log_cap).ravel()})


@pytest.fixture(scope="session")
def horizons_dir(tmp_path_factory):
    """A synthetic daily history of 200 days and 40 coins: time-ordered splits with the 7- and 30-day targets."""
    folder = tmp_path_factory.mktemp("horizons_history")
    synthetic_history().to_csv(folder / "daily.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def horizons_trained_dir(tmp_path_factory, horizons_dir):
    """Artifacts of a quick model with the 1-, 7- and 30-day horizons, trained on the synthetic history."""
    from liquidity.modeling.train import TrainingConfig

    folder = tmp_path_factory.mktemp("horizons_artifacts")
    train(horizons_dir, folder, grid=QUICK_GRID, n_folds=2, n_jobs=1, verbose=0, progress=lambda _: None,
          config=TrainingConfig(test_days=14, origins=2))
    return folder


@pytest.fixture(scope="session")
def horizons_model(horizons_trained_dir):
    return LiquidityModel.load(ArtifactPaths.in_folder(horizons_trained_dir))


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


# --- the market store ---------------------------------------------------------------------------------------------

def postgres_url():
    """Return TEST_DATABASE_URL when a server answers there; under CI a missing one fails, else it skips."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    reason = None
    if not url:
        reason = "TEST_DATABASE_URL is not set (.ci/postgres starts a server and prints it)"
    else:
        engine = sa.create_engine(parse_database_url(url), connect_args={"connect_timeout": 5})
        try:
            with engine.connect():
                pass
        except sa.exc.DBAPIError as error:
            reason = f"no PostgreSQL server at TEST_DATABASE_URL: {str(error.orig).splitlines()[0]}"
        finally:
            engine.dispose()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the store tests on PostgreSQL too: {reason}")
        pytest.skip(reason)
    return url


def empty_postgres(url):
    """Drop the store's tables (and Alembic's) from the database at url, and return url."""
    engine = sa.create_engine(parse_database_url(url))
    with engine.begin() as connection:
        tables = [table.name for table in reversed(metadata.sorted_tables)]  # dependents first
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {', '.join(tables)}, alembic_version")
    engine.dispose()
    return url


def open_store(url):
    """Open the store at url, migrated to the newest schema, for a test to fill."""
    return MarketStore(url, migrate=True)


def logged(store, *, app=None):
    """Return the prediction log's rows, oldest first, from a MarketStore or the URL of one; given the app that wrote
    them, once its log writer has written what its requests queued."""
    if app is not None:
        from liquidity.web.extensions import prediction_logs

        assert prediction_logs.flush(app), "the prediction log writer did not finish within its timeout"
    if not isinstance(store, MarketStore):
        with MarketStore(store) as opened:
            return logged(opened)
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(prediction_log).order_by(prediction_log.c.id)).mappings().all()
    return pd.DataFrame(rows)


@pytest.fixture
def store_url(request, market_store_in_tmp):
    """The URL of an empty database: the SQLite file at DATABASE_URL, which the app and the commands read; in tests
    marked sqlite_and_postgresql, also the PostgreSQL database at TEST_DATABASE_URL, emptied."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return market_store_in_tmp
    return empty_postgres(postgres_url())


@pytest.fixture
def store(store_url):
    """The empty store at store_url, migrated to the newest schema."""
    with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def snapshots_store(store, snapshots_dir):
    """The store holding the three hand-made snapshot dates (2024-01-01, -02, -04; coins keyed Name:SYMBOL)."""
    import_snapshots(snapshots_dir, store)
    return store


@pytest.fixture
def two_days_store(store, snapshots_dir):
    """The store holding the first two hand-made snapshot dates: 2024-01-04 arrives later in the test."""
    import_snapshots([snapshots_dir / "day1.csv", snapshots_dir / "day2.csv"], store)
    return store


@pytest.fixture
def history_store(store, history_dir):
    """The store holding the two hand-made history dates (2024-03-01, -02): bitcoin and two coins sharing a symbol,
    keyed by CoinGecko id like the fake API."""
    import_snapshots(history_dir, store)
    return store


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


def strict_json(response):
    """Return the response's JSON, failing on NaN or infinities (not JSON)."""
    def refuse(constant):
        raise AssertionError(f"{constant} in a JSON answer")

    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


@pytest.fixture
def horizons_store(store, tmp_path):
    """The store holding the synthetic history's last 40 days (every coin, every day)."""
    history = synthetic_history()
    path = tmp_path / "daily.csv"
    history[history["date"] > "2024-06-08"].to_csv(path, index=False)
    import_snapshots(path, store)
    return store


@pytest.fixture
def horizons_app(make_app, horizons_trained_dir, report_dir):
    """The app on the 1-, 7- and 30-day fixture model."""
    return make_app(horizons_trained_dir, report_dir)


@pytest.fixture
def horizons_client(horizons_app):
    return horizons_app.test_client()


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


@pytest.fixture
def sleeps():
    """The waits coingecko_client asked for, recorded instead of slept."""
    return []


@pytest.fixture
def coingecko_client(coingecko, sleeps):
    """A CoinGecko HTTP client of the fake API: 3 retries, backoff from 0.25 s, waits recorded in sleeps."""
    from liquidity.coingecko import CoinGeckoClient

    with CoinGeckoClient(coingecko.base_url, connect_timeout=2, read_timeout=5, retries=3, backoff=0.25,
                         max_wait=5, sleep=sleeps.append) as client:
        yield client
