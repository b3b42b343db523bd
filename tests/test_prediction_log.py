"""The prediction log in the market store, on SQLite and PostgreSQL: writing, scoring outcomes, pruning, figures."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from conftest import logged

from liquidity.store import MarketStore, StoreError, migrate
from liquidity.store.predictions import (
    accuracy_by_date,
    coin_log,
    counts,
    forecast_rows,
    inputs_by_day,
    log_forecasts,
    prune,
    score_outcomes,
)
from liquidity.store.schema import first_forecasts, prediction_log
from liquidity.store.store import alembic_config, create_store_engine

RANGES = {"volume": {"min": 0.0, "max": 1e10}, "mkt_cap": {"min": 1e6, "max": 1e12},
          "1h": {"min": -0.1, "max": 0.1}, "price": {"min": 1e-3, "max": 1e5}}


def snapshot(date, rows):
    """A loader-shaped frame: (coin_id, volume, mkt_cap) per coin on date."""
    return pd.DataFrame([{"date": date, "coin_id": coin_id, "coin": coin_id.title(), "symbol": coin_id[:3].upper(),
                          "price": 1.0, "volume": volume, "mkt_cap": mkt_cap, "1h": None, "24h": None, "7d": None}
                         for coin_id, volume, mkt_cap in rows])


DAY1 = snapshot("2024-05-01", [("aaa", 10, 1000), ("bbb", 50, 1000), ("ccc", 90, 1000), ("ddd", 30, 1000)])
# On day 2 the ranks of aaa and ccc swap, and ddd is gone.
DAY2 = snapshot("2024-05-02", [("aaa", 95, 1000), ("bbb", 50, 1000), ("ccc", 5, 1000)])


@pytest.fixture
def day1_stored(store):
    """Add DAY1 (2024-05-01: aaa, bbb, ccc, ddd) to the store."""
    store.add_snapshots(DAY1, source="day1")


# Every test runs on SQLite and PostgreSQL, on a store that holds DAY1.
pytestmark = [pytest.mark.sqlite_and_postgresql, pytest.mark.usefixtures("day1_stored")]


def forecast(coin_id, score, forecast_score, date="2024-05-01", **extra):
    return {"coin_id": coin_id, "snapshot_date": date, "score": score, "forecast_score": forecast_score,
            "level": "High" if forecast_score >= 0.5 else "Low", "band_low": forecast_score - 0.1,
            "band_high": forecast_score + 0.1, **extra}


def test_a_list_is_written_in_one_transaction_with_its_source_and_version(store):
    rows = [forecast("aaa", 0.125, 0.2, volume=10.0, mkt_cap=1000.0, h1=float("nan"), price=1.0),
            forecast("bbb", 0.625, 0.6)]
    assert log_forecasts(store, rows, source="daily", model_version="v1") == 2
    table = logged(store)
    assert table["source"].tolist() == ["daily", "daily"]
    assert table["model_version"].tolist() == ["v1", "v1"]
    assert table["created_at"].nunique() == 1
    assert table["h1"].isna().all()  # NaN is stored as NULL, never 0
    assert table.loc[0, "volume"] == 10.0 and pd.isna(table.loc[1, "volume"])
    assert str(table.loc[0, "snapshot_date"]) == "2024-05-01"


def test_a_failing_row_writes_none_of_the_list(store):
    rows = [forecast("aaa", 0.1, 0.2), {"coin_id": "bbb", "level": "Low"}]  # no forecast_score: NOT NULL fails
    with pytest.raises(StoreError, match="prediction log"):
        log_forecasts(store, rows, source="api", model_version="v1")
    assert logged(store).empty


def test_an_unknown_source_is_refused(store):
    with pytest.raises(ValueError, match="source 'web'"):
        log_forecasts(store, [forecast("aaa", 0.1, 0.2)], source="web", model_version="v1")


def test_the_next_snapshot_scores_the_forecasts_of_the_coins_in_it(store):
    log_forecasts(store, [forecast("aaa", 0.125, 0.2), forecast("ccc", 0.875, 0.8), forecast("ddd", 0.375, 0.4),
                          {"forecast_score": 0.5, "level": "High"}],  # a form forecast: no coin, never scored
                  source="daily", model_version="v1")
    assert score_outcomes(store) == 0  # nothing newer than 2024-05-01 yet
    store.add_snapshots(DAY2, source="day2")  # the import scores them
    table = logged(store).set_index("coin_id", drop=False)
    day2 = store.snapshot("2024-05-02").set_index("coin_id")["liquidity_score"]
    assert table.loc["aaa", "realized_score"] == day2["aaa"] == pytest.approx(5 / 6)
    assert table.loc["ccc", "realized_score"] == day2["ccc"] == pytest.approx(1 / 6)
    assert str(table.loc["aaa", "realized_date"]) == "2024-05-02"
    assert pd.isna(table.loc["ddd", "realized_score"])  # not in the next snapshot: no outcome
    assert table["realized_score"].notna().sum() == 2
    assert score_outcomes(store) == 0  # idempotent


def test_accuracy_compares_the_model_with_persistence_once_per_forecast(store):
    rows = [forecast("aaa", 0.125, 0.7), forecast("ccc", 0.875, 0.8)]
    log_forecasts(store, rows, source="daily", model_version="v1")
    log_forecasts(store, rows[:1], source="coin page", model_version="v1")  # the same forecast seen again
    store.add_snapshots(DAY2, source="day2")
    figures = accuracy_by_date(store, threshold=0.5)
    assert figures[["date", "model_version", "scored"]].values.tolist() == [["2024-05-01", "v1", 2]]
    row = figures.iloc[0]
    # realized: aaa 5/6 (High), ccc 1/6 (Low)
    assert row["model_error"] == pytest.approx(abs(0.7 - 5 / 6) + abs(0.8 - 1 / 6))
    assert row["persistence_error"] == pytest.approx(abs(0.125 - 5 / 6) + abs(0.875 - 1 / 6))
    assert (row["model_hits"], row["persistence_hits"]) == (1, 0)


def test_input_drift_counts_inputs_outside_the_training_range_per_day(store):
    now = datetime(2024, 5, 3, 12, tzinfo=UTC)
    inside = {"volume": 5.0, "mkt_cap": 1e9, "h1": 0.01, "price": 2.0}
    log_forecasts(store, [{"forecast_score": 0.5, "level": "High", **inside},
                          {"forecast_score": 0.5, "level": "High", **inside, "volume": 1e11, "h1": None},
                          {"forecast_score": 0.5, "level": "High", **inside, "price": 1e6}],
                  source="api", model_version="v1", now=now)
    log_forecasts(store, [{"forecast_score": 0.5, "level": "High", **inside, "mkt_cap": 10.0}],
                  source="form", model_version="v1", now=now - timedelta(days=1))
    drift = inputs_by_day(store, RANGES).set_index(["day", "input"])
    assert drift.loc[("2024-05-03", "volume")].tolist() == [3, 1]
    assert drift.loc[("2024-05-03", "1h")].tolist() == [2, 0]  # a missing 1h is neither in nor out
    assert drift.loc[("2024-05-03", "price")].tolist() == [3, 1]
    assert drift.loc[("2024-05-02", "mkt_cap")].tolist() == [1, 1]
    recent = inputs_by_day(store, RANGES, since=now - timedelta(hours=1))
    assert set(recent["day"]) == {"2024-05-03"}
    # An input the model never saw in training (no range in the card): every value given is outside it.
    untrained = inputs_by_day(store, {**RANGES, "1h": {"min": None, "max": None}}).set_index(["day", "input"])
    assert untrained.loc[("2024-05-03", "1h")].tolist() == [2, 2]


def test_prune_keeps_only_the_retention_window(store):
    now = datetime.now(UTC)
    log_forecasts(store, [forecast("aaa", 0.1, 0.2)], source="daily", model_version="v1", now=now - timedelta(days=400))
    log_forecasts(store, [forecast("bbb", 0.1, 0.2)], source="daily", model_version="v1", now=now - timedelta(days=2))
    assert prune(store, keep_days=365, now=now) == 1
    assert logged(store)["coin_id"].tolist() == ["bbb"]
    assert counts(store) == ({"daily": 1}, 0)


def test_a_coins_log_is_one_row_per_snapshot_date_newest_first(store):
    log_forecasts(store, [forecast("aaa", 0.125, 0.3)], source="coin page", model_version="v1")
    log_forecasts(store, [forecast("aaa", 0.125, 0.3)], source="coin page", model_version="v1")
    store.add_snapshots(DAY2, source="day2")
    log_forecasts(store, [forecast("aaa", 5 / 6, 0.7, date="2024-05-02")], source="daily", model_version="v1")
    table = coin_log(store, "aaa")
    assert table["date"].tolist() == ["2024-05-02", "2024-05-01"]
    assert table["realized_score"].iloc[1] == pytest.approx(5 / 6)
    assert pd.isna(table["realized_score"].iloc[0])
    assert coin_log(store, "nobody").empty


def first_logged(store):
    """Return {(coin_id, snapshot date, model version): forecast_score of the row first_forecasts points at}."""
    f, p = first_forecasts, prediction_log
    statement = (sa.select(f.c.coin_id, sa.cast(f.c.snapshot_date, sa.Text), f.c.model_version, p.c.forecast_score)
                 .join_from(f, p, p.c.id == f.c.log_id))
    with store.engine.connect() as connection:
        return {(coin, str(day)[:10], version): value for coin, day, version, value in connection.execute(statement)}


def test_the_first_forecast_per_coin_date_and_version_is_recorded_once(store):
    log_forecasts(store, [forecast("aaa", 0.125, 0.30), forecast("aaa", 0.125, 0.31), {"forecast_score": 0.9,
                                                                                      "level": "High"}],
                  source="api", model_version="v1")
    log_forecasts(store, [forecast("aaa", 0.125, 0.32)], source="coin page", model_version="v1")
    log_forecasts(store, [forecast("aaa", 0.125, 0.40)], source="coin page", model_version="v2")
    # The first row of a key wins, across writes; rows without a coin (the form's) have no key.
    assert first_logged(store) == {("aaa", "2024-05-01", "v1"): 0.30, ("aaa", "2024-05-01", "v2"): 0.40}
    assert coin_log(store, "aaa")["forecast_score"].tolist() == [0.30, 0.40]


def test_pruning_a_first_forecast_points_its_key_at_the_first_row_that_stays(store):
    now = datetime.now(UTC)
    old = now - timedelta(days=400)
    log_forecasts(store, [forecast("aaa", 0.125, 0.30)], source="daily", model_version="v1", now=old)
    log_forecasts(store, [forecast("aaa", 0.125, 0.31)], source="api", model_version="v1", now=now - timedelta(days=3))
    log_forecasts(store, [forecast("aaa", 0.125, 0.32)], source="api", model_version="v1", now=now - timedelta(days=2))
    log_forecasts(store, [forecast("bbb", 0.375, 0.50)], source="daily", model_version="v1", now=old)
    assert prune(store, keep_days=365, now=now) == 2
    # aaa keeps its first remaining row (as grouping the log would say); bbb has none left and is gone.
    assert first_logged(store) == {("aaa", "2024-05-01", "v1"): 0.31}


def test_the_upgrade_records_the_first_forecasts_of_a_log_written_before_it(store):
    url = store.url
    store.close()
    engine = create_store_engine(url)
    with engine.begin() as connection:  # back to a log without the table, as 0003 left it
        command.downgrade(alembic_config(connection), "0003")
    with engine.begin() as connection:
        for value in (0.30, 0.31):
            # The table as 0003 left it: no horizon, target date or intervals yet.
            old_log = sa.table("prediction_log", *(sa.column(name) for name in (
                "created_at", "source", "model_version", "coin_id", "snapshot_date", "forecast_score", "level",
                "band_low", "band_high")))
            connection.execute(old_log.insert().values(
                created_at=datetime.now(UTC), source="api", model_version="v1", coin_id="aaa",
                snapshot_date=datetime(2024, 5, 1).date(), forecast_score=value, level="Low", band_low=0.1,
                band_high=0.5))
    migrate(engine)
    engine.dispose()
    with MarketStore(url) as upgraded:
        assert first_logged(upgraded) == {("aaa", "2024-05-01", "v1"): 0.30}
        # Rows logged before horizons existed were next-snapshot forecasts whose band is their 80 % interval.
        table = logged(upgraded)
        assert table["horizon"].tolist() == [1, 1]
        assert table["low80"].tolist() == [0.1, 0.1] and table["high80"].tolist() == [0.5, 0.5]


def test_forecast_rows_carry_the_snapshot_inputs(store):
    forecasts = pd.DataFrame({"date": ["2024-05-01"], "coin_id": ["aaa"], "symbol": ["AAA"], "score": [0.125],
                              "forecast_score": [0.2], "level": ["Low"], "band_low": [0.1], "band_high": [0.3]})
    row = forecast_rows(forecasts, inputs=store.snapshot("2024-05-01")).iloc[0]
    assert row["volume"] == 10 and row["mkt_cap"] == 1000 and pd.isna(row["h1"])
    assert row["snapshot_date"] == "2024-05-01" and row["forecast_score"] == 0.2


def test_a_frame_is_logged_as_its_rows_would_be(store):
    rows = [forecast("aaa", 0.125, 0.2, volume=10.0, h1=float("nan")), forecast("bbb", 0.625, 0.6, price=2.0)]
    log_forecasts(store, rows, source="api", model_version="v1")
    log_forecasts(store, pd.DataFrame(rows), source="api", model_version="v1")
    table = logged(store).drop(columns=["id", "created_at"])
    first, second = table.iloc[:2].reset_index(drop=True), table.iloc[2:].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, second)
    assert second["h1"].isna().all() and pd.isna(second.loc[1, "volume"])
