import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
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


def hand_made_frame():
    """Return eight rows over two dates whose outliers are known by construction."""
    from liquidity.dataset import add_liquidity_score

    nan = float("nan")
    rows = [  # coin, symbol, date, price, 1h, 24h, volume, mkt_cap
        ("Dollar", "USDX", "2024-01-01", 1.000, 0.000, 0.001, 5e8, 9e8),
        ("Dollar", "USDX", "2024-01-02", 0.995, 0.000, -0.005, 4e8, 9e8),
        ("Hourly Dollar", "HUSD", "2024-01-01", 1.010, 0.002, nan, 1e7, 2e8),  # no 24h: the 1h change counts
        ("Hourly Dollar", "HUSD", "2024-01-02", 0.990, -0.003, nan, 0.0, 2e8),
        ("Slipped Dollar", "SUSD", "2024-01-01", 1.000, 0.000, 0.000, 1e6, 5e7),
        ("Slipped Dollar", "SUSD", "2024-01-02", 0.950, 0.000, -0.050, 2e6, 5e7),  # off the peg once
        ("Frenzy", "FRZ", "2024-01-01", 3.0, 0.100, 0.300, 9e8, 3e8),
        ("Frenzy", "FRZ", "2024-01-02", 1.0, 0.010, 0.005, 8e8, 1e8),  # near 1 USD but only for a day
    ]
    columns = ["coin", "symbol", "date", "price", "1h", "24h", "volume", "mkt_cap"]
    return add_liquidity_score(pd.DataFrame(rows, columns=columns))


def test_outliers_of_a_hand_made_frame_are_the_rows_built_to_be_outliers():
    frame = hand_made_frame()
    assert stablecoin_coins(frame) == {("Dollar", "USDX"), ("Hourly Dollar", "HUSD")}
    outliers = find_outliers(frame)
    assert list(outliers) == ["24h volume above market cap", "stablecoin", "zero 24h volume"]
    assert list(outliers["24h volume above market cap"].index) == [7, 6]  # largest ratio first: 8 before 3
    assert list(outliers["stablecoin"].index) == [0, 1, 2, 3]  # largest market cap first, then date
    assert list(outliers["zero 24h volume"].index) == [3]
    for rows in outliers.values():
        assert list(rows.columns) == list(frame.columns)
        pd.testing.assert_frame_equal(rows, frame.loc[rows.index])


def test_a_frame_without_stablecoins_has_an_empty_stablecoin_table():
    frame = hand_made_frame()
    frame = frame[frame["coin"] == "Frenzy"]
    assert stablecoin_coins(frame) == set()
    assert find_outliers(frame)["stablecoin"].empty


def daily_frame(prices):
    """Return a daily-history frame (no 1h or 24h column values) from {coin_id: [(date, price), ...]}."""
    from liquidity.dataset import add_liquidity_score

    nan = float("nan")
    rows = [(coin_id, coin_id.title(), coin_id.upper(), date, price, nan, nan, nan, 1e6, 1e8)
            for coin_id, days in prices.items() for date, price in days]
    columns = ["coin_id", "coin", "symbol", "date", "price", "1h", "24h", "7d", "volume", "mkt_cap"]
    return add_liquidity_score(pd.DataFrame(rows, columns=columns))


def test_without_24h_or_1h_the_stablecoin_rule_reads_the_change_since_the_day_before():
    frame = daily_frame({
        "steady": [("2024-01-02", 1.000), ("2024-01-01", 1.005), ("2024-01-03", 0.998)],  # rows out of order
        "wobbly": [("2024-01-01", 1.000), ("2024-01-02", 1.015)],  # on the peg, but moved 1.5 % in a day
        "gapped": [("2024-01-01", 0.985), ("2024-01-03", 1.015)],  # no day before 01-03: judged on price
        "coin": [("2024-01-01", 1.0), ("2024-01-02", 40.0)],
    })
    from liquidity.report import day_over_day_change, price_change

    change = day_over_day_change(frame)
    expected = [1.000 / 1.005 - 1, np.nan, 0.998 / 1.000 - 1, np.nan, 0.015, np.nan, np.nan, np.nan, 39.0]
    np.testing.assert_allclose(change.to_numpy(), expected, rtol=1e-12)
    pd.testing.assert_series_equal(price_change(frame), change, check_names=False)
    assert stablecoin_coins(frame) == {("Steady", "STEADY"), ("Gapped", "GAPPED")}


def site_links(html):
    return set(re.findall(r'<a [^>]*href="(/[^"#]*)"', html))


def test_report_links_every_page_of_the_site_and_only_pages_that_exist(built, app):
    from flask import url_for

    from liquidity.web.errors import SITE_PAGES

    _, html = built
    links = site_links(html)
    with app.test_request_context():
        pages = {url_for(endpoint) for endpoint, _ in SITE_PAGES} | {url_for("health.healthz"),
                                                                      url_for("api.openapi")}
    assert pages <= links, f"the report does not link {sorted(pages - links)}"
    adapter = app.url_map.bind("localhost")
    endpoints = {adapter.match(link, method="GET")[0] for link in links}  # NotFound for a link to nowhere
    # Every blueprint has a linked page, but /live/fill: an action of the home form that needs a coin.
    assert {endpoint.split(".")[0] for endpoint in endpoints} == set(app.blueprints) - {"live"}


