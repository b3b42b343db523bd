"""Every command on bad folders and files: one line on stderr, a non-zero exit, no traceback, nothing written."""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from liquidity.commands import cli
from liquidity.paths import PROJECT_ROOT


def make_case(snapshots_dir, name, root):
    """Create the bad input called name under root and return (data path, out path, expected error text)."""
    out = root / "out"
    if name == "missing folder":
        return root / "nowhere", out, "no such file or folder"
    if name == "empty folder":
        (root / "empty").mkdir()
        return root / "empty", out, "no .csv snapshot files"
    if name == "unreadable file":
        # Tests run as root, so chmod 000 does not stop reads; /proc/self/mem does: reading it at 0 is EIO.
        (root / "data").mkdir()
        (root / "data" / "day1.csv").symlink_to("/proc/self/mem")
        shutil.copy(snapshots_dir / "day2.csv", root / "data" / "day2.csv")
        return root / "data", out, "day1.csv: cannot read file (OSError"
    if name == "invalid bytes":
        (root / "data").mkdir()
        (root / "data" / "day1.csv").write_bytes(b"coin,symbol,price\xff\xfe\n\x00\x01")
        return root / "data", out, "cannot read file"
    if name == "single snapshot date":
        return snapshots_dir / "day1.csv", out, "need at least two snapshot dates"
    if name == "out is under a file":
        (root / "file").write_text("not a folder")
        return snapshots_dir, root / "file" / "out", "Not a directory"
    raise ValueError(name)


CASES = ["missing folder", "empty folder", "unreadable file", "invalid bytes", "single snapshot date",
         "out is under a file"]
SUBPROCESS_CASES = ["missing folder", "unreadable file", "single snapshot date"]  # each costs a fresh interpreter


def run(args, cwd):
    environ = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def train_runs(snapshots_dir, tmp_path_factory):
    """Run `python -m liquidity train` on every bad case, in parallel (each is a fresh interpreter)."""
    jobs = {}
    for name in SUBPROCESS_CASES:
        root = tmp_path_factory.mktemp(name.replace(" ", "_"))
        data, out, expected = make_case(snapshots_dir, name, root)
        args = ["-m", "liquidity", "train", "--data", str(data), "--out", str(out), "--quick", "--jobs", "1"]
        jobs[name] = (args, root, out, expected)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(lambda job: run(job[0], PROJECT_ROOT), jobs.values())))
    return {name: (results[name], jobs[name][2], jobs[name][3]) for name in jobs}


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_train_module_fails_in_one_line_without_a_traceback(train_runs, name):
    result, out, expected = train_runs[name]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and expected in error[0], result.stderr[-2000:]
    assert not (out / "model_card.json").exists()


def invoke(*args):
    """Run `python -m liquidity ARGS` in this process; return click's Result (stdout and stderr apart)."""
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.mark.parametrize("name", CASES)
def test_train_command_fails_in_one_line(snapshots_dir, tmp_path, name):
    data, out, expected = make_case(snapshots_dir, name, tmp_path)
    result = invoke("train", "--data", data, "--out", out, "--quick", "--jobs", "1")
    assert result.exit_code == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and expected in error[0]
    assert not (out / "model_card.json").exists()


