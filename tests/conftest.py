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
