"""Every horizon through the read model, the coin page, /coins and the coin API: the 1-, 7- and 30-day forecasts with
their 80 % and 90 % intervals, drawn with the newest stored calibration, each logged with its target date."""

import copy
import re

import pytest
from conftest import logged, strict_json

from liquidity.modeling import conformal
from liquidity.store.calibrations import save_calibration
from liquidity.web.readmodel import ReadModel
from liquidity.web.services import ProcessStore

LATEST = "2024-07-18"  # the synthetic history's last day
HORIZONS = (1, 7, 30)
TARGETS = {1: "2024-07-19", 7: "2024-07-25", 30: "2024-08-17"}


def state_of(store, model):
    return ReadModel(ProcessStore(store.url), model, 0.0).current()


def scaled(tables, factor):
    """Return conformal tables whose half widths are factor times tables'."""
    changed = copy.deepcopy({str(h): table for h, table in tables.items()})
    for table in changed.values():
        for level in conformal.LEVELS:
            key = conformal.level_key(level)
            table["half_widths"][key] = [width * factor for width in table["half_widths"][key]]
    return changed


# --- the read model -------------------------------------------------------------------------------------------------

def test_the_state_forecasts_every_horizon_as_the_model_does(horizons_store, horizons_model):
    state = state_of(horizons_store, horizons_model)
    history = horizons_store.history(start="2024-06-09", end=LATEST)
    expected = horizons_model.forecast_snapshots(history, dates=[LATEST], horizons=HORIZONS).set_index("coin_id")
    table = state.market_table().set_index("coin_id").sort_index()
    for horizon in HORIZONS:
        for name in ("forecast_score", "low80", "high80", "low90", "high90"):
            column = f"{name}_{horizon}d"
            assert table[column].to_numpy() == pytest.approx(expected[column].sort_index().to_numpy()), column
        assert (table[f"level_{horizon}d"] == horizons_model.levels(table[f"forecast_score_{horizon}d"])).all()
    assert table["band_low"].equals(table["low80_1d"]) and table["forecast_score"].equals(table["forecast_score_1d"])

    forecast = state.coin_forecast("coin-5")
    rows = horizons_store.coin_history("coin-5", LATEST, 31)
    own = horizons_model.forecast_history_horizons(
        *(rows[name].to_numpy() for name in ("date", "volume", "mkt_cap", "1h", "price", "liquidity_score")))
    assert [h.horizon for h in forecast.horizons] == list(HORIZONS)
    assert [h.target_date for h in forecast.horizons] == [TARGETS[h] for h in HORIZONS]
    for outlook, model_says in zip(forecast.horizons, own.horizons):
        assert (outlook.forecast_score, outlook.low80, outlook.high80, outlook.low90, outlook.high90) == (
            model_says.forecast_score, model_says.low80, model_says.high80, model_says.low90, model_says.high90)
        assert outlook.low90 <= outlook.low80 <= outlook.forecast_score <= outlook.high80 <= outlook.high90
    week = forecast.horizon(7)
    assert week.forecast_score == pytest.approx(table.loc["coin-5", "forecast_score_7d"])
    # The 1-day fields the views read are the 1-day horizon's, its band the 80 % interval.
    assert (forecast.forecast_score, forecast.band_low, forecast.band_high) == (
        forecast.horizons[0].forecast_score, forecast.horizons[0].low80, forecast.horizons[0].high80)
    assert state.calibration.calibration_id is None and state.calibration.source == "the model card"


def test_a_recalibration_swaps_in_a_state_with_the_new_intervals(horizons_store, horizons_model):
    read_model = ReadModel(ProcessStore(horizons_store.url), horizons_model, 0.0)
    before = read_model.current()
    card = before.coin_forecast("coin-5")
    save_calibration(horizons_store, "2024-07-01", "another model", scaled(horizons_model.calibration, 0.1))
    other = read_model.current()
    assert other.version != before.version  # a new calibration is a new version ...
    assert other.coin_forecast("coin-5") == card  # ... but another model's tables are not this model's
    calibration_id = save_calibration(horizons_store, "2024-07-10", horizons_model.version,
                                      scaled(horizons_model.calibration, 0.5))
    after = read_model.current()
    assert after.version.newest_calibration == calibration_id and after.market is not before.market
    assert after.calibration.calibrated_on == "2024-07-10" and after.calibration.source == "recalibrated on 2024-07-10"
    narrow = after.coin_forecast("coin-5")
    for wide, half in zip(card.horizons, narrow.horizons):
        assert half.forecast_score == wide.forecast_score
        assert half.high80 - half.low80 < wide.high80 - wide.low80
    table = after.market_table().set_index("coin_id")
    assert table.loc["coin-5", "high90_30d"] == pytest.approx(narrow.horizon(30).high90)
    # A past date's forecast has the intervals of that date: a calibration made later does not reach back.
    early = after.coin_forecast("coin-5", "2024-07-05")
    late = after.coin_forecast("coin-5", "2024-07-15")
    assert early.date == "2024-07-05" and early.horizon(7).target_date == "2024-07-12"
    assert early.horizons == state_of_card(horizons_store, horizons_model, "2024-07-05").horizons
    late_width = late.horizon(1).high80 - late.horizon(1).low80
    assert late_width < state_of_card(horizons_store, horizons_model, "2024-07-15").horizon(1).high80 - \
        state_of_card(horizons_store, horizons_model, "2024-07-15").horizon(1).low80


