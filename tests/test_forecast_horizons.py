"""The forecast pipeline at every horizon: each date's intervals calibrated on the outcomes known by then, daily's
recalibration and log, and the forecast command's CSV (--horizon, --out -)."""

import csv
import io
import os
import stat
import threading
from datetime import date, timedelta

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import logged, synthetic_history

from liquidity.commands.store import forecast_command
from liquidity.daily import forecast_and_score
from liquidity.forecasting import (
    FORECAST_COLUMNS,
    MIN_CALIBRATION_ROWS,
    calibration_as_of,
    forecast_market,
    horizon_columns,
)
from liquidity.modeling import conformal
from liquidity.store.calibrations import latest_calibration
from liquidity.store.importer import import_snapshots
from liquidity.store.predictions import log_forecasts, scored_forecasts

DAY = "2024-04-01"  # the synthetic history runs 2024-01-01 .. 2024-07-18, 40 coins a day


def shifted(day, days):
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


@pytest.fixture
def history():
    return synthetic_history()


def add_dates(store, history, tmp_path, first, last):
    """Import the synthetic history's rows dated first..last (text dates, inclusive) into store."""
    path = tmp_path / f"history_{first}_{last}.csv"
    history[(history["date"] >= first) & (history["date"] <= last)].to_csv(path, index=False)
    import_snapshots(path, store)


@pytest.fixture
def model_env(horizons_trained_dir, monkeypatch):
    for name, file in (("MODEL", "tuned_liquidity_model.pkl"), ("SCALER", "liquidity_scaler.pkl"),
                       ("CARD", "model_card.json")):
        monkeypatch.setenv(f"LIQUIDITY_{name}_PATH", str(horizons_trained_dir / file))


def forecast(*args):
    return CliRunner().invoke(forecast_command, list(args))


def persistence_rows(store, first, last, horizon=1, wrong=False):
    """Return log rows forecasting each coin's score `horizon` days after each stored date first..last as today's
    score (or, wrong, as its mirror image: errors far outside any interval)."""
    rows = store.history(start=first, end=last)
    forecast_score = 1.0 - rows["liquidity_score"] if wrong else rows["liquidity_score"]
    return pd.DataFrame({"coin_id": rows["coin_id"], "snapshot_date": rows["date"], "score": rows["liquidity_score"],
                         "forecast_score": forecast_score, "level": "High", "horizon": horizon})


