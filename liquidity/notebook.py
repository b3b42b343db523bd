"""Choices the notebooks share (where the data is, where artifacts go), kept here so notebooks hold no logic."""

import tempfile
from pathlib import Path

from liquidity.paths import DATASET_DIR, PROJECT_ROOT

FIXTURE_SNAPSHOTS = PROJECT_ROOT / "tests" / "fixtures" / "snapshots"


def has_csv(folder):
    """Say whether folder holds at least one .csv file."""
    folder = Path(folder)
    return folder.is_dir() and any(p.suffix.lower() == ".csv" and p.is_file() for p in folder.iterdir())


def resolve_data(data=None):
    """Return the snapshot path to read: data if given, else DATASET/ when it holds CSVs, else the test fixtures."""
    if data is not None:
        return Path(data)
    if has_csv(DATASET_DIR):
        return DATASET_DIR
    if has_csv(FIXTURE_SNAPSHOTS):
        return FIXTURE_SNAPSHOTS
    raise FileNotFoundError(f"no snapshot CSVs in {DATASET_DIR} and no test fixtures at {FIXTURE_SNAPSHOTS}; "
                            "set DATA at the top of the notebook")


def resolve_artifact_dir(folder=None):
    """Return folder (created if needed) or a new temporary folder; never the committed model's folder.

    Overwriting the committed model is what `make train` is for, not a notebook run.
    """
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="liquidity-model-"))
    from liquidity.settings import artifact_paths

    folder = Path(folder).resolve()
    if folder in (PROJECT_ROOT, artifact_paths().model.resolve().parent):
        raise ValueError(f"{folder} holds the committed model; pick another folder (retrain it with `make train`)")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