def state_of_card(store, model, day):
    """Return the coin-5 forecast of day with the model card's intervals (a store without calibrations)."""
    from liquidity.web.readmodel import WINDOW_COLUMNS, horizons_forecast

    rows = store.coin_history("coin-5", end=day, days=31)
    return horizons_forecast(model, model.prepared_intervals(model.calibration), "coin-5", "Coin 5", "C5",
                             tuple(rows[name].to_numpy() for name in WINDOW_COLUMNS))


# --- the coin page --------------------------------------------------------------------------------------------------

def test_the_coin_page_shows_and_draws_every_horizon_and_logs_each(horizons_client, horizons_app, horizons_store,
                                                                   horizons_model):
    html = horizons_client.get("/coins/coin-5?days=30").get_data(as_text=True)
    forecast = state_of(horizons_store, horizons_model).coin_forecast("coin-5")
    table = html.split('id="horizons"', 1)[1].split("</table>", 1)[0]
    for outlook in forecast.horizons:
        row = table.split(f'id="horizon-{outlook.horizon}"', 1)[1].split("</tr>", 1)[0]
        assert outlook.target_date in row and f"{outlook.forecast_score:.3f}" in row
        assert f"{outlook.low80:.3f}–{outlook.high80:.3f}" in row and f"{outlook.low90:.3f}–{outlook.high90:.3f}" in row
    assert "80 % interval" in html and "In 8 of 10 past cases like this" in html and "Band" not in html
    chart = html.split('id="chart-score-title"', 1)[1].split("</svg>", 1)[0]
    ahead = re.findall(r'<polyline class="series s-ahead" points="([^"]+)"', chart)
    assert len(ahead) == 1 and len(ahead[0].split()) == 4  # today's score, then the 1-, 7- and 30-day forecasts
    assert '<polygon class="band-ahead"' in chart and "80 % interval ahead" in html
    # The forecasts stand at their true distance: 30 calendar days after today is the chart's last label.
    assert TARGETS[30] in chart

    rows = logged(horizons_store, app=horizons_app)
    assert rows["horizon"].tolist() == list(HORIZONS) and set(rows["source"]) == {"coin page"}
    assert [str(day) for day in rows["target_date"]] == [TARGETS[h] for h in HORIZONS]
    for (_, row), outlook in zip(rows.iterrows(), forecast.horizons):
        assert row["forecast_score"] == pytest.approx(outlook.forecast_score)
        assert (row["low80"], row["high80"], row["low90"], row["high90"]) == pytest.approx(
            (outlook.low80, outlook.high80, outlook.low90, outlook.high90))
        assert str(row["snapshot_date"]) == LATEST and row["level"] == outlook.level


# --- /coins ---------------------------------------------------------------------------------------------------------

def test_the_market_shows_and_sorts_by_the_chosen_horizon(horizons_client, horizons_store, horizons_model):
    table = state_of(horizons_store, horizons_model).market_table()
    html = horizons_client.get("/coins?horizon=30&sort=forecast&per_page=5").get_data(as_text=True)
    best = table.sort_values("forecast_score_30d", ascending=False).iloc[0]
    first = html.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert best["coin"] in first and f"{best['forecast_score_30d']:.3f}" in first
    assert f"{best['low80_30d']:.3f}–{best['high80_30d']:.3f}" in first
    assert "forecast\n30 day(s) ahead (for 2024-08-17)" in html and '<option value="30" selected>' in html
    assert "horizon=30" in html.split('rel="next"', 1)[1].split(">", 1)[0]  # the pages keep the horizon
    default = horizons_client.get("/coins?sort=forecast&per_page=5").get_data(as_text=True)
    one_day = table.sort_values("forecast_score_1d", ascending=False).iloc[0]
    assert f"{one_day['forecast_score_1d']:.3f}" in default.split("<tbody>", 1)[1].split("</tr>", 1)[0]


