import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from liquidity.artifacts import CARD_FILE, MODEL_FILE, PREDICTIONS_FILE, SCALER_FILE, read_card, sha256_file
from liquidity.dataset import load_snapshots, make_pairs
from liquidity.features import with_features
from liquidity.paths import DATASET_DIR, PROJECT_ROOT

pytestmark = pytest.mark.slow  # executes every notebook

NOTEBOOKS = [
    PROJECT_ROOT / "EDA_REPORT" / "eda.ipynb",
    PROJECT_ROOT / "NORMALIZATION_&_PREDICTION" / "featureengineering.ipynb",
    PROJECT_ROOT / "NORMALIZATION_&_PREDICTION" / "Normalization_Prediction.ipynb",
]
# Reads the committed model's held-out forecasts, not snapshots: its parameter is the model's folder.
CALIBRATION_NOTEBOOK = PROJECT_ROOT / "NORMALIZATION_&_PREDICTION" / "Interval_Calibration.ipynb"
DATA_LINE = "DATA = None  # a file or folder; None -> DATASET/ if it has CSVs, else the test fixtures"
ARTIFACT_LINE = "ARTIFACT_DIR = None  # None -> a temporary folder; never the committed model"
MODEL_DIR_LINE = "MODEL_DIR = None  # a trained model's folder (card, held-out forecasts); None -> the committed one"
CELL_TIMEOUT = 300
# On DATASET/ (65,841 rows) each notebook runs in under 60 s on 2 cores (EDA 5 s, features 3 s, training 22 s; its
# training cell took 40 s with the cores shared by four test runs). A cell past this generous bound fails the run,
# so a per-row loop like the one that once held the EDA notebook for ten minutes cannot come back unnoticed.
DATASET_CELL_TIMEOUT = 120


@pytest.fixture(autouse=True)
def this_venvs_kernel(monkeypatch):
    """Make the python3 kernelspec that ipykernel installed in this venv win over any user-wide one.

    Its argv starts with "python", which jupyter_client replaces by sys.executable: the kernel runs
    the interpreter (and the editable liquidity package) of the test run.
    """
    monkeypatch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))


def set_parameter(notebook, line, value):
    """Replace the parameter line in the first code cell by `NAME = value`."""
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert line in first.source, f"the first code cell should start with {line!r}"
    first.source = first.source.replace(line, f"{line.split(' =')[0]} = {value!r}")


def execute(path, timeout=CELL_TIMEOUT, **parameters):
    notebook = nbformat.read(path, as_version=4)
    lines = {"DATA": DATA_LINE, "ARTIFACT_DIR": ARTIFACT_LINE, "MODEL_DIR": MODEL_DIR_LINE}
    for name, value in parameters.items():
        set_parameter(notebook, lines[name], value)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def outputs_text(notebook):
    return "\n".join(output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
                     for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)


@pytest.mark.parametrize("path, parameter", [*((path, DATA_LINE) for path in NOTEBOOKS),
                                             (CALIBRATION_NOTEBOOK, MODEL_DIR_LINE)],
                         ids=lambda value: getattr(value, "name", ""))
def test_notebook_is_stored_without_outputs(path, parameter):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert parameter in code[0].source
    assert notebook.metadata.kernelspec.name == "python3"


def test_eda_notebook_runs_top_to_bottom(snapshots_dir):
    notebook = execute(NOTEBOOKS[0], DATA=str(snapshots_dir))
    text = outputs_text(notebook)
    assert "37 rows read, 37 kept" in text
    assert "1 stablecoin(s) by behaviour" in text
    assert len(images(notebook)) == 8  # six column histograms, the ratio and the score


def test_feature_engineering_notebook_runs_top_to_bottom(snapshots_dir):
    notebook = execute(NOTEBOOKS[1], DATA=str(snapshots_dir))
    assert "37 rows over 3 dates -> 24 pairs" in outputs_text(notebook)


def test_training_notebook_writes_only_to_its_artifact_folder_and_predicts(snapshots_dir, tmp_path):
    committed = {name: sha256_file(PROJECT_ROOT / name) for name in (MODEL_FILE, SCALER_FILE, CARD_FILE)}
    notebook = execute(NOTEBOOKS[2], DATA=str(snapshots_dir), ARTIFACT_DIR=str(tmp_path))
    assert {p.name for p in tmp_path.iterdir()} == {MODEL_FILE, SCALER_FILE, CARD_FILE, "cv_predictions.csv.gz"}
    assert {name: sha256_file(PROJECT_ROOT / name) for name in committed} == committed
    text = outputs_text(notebook)
    assert f"writing artifacts to {tmp_path}" in text
    assert "time-ordered: 2 split(s), 12 rows tested at every horizon" in text and "1-day, history path" in text
    assert "level " in text and "Forecast(score=" in text


@pytest.fixture(scope="module")
def dataset():
    """The snapshots of DATASET/ (the committed 90-day slice of the daily history, plus any CSV a user added)."""
    return load_snapshots(DATASET_DIR)


def images(notebook):
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]


def test_eda_notebook_runs_on_dataset_as_a_user_would(dataset):
    from liquidity.report import absent_columns, find_outliers, stablecoin_coins

    frame = dataset.frame
    notebook = execute(NOTEBOOKS[0], timeout=DATASET_CELL_TIMEOUT)  # DATA left at None
    text = outputs_text(notebook)
    assert f"reading {DATASET_DIR}" in text
    assert f"{dataset.rows_read} rows read, {len(frame)} kept" in text
    stablecoins = len(stablecoin_coins(frame))
    assert stablecoins > 0 and f"{stablecoins} stablecoin(s) by behaviour" in text
    for category, rows in find_outliers(frame).items():
        assert f"{category}: {len(rows)} row(s)" in text
    absent = absent_columns(frame)
    assert f"no value in: {', '.join(absent) if absent else 'none'}" in text
    assert len(images(notebook)) == 6 - len(absent) + 2  # the columns with values, the ratio and the score