@pytest.mark.parametrize("name", ["missing folder", "invalid bytes", "single snapshot date", "out is under a file"])
def test_flask_train_command_fails_in_one_line(snapshots_dir, runner, tmp_path, name):
    data, out, expected = make_case(snapshots_dir, name, tmp_path)
    result = runner.invoke(args=["train", "--data", str(data), "--out", str(out), "--quick", "--folds", "2"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert expected in result.output.strip().splitlines()[-1]


@pytest.mark.slow
def test_flask_train_runs_as_a_real_command_and_fails_in_one_line(tmp_path):
    result = run(["-m", "flask", "--app", "app", "train", "--data", str(tmp_path / "nowhere"), "--out",
                  str(tmp_path / "out")], PROJECT_ROOT)
    assert result.returncode != 0
    assert result.stderr.strip() == f"Error: {tmp_path / 'nowhere'}: no such file or folder"


@pytest.mark.parametrize("name", ["missing folder", "empty folder", "unreadable file", "invalid bytes",
                                  "single snapshot date"])
def test_dataset_summary_fails_in_one_line(snapshots_dir, tmp_path, name):
    data, _, expected = make_case(snapshots_dir, name, tmp_path)
    result = invoke("dataset", data)
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert err.count("\n") == 0 and expected in err


@pytest.mark.parametrize("name", ["missing folder", "invalid bytes"])
def test_verify_fails_in_one_line(snapshots_dir, tmp_path, name):
    data, _, expected = make_case(snapshots_dir, name, tmp_path)
    result = invoke("verify", "--data", data)
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert err.count("\n") == 0 and expected in err


def test_verify_with_a_missing_card_fails_in_one_line(snapshots_dir, tmp_path):
    result = invoke("verify", "--data", snapshots_dir, "--card", tmp_path / "nope.json")
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert err.count("\n") == 0 and "nope.json" in err


@pytest.mark.slow
def test_ingest_with_an_unreachable_api_fails_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run(["-m", "liquidity", "ingest", "--base-url", "http://127.0.0.1:9", "--retries", "0", "--coins", "5",
                  "--out", str(tmp_path / "file" / "sub")], PROJECT_ROOT)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "Error: cannot reach CoinGecko at http://127.0.0.1:9 (offline or wrong base URL; " \
                                    "1 attempts)"


@pytest.mark.parametrize("args, message", [
    (["--folds", "1"], "Invalid value for '--folds': 1 is not in the range 2<=x<=20"),
    (["--threshold", "5"], "Invalid value for '--threshold': 5.0 is not in the range 0<x<=1"),
    (["--threshold", "x"], "Invalid value for '--threshold': 'x' is not a valid float")])
def test_train_command_refuses_bad_options_before_training(snapshots_dir, tmp_path, args, message):
    result = invoke("train", "--data", snapshots_dir, "--out", tmp_path, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["missing folder", "empty folder", "unreadable file", "invalid bytes",
                                  "single snapshot date"])
def test_report_command_fails_in_one_line(snapshots_dir, runner, tmp_path, name):
    data, out, expected = make_case(snapshots_dir, name, tmp_path)
    result = runner.invoke(args=["report", "--data", str(data), "--model-dir", str(PROJECT_ROOT), "--out", str(out)])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert expected in result.output.strip().splitlines()[-1]
    assert not (out / "report.html").exists()


def test_report_command_without_a_model_fails_in_one_line(snapshots_dir, runner, tmp_path):
    result = runner.invoke(args=["report", "--data", str(snapshots_dir), "--model-dir", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1].endswith("model card not found (train a model first)")


def test_report_command_with_an_out_folder_it_cannot_create_fails_in_one_line(snapshots_dir, runner, tmp_path,
                                                                             trained_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = runner.invoke(args=["report", "--data", str(snapshots_dir), "--model-dir", str(trained_dir),
                                 "--out", str(blocker / "report")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert "a-file" in result.output.strip().splitlines()[-1]


def run_verify(*args):
    from click.testing import CliRunner

    from liquidity.commands.model import verify_command

    return CliRunner().invoke(verify_command, [str(arg) for arg in args])


def test_verify_passes_on_the_data_and_card_it_was_trained_on_and_fails_when_a_figure_moved(snapshots_dir, trained_dir,
                                                                                          tmp_path):
    import json
    import shutil

    passed = run_verify("--data", snapshots_dir, "--card", trained_dir / "model_card.json")
    assert passed.exit_code == 0, passed.output
    assert str(trained_dir / "model_card.json") in passed.output
    copy = tmp_path / "copy"
    shutil.copytree(trained_dir, copy)
    card = json.loads((copy / "model_card.json").read_text())
    card["verification"]["validation"]["models"]["random_forest"]["r2"] += 0.001
    (copy / "model_card.json").write_text(json.dumps(card))
    failed = run_verify("--data", snapshots_dir, "--card", copy / "model_card.json")
    assert failed.exit_code == 1
    assert "verification.validation.models.random_forest.r2" in failed.output


def test_verify_reads_the_pkls_beside_the_card_it_is_given(snapshots_dir, trained_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_dir, copy)
    (copy / "tuned_liquidity_model.pkl").write_bytes(b"not the model")
    result = run_verify("--data", snapshots_dir, "--card", copy / "model_card.json")
    assert result.exit_code == 1
    assert str(copy / "tuned_liquidity_model.pkl") in result.output and "SHA-256" in result.output
