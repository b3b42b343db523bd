import re
from pathlib import Path

import pytest

from liquidity.artifacts import ArtifactPaths
from liquidity.modeling.predict import LiquidityModel
from liquidity.modeling.train import QUICK_GRID, train

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOTS = FIXTURES / "snapshots"
BROKEN = FIXTURES / "broken"


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory):
    """Artifacts of a quick model trained on the hand-made fixture snapshots."""
    folder = tmp_path_factory.mktemp("artifacts")
    train(SNAPSHOTS, folder, grid=QUICK_GRID, n_folds=3, n_jobs=1, verbose=0, progress=lambda _: None)
    return folder


@pytest.fixture(scope="session")
def fixture_model(trained_dir):
    return LiquidityModel.load(ArtifactPaths.in_folder(trained_dir))


@pytest.fixture(autouse=True)
def market_store_in_tmp(tmp_path, monkeypatch):
    """Point DATABASE_URL at a fresh SQLite file, so no test (or its subprocesses) writes instance/market.db."""
    url = f"sqlite:///{tmp_path}/market.db"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def make_test_config(artifact_dir, report_dir, **overrides):
    """Return the test_config for an app on the artifacts in artifact_dir."""
    return {"TESTING": True, "ARTIFACT_PATHS": ArtifactPaths.in_folder(artifact_dir), "REPORT_DIR": report_dir,
            **overrides}


@pytest.fixture
def report_dir(tmp_path):
    """An empty folder standing in for EDA_REPORT."""
    folder = tmp_path / "EDA_REPORT"
    folder.mkdir()
    return folder


@pytest.fixture
def app(trained_dir, report_dir):
    """The app on the fixture model, CSRF on as in production."""
    from liquidity import create_app

    return create_app(make_test_config(trained_dir, report_dir))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client, path="/"):
    """GET path and return the CSRF token of its form."""
    match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


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
