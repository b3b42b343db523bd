"""Forecasts from the market store: one coin, a whole snapshot, a range of dates, and the forecast command."""

import csv
import io

import numpy as np
import pytest
from click.testing import CliRunner

from liquidity.commands.store import forecast_command
from liquidity.dataset import load_snapshots
from liquidity.forecasting import (
    FORECAST_COLUMNS,
    CoinNotFound,
    ForecastError,
    forecast_coin,
    forecast_dates,
    forecast_market,
)
from liquidity.store.importer import import_snapshots

DATES = ["2024-01-01", "2024-01-02", "2024-01-04"]


def test_a_coin_forecast_equals_its_row_of_the_market_forecast(snapshots_store, fixture_model):
    market = forecast_market(snapshots_store, fixture_model).set_index("coin_id")
    assert set(market["date"]) == {"2024-01-04"}
    for coin_id in market.index:
        coin = forecast_coin(snapshots_store, fixture_model, coin_id)
        row = market.loc[coin_id]
        assert (coin.date, coin.symbol, coin.level) == (row["date"], row["symbol"], row["level"])
        assert coin.score == row["score"]
        assert coin.forecast_score == pytest.approx(row["forecast_score"], abs=1e-12)
        assert (coin.band_low, coin.band_high) == pytest.approx((row["band_low"], row["band_high"]), abs=1e-12)


def test_the_store_path_forecasts_what_the_loader_path_does(snapshots_store, fixture_model, snapshots_dir):
    stored = forecast_dates(snapshots_store, fixture_model, DATES)
    loaded = fixture_model.forecast_snapshots(load_snapshots(snapshots_dir).frame, dates=DATES)
    stored = stored.sort_values(["date", "coin_id"]).reset_index(drop=True)
    loaded = loaded.sort_values(["date", "coin_id"]).reset_index(drop=True)
    assert stored[["date", "coin_id"]].values.tolist() == loaded[["date", "coin_id"]].values.tolist()
    assert np.array_equal(stored["score"], loaded["score"])
    assert np.allclose(stored["forecast_score"], loaded["forecast_score"], rtol=0, atol=1e-12)


def test_a_coin_uses_its_history_on_a_past_date(snapshots_store, fixture_model):
    first = forecast_coin(snapshots_store, fixture_model, "Bitcoin:BTC", "2024-01-01")
    later = forecast_coin(snapshots_store, fixture_model, "Bitcoin:BTC", "2024-01-02")
    assert (first.date, later.date) == ("2024-01-01", "2024-01-02")
    assert first.coin == "Bitcoin" and 0 < first.score < 1


@pytest.mark.parametrize(("coin_id", "date", "words"), [
    ("no-such-coin", None, "no stored snapshot of coin 'no-such-coin' on 2024-01-04"),
    ("Bitcoin:BTC", "2024-01-03", "on 2024-01-03"),  # a date without a snapshot
])
def test_a_coin_without_a_row_that_day_is_not_found(snapshots_store, fixture_model, coin_id, date, words):
    with pytest.raises(CoinNotFound, match=words):
        forecast_coin(snapshots_store, fixture_model, coin_id, date)


def test_an_empty_store_says_to_import_first(store, fixture_model):
    with pytest.raises(ForecastError, match="import snapshots first"):
        forecast_market(store, fixture_model)


def run_forecast(trained_dir, monkeypatch, *args):
    for name, file in (("MODEL", "tuned_liquidity_model.pkl"), ("SCALER", "liquidity_scaler.pkl"),
                       ("CARD", "model_card.json")):
        monkeypatch.setenv(f"LIQUIDITY_{name}_PATH", str(trained_dir / file))
    return CliRunner().invoke(forecast_command, list(args))