@pytest.mark.sqlite_and_postgresql
def test_a_horizon_is_recalibrated_on_the_outcomes_known_that_day_and_a_future_outcome_moves_nothing(
        store, horizons_model, history, tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", shifted(DAY, 20))
    model = horizons_model
    # 1-day forecasts of the 20 days before DAY: all known on DAY (target <= DAY), 20 x 40 rows.
    log_forecasts(store, persistence_rows(store, shifted(DAY, -20), shifted(DAY, -1)), source="daily",
                  model_version=model.version)
    # A 7-day forecast made 3 days before DAY lands after it: its outcome is stored (the store runs past DAY) but
    # was not known on DAY. Wildly wrong, it would widen the 7-day and 1-day tables if it were read.
    log_forecasts(store, persistence_rows(store, shifted(DAY, -3), shifted(DAY, -3), horizon=7, wrong=True),
                  source="daily", model_version=model.version)
    from liquidity.store.predictions import score_outcomes

    score_outcomes(store)
    before = calibration_as_of(store, model, DAY)
    assert before.recalibrated == (1,)
    assert before.outcomes[1] == 14 * 40 >= MIN_CALIBRATION_ROWS  # the card's 14-day window, 40 coins a day
    assert before.tables["1"]["forecast_dates"] == [shifted(DAY, -14), shifted(DAY, -1)]
    assert before.tables["7"] == model.calibration["7"] and before.tables["30"] == model.calibration["30"]
    # the table conformal draws from the whole log on DAY, found from the window's rows alone
    every = scored_forecasts(store, model.version, (1,))
    assert before.tables["1"] == conformal.calibration_table(every, DAY)
    assert "recalibrated the 1-day intervals on 560 outcomes up to 2024-04-01" in before.summary()
    assert "kept the model card's intervals for 7/30 days: only 0/0 outcomes" in before.summary()

    # Wrong 1-day forecasts of DAY itself and later: outcomes after DAY, stored now, must not move DAY's table.
    log_forecasts(store, persistence_rows(store, DAY, shifted(DAY, 10), wrong=True), source="daily",
                  model_version=model.version)
    score_outcomes(store)
    assert calibration_as_of(store, model, DAY) == before
    # The same rows do count once they are known: the later day's table is wider (the test can see them).
    later = calibration_as_of(store, model, shifted(DAY, 11))
    assert max(later.tables["1"]["half_widths"]["80"]) > max(before.tables["1"]["half_widths"]["80"])


@pytest.mark.sqlite_and_postgresql
def test_a_longer_horizons_table_is_scaled_by_the_fresh_1_day_misses_known_that_day_as_in_training(
        store, horizons_model, history, tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", shifted(DAY, 20))
    model = horizons_model
    assert model.card["conformal"]["spread"] == {"horizon": 1, "fresh_days": conformal.FRESH_DAYS,
                                                 "power": conformal.SPREAD_POWER}
    # 7-day forecasts whose 14-date window is known on DAY, and 1-day ones: right until 4 days before DAY, then
    # wildly wrong for the last three (the fresh misses of the spread factor).
    for first, last, horizon, wrong in ((shifted(DAY, -27), shifted(DAY, -1), 7, False),
                                        (shifted(DAY, -40), shifted(DAY, -4), 1, False),
                                        (shifted(DAY, -3), shifted(DAY, -1), 1, True)):
        log_forecasts(store, persistence_rows(store, first, last, horizon=horizon, wrong=wrong), source="daily",
                      model_version=model.version)
    from liquidity.store.predictions import score_outcomes

    score_outcomes(store)
    before = calibration_as_of(store, model, DAY)
    assert before.recalibrated == (1, 7)
    # the daily path's table is training's: conformal.calibration_table of the 7-day log scaled by the 1-day log's
    every = scored_forecasts(store, model.version, (1, 7))
    week, day = every[every["horizon"] == 7], every[every["horizon"] == 1]
    expected = conformal.calibration_table(week, DAY, shortest=day)
    # (equal but for the last bits of a mean whose rows PostgreSQL may hand over in another order)
    table = before.tables["7"]
    assert {key: value for key, value in table.items() if key not in ("spread_factor", "half_widths")} == {
        key: value for key, value in expected.items() if key not in ("spread_factor", "half_widths")}
    assert table["spread_factor"] == pytest.approx(expected["spread_factor"], rel=1e-12)
    for level, widths in expected["half_widths"].items():
        assert table["half_widths"][level] == pytest.approx(widths, rel=1e-12)
    assert before.tables["7"]["spread_factor"] > 1.5
    unscaled = conformal.calibration_table(week, DAY)["half_widths"]["80"]
    assert min(before.tables["7"]["half_widths"]["80"]) > max(unscaled)
    assert "spread_factor" not in before.tables["1"]  # the shortest horizon's own outcomes are a day old

    # Wrong 1-day forecasts of DAY and later: misses known after DAY must not move DAY's 7-day table.
    log_forecasts(store, persistence_rows(store, DAY, shifted(DAY, 10), wrong=True), source="daily",
                  model_version=model.version)
    score_outcomes(store)
    assert calibration_as_of(store, model, DAY) == before


def test_a_horizon_with_too_few_outcomes_keeps_the_cards_table(store, horizons_model, history, tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    # 30 dates of outcomes but only 5 coins a day: 70 rows in the window, under the minimum.
    rows = persistence_rows(store, shifted(DAY, -30), shifted(DAY, -1))
    log_forecasts(store, rows[rows["coin_id"].isin([f"coin-{i}" for i in range(5)])], source="daily",
                  model_version=horizons_model.version)
    from liquidity.store.predictions import score_outcomes

    score_outcomes(store)
    calibration = calibration_as_of(store, horizons_model, DAY)
    assert calibration.recalibrated == () and calibration.outcomes[1] == 14 * 5
    assert calibration.tables == {str(h): horizons_model.calibration[str(h)] for h in (1, 7, 30)}


@pytest.mark.sqlite_and_postgresql
def test_daily_logs_every_horizon_and_each_is_scored_when_its_target_date_lands(store, horizons_model, history,
                                                                                 tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    result = forecast_and_score(store, horizons_model, "ingest skipped", keep_days=365)
    assert result.forecast == 40 and "each 1/7/30 day(s) ahead" in result.summary()
    table = logged(store)
    assert len(table) == 40 * 3 and set(table["source"]) == {"daily"}
    for horizon in (1, 7, 30):
        rows = table[table["horizon"] == horizon]
        assert len(rows) == 40 and set(rows["target_date"].astype(str)) == {shifted(DAY, horizon)}
        assert (rows["low80"] <= rows["forecast_score"]).all() and (rows["forecast_score"] <= rows["high80"]).all()
        assert (rows["low90"] <= rows["low80"]).all() and (rows["high80"] <= rows["high90"]).all()
        assert rows["volume"].notna().all()

    def scored(horizon):
        rows = logged(store)
        return int(rows.loc[rows["horizon"] == horizon, "realized_score"].notna().sum())

    add_dates(store, history, tmp_path, shifted(DAY, 1), shifted(DAY, 1))
    assert (scored(1), scored(7), scored(30)) == (40, 0, 0)
    add_dates(store, history, tmp_path, shifted(DAY, 2), shifted(DAY, 6))
    assert (scored(1), scored(7), scored(30)) == (40, 0, 0)  # six days later: the 7-day outcome is not in yet
    add_dates(store, history, tmp_path, shifted(DAY, 7), shifted(DAY, 7))
    assert (scored(1), scored(7), scored(30)) == (40, 40, 0)
    rows = logged(store)
    week = rows[rows["horizon"] == 7].set_index("coin_id")["realized_score"]
    then = store.snapshot(shifted(DAY, 7)).set_index("coin_id")["liquidity_score"]
    assert week.to_dict() == pytest.approx(then.to_dict())  # the score 7 days later, not the next snapshot's
    add_dates(store, history, tmp_path, shifted(DAY, 8), shifted(DAY, 30))
    assert scored(30) == 40


@pytest.mark.sqlite_and_postgresql
def test_the_forecast_command_later_gives_each_date_what_daily_gave_that_day(store, store_url, horizons_model,
                                                                            model_env, history, tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    # Three weeks of logged forecasts before DAY: the 1- and 7-day intervals recalibrate on DAY, the 30-day not.
    made = forecast("--start", shifted(DAY, -21), "--end", shifted(DAY, -1), "--out", str(tmp_path / "past.csv"),
                    "--database-url", store_url)
    assert made.exit_code == 0, made.output
    result = forecast_and_score(store, horizons_model, "ingest skipped", keep_days=365)
    assert "recalibrated the 1/7-day intervals" in result.calibration
    assert "kept the model card's intervals for 30 days" in result.calibration
    stored = latest_calibration(store, horizons_model.version)
    assert stored["calibrated_on"] == DAY and stored["tables"]["30"] == horizons_model.calibration["30"]
    assert stored["tables"]["1"] != horizons_model.calibration["1"]
    daily_rows = logged(store)
    daily_rows = daily_rows[daily_rows["source"] == "daily"]

    # A month later: every horizon's outcomes of DAY and after are stored, and must not change DAY's intervals.
    add_dates(store, history, tmp_path, shifted(DAY, 1), shifted(DAY, 40))
    out = tmp_path / "again.csv"
    again = forecast("--date", DAY, "--no-log", "--out", str(out), "--database-url", store_url)
    assert again.exit_code == 0, again.output
    frame = pd.read_csv(out).set_index("coin_id")
    for horizon in (1, 7, 30):
        logged_h = daily_rows[daily_rows["horizon"] == horizon].set_index("coin_id")
        for level in (80, 90):
            for side in ("low", "high"):
                assert frame[f"{side}{level}_{horizon}d"].to_dict() == pytest.approx(
                    logged_h[f"{side}{level}"].to_dict(), abs=1e-12)
    # Recalibrated on DAY + 40 instead, the 1-day interval does differ: the outcomes after DAY are there to be seen.
    later = forecast_market(store, horizons_model, DAY,
                            calibration=calibration_as_of(store, horizons_model, shifted(DAY, 40)).tables)
    assert not later.set_index("coin_id")["low80_1d"].to_dict() == pytest.approx(frame["low80_1d"].to_dict())

    # A re-run the same day stores no second calibration.
    count = latest_calibration(store, horizons_model.version)["id"]
    forecast_and_score(store, horizons_model, "ingest skipped", keep_days=365)
    assert latest_calibration(store, horizons_model.version, on_or_before=DAY)["id"] == count


def test_the_csv_has_todays_columns_then_each_horizons(store, model_env, history, tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    result = forecast("--date", DAY, "--no-log", "--out", "-")
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "-").exists()
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = [*FORECAST_COLUMNS, *horizon_columns(1), *horizon_columns(7), *horizon_columns(30)]
    assert list(rows[0]) == expected and len(rows) == 40
    assert expected[8:14] == ["target_date_1d", "forecast_score_1d", "low80_1d", "high80_1d", "low90_1d", "high90_1d"]
    assert {row["target_date_30d"] for row in rows} == {shifted(DAY, 30)}
    assert all(row["band_low"] == row["low80_1d"] and row["band_high"] == row["high80_1d"] for row in rows)
    assert "wrote 40 forecast(s)" in result.stderr and "to standard output" in result.stderr

    week = forecast("--date", DAY, "--no-log", "--horizon", "7", "--out", "-")
    assert week.exit_code == 0, week.stderr
    assert next(csv.reader(io.StringIO(week.stdout))) == [*FORECAST_COLUMNS, *horizon_columns(7)]


def test_the_csv_goes_into_a_pipe_and_leaves_it_a_pipe(store, model_env, history, tmp_path):
    # --out /dev/null once replaced the device with a regular file (as root): a pipe takes the same path.
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text()))
    reader.start()
    result = forecast("--date", DAY, "--no-log", "--out", str(pipe))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert len(list(csv.DictReader(io.StringIO(received[0])))) == 40


@pytest.mark.parametrize(("value", "words"), [("14", "--horizon 14: the model forecasts 1, 7, 30 day(s) ahead"),
                                              ("1,week", "is not a comma-separated list of days")])
def test_a_horizon_the_model_lacks_is_a_usage_error_naming_it(store, model_env, history, tmp_path, value, words):
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    result = forecast("--date", DAY, "--horizon", value, "--out", str(tmp_path / "f.csv"))
    assert result.exit_code == 2 and words in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "f.csv").exists()


def test_the_command_logs_every_horizon(store, model_env, horizons_model, history, tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    result = forecast("--date", DAY, "--horizon", "7", "--out", str(tmp_path / "f.csv"))
    assert result.exit_code == 0, result.output
    table = logged(store)
    assert sorted(table["horizon"].value_counts().items()) == [(1, 40), (7, 40), (30, 40)]
    assert set(table["source"]) == {"forecast command"}


def test_outcomes_older_than_the_lookback_keep_the_cards_table(store, horizons_model, history, tmp_path):
    add_dates(store, history, tmp_path, "2024-01-01", DAY)
    # 20 dates x 40 coins of 1-day outcomes, but all from 40-60 days before DAY (the daily run stopped since).
    log_forecasts(store, persistence_rows(store, shifted(DAY, -60), shifted(DAY, -41)), source="daily",
                  model_version=horizons_model.version)
    from liquidity.store.predictions import score_outcomes

    score_outcomes(store)
    assert calibration_as_of(store, horizons_model, shifted(DAY, -40)).recalibrated == (1,)
    stale = calibration_as_of(store, horizons_model, DAY)
    assert stale.recalibrated == () and stale.tables["1"] == horizons_model.calibration["1"]