def test_report_on_data_without_price_changes_says_so_instead_of_drawing_empty_figures(history_dir, trained_dir,
                                                                                       tmp_path):
    report = build_report([history_dir], trained_dir, tmp_path)
    text = " ".join(report.html.read_text(encoding="utf-8").split())
    assert "This data has no value in 1h, 24h, 7d." in text
    assert {path.name for path in report.figures}.isdisjoint({"hist_1h.png", "hist_24h.png", "hist_7d.png"})
    assert "<tr><td>1h</td>" not in text and "<tr><td>price</td>" in text
    assert "h1, score_lag1, score_lag7, score_lag30, price_change_1d, price_change_7d, volume_change_1d are missing" \
           " on every pair here" in text  # two dates: no history either
    assert "on 2 snapshot dates from 2024-03-01 to 2024-03-02" in text
    assert "3 coins;" in text  # keyed by coin_id: two coins share the symbol ALP


@pytest.mark.slow
def test_report_on_the_daily_demo_slice_describes_daily_history(tmp_path):
    from liquidity.paths import DATASET_DIR, PROJECT_ROOT

    snapshots = load_snapshots(DATASET_DIR)
    report = build_report([DATASET_DIR], PROJECT_ROOT, tmp_path)
    html = report.html.read_text(encoding="utf-8")
    text = " ".join(html.split())
    assert f"on {len(snapshots.dates)} consecutive days from {snapshots.dates[0]} to {snapshots.dates[-1]}" in text
    assert "One row per coin and calendar day" in text
    assert "the daily history records one price, 24-hour volume and market cap per coin and day" in text
    assert "h1 is missing on every pair here" in text
    assert "<th>month</th>" in html and html.count("<tr><td>20") < 40  # rows per month, not per date
    stable = html.split("<h3>stablecoin")[1].split("<h3>")[0]
    assert "<td>Tether</td><td>USDT</td>" in stable  # found through the day-over-day price change
    assert "<td>Bitcoin</td>" not in stable
    assert len(report.figures) == 10  # price, volume, market cap; ratio, score; features; four of the model


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
    assert sorted(Path(src).name for src in referenced) == sorted(p.name for p in (DEFAULT_OUT / FIGURES_DIR).iterdir())
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


# `make report` reads the shared daily history, the data the committed model is trained on, from beside the project.
SHARED_HISTORY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coingecko-history"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_HISTORY.is_dir(), reason="the shared daily history is not beside the repository")
def test_committed_report_is_up_to_date_with_the_data_and_the_committed_model(tmp_path):
    from liquidity.paths import PROJECT_ROOT
    from liquidity.report import DEFAULT_OUT

    fresh = build_report([SHARED_HISTORY], PROJECT_ROOT, tmp_path).html.read_text(encoding="utf-8")
    committed = (DEFAULT_OUT / "report.html").read_text(encoding="utf-8")
    assert fresh == committed, "EDA_REPORT/report.html is stale: rebuild it with `make report` and commit it"


def test_a_kde_of_many_values_is_estimated_on_a_sample_and_draws_the_same_curve():
    from scipy.stats import gaussian_kde

    from liquidity import plots

    logs = np.random.default_rng(1).normal(size=4 * plots.KDE_SAMPLE_SIZE)
    grid = np.linspace(logs.min(), logs.max(), 256)
    full = gaussian_kde(logs)(grid) * len(logs) * 0.1
    sampled = plots._kde_curve(logs, grid, 0.1)
    assert len(plots.kde_sample(logs)) == plots.KDE_SAMPLE_SIZE
    assert np.abs(sampled - full).max() < 0.05 * full.max()  # scaled to every value, not to the sample
    few = logs[:1000]
    assert np.array_equal(plots.kde_sample(few), few)
    np.testing.assert_array_equal(plots._kde_curve(few, grid, 0.1), gaussian_kde(few)(grid) * 1000 * 0.1)


def test_coverage_by_date_draws_each_date_and_each_months_share_over_the_dates_it_holds():
    from liquidity import plots

    dates = ["2024-01-30"] * 4 + ["2024-01-31"] * 4 + ["2024-02-01"] * 2
    inside = [True, True, True, False, True, False, False, False, True, True]
    figure = plots.coverage_by_date(inside, dates, "30-day forecasts")
    per_date, january, february = figure.axes[0].get_lines()
    assert list(per_date.get_ydata()) == [75.0, 25.0, 100.0]
    assert list(january.get_ydata()) == [50.0, 50.0] and january.get_marker() in ("None", None, "")
    assert list(february.get_ydata()) == [100.0, 100.0] and february.get_marker() == "o"  # one date: a dot
    assert figure.axes[0].get_title() == "30-day forecasts: share inside their 80 % interval, 3 dates in 2 months"