def test_the_command_writes_one_row_per_coin_per_date(snapshots_store, trained_dir, monkeypatch, tmp_path):
    out = tmp_path / "forecasts.csv"
    result = run_forecast(trained_dir, monkeypatch, "--start", "2024-01-01", "--end", "2024-01-31", "--out", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # today's columns first, then the model's one horizon (the fixture model forecasts 1 day ahead)
    assert list(rows[0]) == [*FORECAST_COLUMNS, "target_date_1d", "forecast_score_1d", "low80_1d", "high80_1d",
                             "low90_1d", "high90_1d"]
    assert all(row["band_low"] == row["low80_1d"] and row["forecast_score"] == row["forecast_score_1d"]
               for row in rows)
    assert len(rows) == snapshots_store.count()  # every stored coin on every stored date of the range
    assert sorted({row["date"] for row in rows}) == DATES
    assert {row["level"] for row in rows} <= {"High", "Low"}
    assert all(float(row["band_low"]) <= float(row["band_high"]) for row in rows)
    assert "3 snapshot date(s), 2024-01-01 to 2024-01-04" in result.output


def test_the_command_forecasts_the_latest_date_by_default(snapshots_store, trained_dir, monkeypatch, tmp_path):
    out = tmp_path / "latest.csv"
    result = run_forecast(trained_dir, monkeypatch, "--out", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        assert {row["date"] for row in csv.DictReader(handle)} == {"2024-01-04"}


def test_the_command_neutralises_formulas_in_coin_ids(store, trained_dir, monkeypatch, tmp_path):
    hostile = tmp_path / "hostile.csv"
    hostile.write_text("date,coin_id,coin,symbol,price,volume,mkt_cap\n"
                       # No '/' in it: the import drops an id no page could serve.
                       '2024-02-01,"=HYPERLINK(""evil.example"")",Evil,EVL,1,100,1000\n'
                       "2024-02-01,fine,Fine,FIN,1,50,1000\n")
    import_snapshots(hostile, store)
    out = tmp_path / "out.csv"
    result = run_forecast(trained_dir, monkeypatch, "--date", "2024-02-01", "--out", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        coin_ids = sorted(row["coin_id"] for row in csv.DictReader(handle))
    assert coin_ids == ["'=HYPERLINK(\"evil.example\")", "fine"]


@pytest.mark.parametrize(("args", "words"), [
    (["--start", "2024-01-01"], "--start and --end go together"),
    (["--date", "2024-01-01", "--end", "2024-01-02"], "not both"),
    (["--start", "2024-01-05", "--end", "2024-01-01"], "is after --end"),
    (["--start", "2023-01-01", "--end", "2023-01-31"], "no stored snapshot from 2023-01-01 to 2023-01-31"),
    (["--date", "2024-13-01"], "'2024-13-01' does not match the format"),
])
def test_command_errors_are_one_line_naming_the_problem(snapshots_store, trained_dir, monkeypatch, tmp_path, args,
                                                        words):
    result = run_forecast(trained_dir, monkeypatch, *args, "--out", str(tmp_path / "x.csv"))
    assert result.exit_code != 0
    assert words in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.csv").exists()


def test_the_form_and_the_api_rank_a_coin_in_the_latest_stored_snapshot(make_app, trained_dir, report_dir, store,
                                                                          fixture_model, tmp_path):
    later = tmp_path / "later.csv"
    later.write_text("date,coin_id,coin,symbol,price,volume,mkt_cap\n"
                     "2024-01-05,a,A,A,1,1,100\n2024-01-05,b,B,B,1,2,100\n2024-01-05,c,C,C,1,3,100\n")
    import_snapshots(later, store)
    client = make_app(trained_dir, report_dir).test_client()
    item = {"price": 42000.0, "1h": 0.004, "24h_volume": 26e9, "mkt_cap": 800e9}
    stored = fixture_model.forecast(26e9, 800e9, 0.004, 42000.0, np.array([0.01, 0.02, 0.03]))
    answer = client.post("/api/v1/predict", json=item).get_json()["prediction"]
    assert answer["score"] == stored.score != fixture_model.forecast(26e9, 800e9, 0.004, 42000.0).score
    listed = client.post("/api/v1/predict", json=[item]).get_json()["predictions"][0]
    assert listed["score"] == pytest.approx(stored.score, abs=1e-12)
    page = client.get("/predict", query_string={"volume": "26000000000", "mkt_cap": "800000000000", "h1": "0.4",
                                                 "price": "42000"}).get_data(as_text=True)
    assert f"{stored.score:.3f}" in page
    upload = b"coin,symbol,price,1h,volume,mkt_cap\nX,X,42000,0.004,26000000000,800000000000\n"
    form = {"csrf_token": client.csrf_token("/batch"), "action": "download", "file": (io.BytesIO(upload), "x.csv")}
    batch = list(csv.DictReader(io.StringIO(client.post("/batch", data=form).get_data(as_text=True))))
    assert float(batch[0]["liquidity_score"]) == pytest.approx(stored.score, abs=1e-12)