@pytest.mark.parametrize("horizon", ["3", "week", "", "7.0"])
def test_a_horizon_the_model_lacks_is_a_400_naming_the_parameter(horizons_client, horizons_store, horizon):
    page = horizons_client.get(f"/coins?horizon={horizon}")
    assert page.status_code == 400 and "<code>horizon</code>" in page.get_data(as_text=True)
    for path in ("/api/v1/coins", "/api/v1/coins/coin-5/forecast"):
        answer = horizons_client.get(f"{path}?horizon={horizon}")
        assert answer.status_code == 400 and answer.get_json()["errors"][0]["path"] == "horizon"
        assert "1 or 7 or 30" in answer.get_json()["errors"][0]["reason"]


def test_a_one_horizon_model_refuses_seven_days(client, snapshots_store):
    assert client.get("/coins?horizon=1").status_code == 200
    answer = client.get("/api/v1/coins?horizon=7")
    assert answer.status_code == 400 and answer.get_json()["errors"][0]["path"] == "horizon"
    assert client.get("/coins?horizon=7").status_code == 400


# --- the coin API ---------------------------------------------------------------------------------------------------

def test_the_coins_api_answers_the_chosen_horizon(horizons_client, horizons_store, horizons_model):
    table = state_of(horizons_store, horizons_model).market_table().set_index("coin_id")
    answer = strict_json(horizons_client.get("/api/v1/coins?horizon=7&per_page=500"))
    assert (answer["horizon"], answer["target_date"], answer["horizons"]) == (7, TARGETS[7], list(HORIZONS))
    assert answer["total"] == len(table)
    for coin in answer["coins"]:
        row = table.loc[coin["coin_id"]]
        assert coin["forecast_score"] == pytest.approx(row["forecast_score_7d"]) and coin["level"] == row["level_7d"]
        assert coin["interval_80"] == {"low": pytest.approx(row["low80_7d"]), "high": pytest.approx(row["high80_7d"]),
                                       "level": 80}
        assert coin["interval_90"]["low"] == pytest.approx(row["low90_7d"]) and coin["interval_90"]["level"] == 90
        assert (coin["band"]["low"], coin["band"]["high"]) == (coin["interval_80"]["low"], coin["interval_80"]["high"])
    assert strict_json(horizons_client.get("/api/v1/coins"))["horizon"] == 1


def test_the_coin_forecast_api_answers_one_horizon_and_lists_all(horizons_client, horizons_app, horizons_store,
                                                                 horizons_model):
    forecast = state_of(horizons_store, horizons_model).coin_forecast("coin-5")
    answer = strict_json(horizons_client.get("/api/v1/coins/coin-5/forecast?horizon=30"))
    month = forecast.horizon(30)
    assert (answer["horizon"], answer["target_date"], answer["date"]) == (30, TARGETS[30], LATEST)
    assert answer["forecast_score"] == pytest.approx(month.forecast_score) and answer["level"] == month.level
    assert answer["interval_80"] == {"low": pytest.approx(month.low80), "high": pytest.approx(month.high80),
                                     "level": 80}
    assert answer["interval_90"] == {"low": pytest.approx(month.low90), "high": pytest.approx(month.high90),
                                     "level": 90}
    assert answer["band"]["low"] == answer["interval_80"]["low"]
    assert [h["horizon"] for h in answer["horizons"]] == list(HORIZONS)
    assert [h["target_date"] for h in answer["horizons"]] == [TARGETS[h] for h in HORIZONS]
    assert set(answer["horizons"][1]) == {"horizon", "target_date", "forecast_score", "level", "interval_80",
                                          "interval_90", "outcome"}
    default = strict_json(horizons_client.get("/api/v1/coins/coin-5/forecast"))
    assert default["horizon"] == 1 and default["forecast_score"] == pytest.approx(forecast.forecast_score)
    assert default["horizons"] == answer["horizons"]
    # Past forecasts per horizon: the two calls logged each horizon once for the latest date.
    logged(horizons_store, app=horizons_app)
    week = strict_json(horizons_client.get("/api/v1/coins/coin-5/forecast?horizon=7"))
    assert [(p["date"], p["horizon"], p["target_date"]) for p in week["past"]] == [(LATEST, 7, TARGETS[7])]
    assert week["past"][0]["forecast_score"] == pytest.approx(forecast.horizon(7).forecast_score)
    assert week["past"][0]["interval_90"]["high"] == pytest.approx(forecast.horizon(7).high90)
    assert week["past"][0]["realized_score"] is None
