"""The daily command: ingest, score the forecasts the new snapshot settles, forecast and log every coin, prune."""

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from conftest import logged

from liquidity.commands.daily import daily_command
from liquidity.store.predictions import log_forecasts

pytestmark = pytest.mark.usefixtures("no_coingecko_settings_from_the_machine")


@pytest.fixture
def model_env(trained_dir, monkeypatch):
    for name, file in (("MODEL", "tuned_liquidity_model.pkl"), ("SCALER", "liquidity_scaler.pkl"),
                       ("CARD", "model_card.json")):
        monkeypatch.setenv(f"LIQUIDITY_{name}_PATH", str(trained_dir / file))


def run(*args):
    return CliRunner().invoke(daily_command, list(args))


def test_daily_forecasts_then_scores_them_when_the_next_snapshot_arrives(history_store, model_env, coingecko, tmp_path):
    first = run("--skip-ingest")
    assert first.exit_code == 0, first.output
    assert "forecast 3 coin(s) of 2024-03-02, logged" in first.output
    table = logged(history_store)
    assert table["source"].tolist() == ["daily"] * 3 and table["volume"].notna().all()
    assert table["h1"].isna().all()  # the daily history has no 1h: missing, never 0

    second = run("--base-url", coingecko.base_url, "--out", str(tmp_path / "data"), "--date", "2024-03-03")
    assert second.exit_code == 0, second.output
    table = logged(history_store)
    bitcoin = table[(table["coin_id"] == "bitcoin") & (table["snapshot_date"].astype(str) == "2024-03-02")].iloc[0]
    realized = history_store.snapshot("2024-03-03").set_index("coin_id").loc["bitcoin", "liquidity_score"]
    assert bitcoin["realized_score"] == pytest.approx(realized)
    assert "scored 1 logged forecast(s)" in second.output  # the alpha coins are not in the fake's market
    new = table[table["snapshot_date"].astype(str) == "2024-03-03"]
    assert len(new) == len(history_store.snapshot("2024-03-03")) and set(new["source"]) == {"daily"}
    assert (tmp_path / "data" / "coingecko_2024-03-03.csv").is_file()


def test_a_rerun_the_same_day_fetches_nothing_and_logs_nothing_twice(history_store, model_env, coingecko, tmp_path):
    args = ("--base-url", coingecko.base_url, "--out", str(tmp_path / "data"), "--date", "2024-03-03")
    assert run(*args).exit_code == 0
    requests, rows = len(coingecko.market_requests()), len(logged(history_store))
    again = run(*args)
    assert again.exit_code == 0, again.output
    assert "exists already: imported it again (0 new row(s))" in again.output
    assert "were logged already; not repeated" in again.output
    assert len(coingecko.market_requests()) == requests and len(logged(history_store)) == rows


def test_daily_prunes_the_log_to_the_retention_setting(history_store, model_env, monkeypatch):
    now = datetime.now(UTC)
    row = {"forecast_score": 0.5, "level": "High"}
    log_forecasts(history_store, [row], source="form", model_version="old", now=now - timedelta(days=40))
    log_forecasts(history_store, [row], source="form", model_version="old", now=now - timedelta(days=10))
    monkeypatch.setenv("LIQUIDITY_LOG_KEEP_DAYS", "30")
    result = run("--skip-ingest")
    assert result.exit_code == 0, result.output
    assert "pruned 1 log row(s) older than 30 day(s)" in result.output
    assert run("--skip-ingest", "--keep-days", "5").output.count("pruned 1 log row(s) older than 5 day(s)") == 1


@pytest.mark.parametrize(("env", "args", "words"), [
    ({"LIQUIDITY_LOG_KEEP_DAYS": "soon"}, ["--skip-ingest"], "LIQUIDITY_LOG_KEEP_DAYS='soon' must be a whole number"),
    ({}, ["--skip-ingest", "--database-url", "mysql://u@h/db"], "DATABASE_URL uses 'mysql'"),
    ({}, ["--date", "2024-02-30"], "'2024-02-30' is not a date"),
])
def test_daily_errors_are_one_line(history_store, model_env, monkeypatch, env, args, words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = run(*args)
    assert result.exit_code != 0 and words in result.output and "Traceback" not in result.output


def test_an_empty_store_says_to_import_first(market_store_in_tmp, model_env):
    result = run("--skip-ingest")
    assert result.exit_code != 0 and "import snapshots first" in result.output


def test_the_forecast_command_logs_its_rows_unless_told_not_to(history_store, model_env, tmp_path):
    from liquidity.commands.store import forecast_command

    result = CliRunner().invoke(forecast_command, ["--start", "2024-03-01", "--end", "2024-03-02",
                                                   "--out", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    table = logged(history_store)
    assert table["source"].tolist() == ["forecast command"] * history_store.count()
    # the 2024-03-01 forecasts are scored at once: the 2024-03-02 snapshot is stored already
    first = table[table["snapshot_date"].astype(str) == "2024-03-01"].set_index("coin_id")["realized_score"]
    next_scores = history_store.snapshot("2024-03-02").set_index("coin_id")["liquidity_score"]
    assert first.to_dict() == pytest.approx(next_scores.to_dict())
    assert table.loc[table["snapshot_date"].astype(str) == "2024-03-02", "realized_score"].isna().all()
    quiet = CliRunner().invoke(forecast_command, ["--date", "2024-03-02", "--no-log", "--out", str(tmp_path / "g.csv")])
    assert quiet.exit_code == 0 and len(logged(history_store)) == len(table)