def test_feature_engineering_notebook_runs_on_dataset_as_a_user_would(dataset):
    notebook = execute(NOTEBOOKS[1], timeout=DATASET_CELL_TIMEOUT)
    pairs = make_pairs(with_features(dataset.frame))
    text = outputs_text(notebook)
    assert f"{len(dataset.frame)} rows over {len(dataset.dates)} dates -> {len(pairs)} pairs" in text
    assert len(images(notebook)) == 1  # the correlation heatmap


def test_training_notebook_runs_on_dataset_as_a_user_would(tmp_path):
    committed = {name: sha256_file(PROJECT_ROOT / name) for name in (MODEL_FILE, SCALER_FILE, CARD_FILE)}
    notebook = execute(NOTEBOOKS[2], timeout=DATASET_CELL_TIMEOUT, ARTIFACT_DIR=str(tmp_path))
    assert {p.name for p in tmp_path.iterdir()} == {MODEL_FILE, SCALER_FILE, CARD_FILE, "cv_predictions.csv.gz"}
    assert {name: sha256_file(PROJECT_ROOT / name) for name in committed} == committed
    text = outputs_text(notebook)
    assert f"reading {DATASET_DIR}" in text
    assert "time-ordered: 2 split(s)" in text and "1-day, history path" in text
    assert "level " in text and "Forecast(score=" in text


def test_interval_calibration_notebook_recomputes_the_committed_cards_coverage_and_writes_nothing():
    folder = CALIBRATION_NOTEBOOK.parent
    before = {path.name: sha256_file(path) for path in folder.iterdir() if path.is_file()}
    committed = {name: sha256_file(PROJECT_ROOT / name) for name in (CARD_FILE, PREDICTIONS_FILE)}
    notebook = execute(CALIBRATION_NOTEBOOK, timeout=DATASET_CELL_TIMEOUT)  # MODEL_DIR left at None
    text = outputs_text(notebook)
    assert "coverage recomputed = model_card.json's at every horizon" in text
    card = read_card(PROJECT_ROOT / CARD_FILE)
    last_month = card["conformal"]["coverage"]["30"]["by_month"][-1]
    # The month table's last row: the 30-day test period's December holds one date.
    assert re.search(rf"{last_month['month']}\s+1\s+{last_month['rows']}\s+{last_month['coverage80']:.1%}", text)
    tables = "".join(output.get("data", {}).get("text/html", "") for cell in notebook.cells
                     if cell.cell_type == "code" for output in cell.outputs)
    assert "<th>the card's: 14 dates, spread factor (3 fresh days, ** 0.5)</th>" in tables
    assert tables.count("<th>misses / fresh 1-day miss (") == 6 and tables.count("against today's score") == 4
    assert len(images(notebook)) == 1  # coverage per date and month
    assert {path.name: sha256_file(path) for path in folder.iterdir() if path.is_file()} == before
    assert {name: sha256_file(PROJECT_ROOT / name) for name in committed} == committed


def test_interval_calibration_notebook_stops_when_the_card_disagrees_with_its_forecasts(tmp_path):
    card = read_card(PROJECT_ROOT / CARD_FILE)
    card["conformal"]["coverage"]["7"]["coverage80"] += 0.01
    (tmp_path / CARD_FILE).write_text(json.dumps(card))
    shutil.copy(PROJECT_ROOT / PREDICTIONS_FILE, tmp_path / PREDICTIONS_FILE)
    with pytest.raises(CellExecutionError, match="differs from model_card.json"):
        execute(CALIBRATION_NOTEBOOK, timeout=DATASET_CELL_TIMEOUT, MODEL_DIR=str(tmp_path))


def test_a_failing_cell_fails_the_run(tmp_path):
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    notebook.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('this cell fails')"))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(notebook, broken)
    with pytest.raises(CellExecutionError, match="this cell fails"):
        execute(broken)


def test_a_cell_past_its_timeout_fails_the_run(tmp_path):
    from nbclient.exceptions import CellTimeoutError

    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    notebook.cells.insert(2, nbformat.v4.new_code_cell("import time\ntime.sleep(30)"))
    slow = tmp_path / "slow.ipynb"
    nbformat.write(notebook, slow)
    with pytest.raises(CellTimeoutError):
        execute(slow, timeout=1)


def test_training_notebook_refuses_the_committed_model_folder():
    from liquidity.notebook import resolve_artifact_dir

    with pytest.raises(ValueError, match="committed model"):
        resolve_artifact_dir(PROJECT_ROOT)
    temporary = resolve_artifact_dir()
    try:
        assert temporary.is_dir() and not any(temporary.iterdir())
        assert temporary.resolve() != PROJECT_ROOT
    finally:
        temporary.rmdir()


def test_notebook_data_defaults_to_dataset_csvs_then_to_the_fixtures(tmp_path, monkeypatch):
    from liquidity import notebook

    monkeypatch.setattr(notebook, "DATASET_DIR", tmp_path)
    assert notebook.resolve_data() == notebook.FIXTURE_SNAPSHOTS
    (tmp_path / "README.md").write_text("not a snapshot")
    assert notebook.resolve_data() == notebook.FIXTURE_SNAPSHOTS
    (tmp_path / "mine.csv").write_text("coin\n")
    assert notebook.resolve_data() == tmp_path
    assert notebook.resolve_data("elsewhere.csv") == Path("elsewhere.csv")
