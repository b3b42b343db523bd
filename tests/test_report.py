import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from liquidity.commands.report import report_command
from liquidity.dataset import load_snapshots
from liquidity.report import FIGURES_DIR, build_report, find_outliers, stablecoin_coins


@pytest.fixture(scope="module")
def built(snapshots_dir, trained_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    report = build_report([snapshots_dir], trained_dir, out)
    return report, report.html.read_text(encoding="utf-8")


def referenced_figures(html):
    return re.findall(r'<img src="(figures/[^"]+)"', html)


def test_report_references_every_figure_and_each_exists_and_is_not_empty(built):
    report, html = built
    referenced = referenced_figures(html)
    on_disk = sorted(p.name for p in (report.html.parent / FIGURES_DIR).iterdir())
    assert sorted(Path(src).name for src in referenced) == on_disk
    for src in referenced:
        path = report.html.parent / src
        assert path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    expected = {"hist_price.png", "hist_1h.png", "hist_24h.png", "hist_7d.png", "hist_volume.png", "hist_mkt_cap.png",
                "liquidity_ratio.png", "liquidity_score.png", "feature_correlations.png", "feature_importances.png",
                "model_comparison.png", "predicted_vs_actual.png", "residuals.png"}
    assert set(on_disk) == expected


def test_report_is_served_safely_under_a_strict_csp(built):
    report, html = built
    assert "<script" not in html
    assert "style=" not in html and "<style" not in html
    assert '<link rel="stylesheet" href="report.css">' in html
    assert (report.html.parent / "report.css").stat().st_size > 0


def test_report_numbers_come_from_the_data_and_the_model_card(snapshots_dir, built, trained_dir):
    _, html = built
    snapshots = load_snapshots(snapshots_dir)
    card = json.loads((trained_dir / "model_card.json").read_text())
    forest = card["validation"]["models"]["random_forest"]
    assert f"{snapshots.rows_read} rows read, {len(snapshots.frame)} kept" in html
    assert f"its held-out R² is {forest['r2']:.3f}" in html
    assert f'<td class="num">{forest["mae"]:.3f}</td>' in html
    assert f"Model {card['model_version']}" in html
    assert "Its training files are the files of this report (SHA-256 match)" in html
    assert "as in the model card" in html  # R² recomputed from cv_predictions.csv.gz equals the card's


def test_outlier_table_names_the_fixture_outliers(built):
    _, html = built
    volume_section = html.split("<h3>24h volume above market cap")[1].split("<h3>")[0]
    assert "<td>Frenzy</td><td>FRZ</td><td>2024-01-01</td>" in volume_section
    stable_section = html.split("<h3>stablecoin")[1].split("<h3>")[0]
    assert "<td>Tether</td><td>USDT</td>" in stable_section
    assert "Bitcoin" not in stable_section


def test_stablecoins_are_found_by_behaviour_not_by_name(snapshots_dir):
    frame = load_snapshots(snapshots_dir).frame
    assert stablecoin_coins(frame) == {("Tether", "USDT")}
    frame.loc[frame["coin"] == "Tether", "coin"] = "Renamed Dollar"
    assert stablecoin_coins(frame) == {("Renamed Dollar", "USDT")}
    frame.loc[(frame["coin"] == "Renamed Dollar") & (frame["date"] == "2024-01-02"), "price"] = 1.05
    assert stablecoin_coins(frame) == set()  # off the peg on one snapshot is enough to fail the rule


def test_outliers_count_volume_above_market_cap_and_zero_volume(snapshots_dir):
    frame = load_snapshots(snapshots_dir).frame
    outliers = find_outliers(frame)
    above = outliers["24h volume above market cap"]
    assert list(zip(above["coin"], above["date"])) == [("Frenzy", "2024-01-01"), ("Frenzy", "2024-01-02")]
    assert outliers["zero 24h volume"].empty
    frame.loc[frame["coin"] == "Thin Coin", "volume"] = 0.0
    assert set(find_outliers(frame)["zero 24h volume"]["coin"]) == {"Thin Coin"}


def test_rebuilding_removes_figures_of_an_earlier_build(snapshots_dir, trained_dir, tmp_path):
    stale = tmp_path / FIGURES_DIR / "hist_old_column.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    build_report([snapshots_dir], trained_dir, tmp_path)
    assert not stale.exists()


def test_report_says_when_the_model_was_trained_on_other_data(snapshots_dir, trained_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("day1.csv", "day2.csv"):
        shutil.copy(snapshots_dir / name, data / name)
    html = build_report([data], trained_dir, tmp_path / "out").html.read_text()
    assert "Its training files differ from the files of this report" in html


def run_command(*args):
    return CliRunner().invoke(report_command, list(args))


@pytest.mark.parametrize("case, expected", [
    ("missing folder", "no such file or folder"),
    ("no csv", "no .csv snapshot files"),
    ("single date", "need at least two snapshot dates"),
    ("no model card", "model card not found"),
    ("no predictions", "held-out predictions not found"),
])
def test_command_errors_are_one_line_with_a_non_zero_exit(snapshots_dir, case, expected, trained_dir, tmp_path):
    data, model_dir = str(snapshots_dir), str(trained_dir)
    if case == "missing folder":
        data = str(tmp_path / "absent")
    elif case == "no csv":
        data = str(tmp_path)
    elif case == "single date":
        data = str(snapshots_dir / "day1.csv")
    elif case == "no model card":
        model_dir = str(tmp_path)
    elif case == "no predictions":
        shutil.copy(trained_dir / "model_card.json", tmp_path / "model_card.json")
        model_dir = str(tmp_path)
    result = run_command("--data", data, "--model-dir", model_dir, "--out", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert expected in result.output
    assert result.output.strip().count("\n") == 0
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "report.html").exists()


def test_command_builds_the_report(snapshots_dir, trained_dir, tmp_path):
    result = run_command("--data", str(snapshots_dir), "--model-dir", str(trained_dir), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "with 13 figures" in result.output
    assert (tmp_path / "report.html").stat().st_size > 0


def test_committed_report_references_only_committed_figures():
    from liquidity.report import DEFAULT_OUT

    html = (DEFAULT_OUT / "report.html").read_text(encoding="utf-8")
    referenced = referenced_figures(html)
    assert len(referenced) == 13
    for src in referenced:
        assert (DEFAULT_OUT / src).stat().st_size > 0
    assert sum(p.stat().st_size for p in DEFAULT_OUT.rglob("*") if p.is_file()) < 2_000_000


def test_command_registers_as_a_flask_cli_command(snapshots_dir, trained_dir, tmp_path):
    from flask import Flask

    app = Flask(__name__)
    app.cli.add_command(report_command)
    result = app.test_cli_runner().invoke(
        args=["report", "--data", str(snapshots_dir), "--model-dir", str(trained_dir), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").is_file()


@pytest.mark.slow
def test_importing_the_report_module_does_not_need_the_plotting_libraries():
    import subprocess
    import sys

    code = "import sys, liquidity.report; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"  # the app can register the command without dev requirements


def test_command_without_plotting_libraries_says_what_to_install(snapshots_dir, trained_dir, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError, as without it
    result = run_command("--data", str(snapshots_dir), "--model-dir", str(trained_dir), "--out", str(tmp_path))
    assert result.exit_code != 0
    assert "pip install -r requirements-dev.txt" in result.output
    assert result.output.strip().count("\n") == 0


SHARED_SNAPSHOTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coingecko"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_SNAPSHOTS.is_dir(), reason="the shared snapshots are not beside the repository")
def test_committed_report_is_up_to_date_with_the_data_and_the_committed_model(tmp_path):
    from liquidity.paths import PROJECT_ROOT
    from liquidity.report import DEFAULT_OUT

    fresh = build_report([SHARED_SNAPSHOTS], PROJECT_ROOT, tmp_path).html.read_text(encoding="utf-8")
    committed = (DEFAULT_OUT / "report.html").read_text(encoding="utf-8")
    assert fresh == committed, "EDA_REPORT/report.html is stale: rebuild it with `make report` and commit it"
