"""Issue 19 on the pages: /model and /monitor per horizon with the intervals' coverage, the four-input path (form,
/batch, POST /api/v1/predict) saying it forecasts 1 day ahead with its 80 % interval, and the OpenAPI document."""

import io
import json
import re
from types import SimpleNamespace

import pytest

from liquidity.monitoring import monitor_figures
from liquidity.paths import PROJECT_ROOT
from liquidity.store.predictions import log_forecasts, score_outcomes
from liquidity.web.model.figures import horizon_figures, plain_summary

BITCOIN = {"price": 40851.38, "1h": 0.001, "24h_volume": 20476118020, "mkt_cap": 776077432316}
BITCOIN_FORM = {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"}
MEANING_80 = "In 8 of 10 past cases like this, the score turned out inside this range."


def text(response):
    return response.get_data(as_text=True)


def visible(html):
    """Return the words a reader sees: the page without its tags and attributes."""
    return re.sub(r"<[^>]+>", " ", html)


# --- /monitor -----------------------------------------------------------------------------------------------------

def actual_score(store, date, coin_id):
    return float(store.snapshot(date).set_index("coin_id")["liquidity_score"].loc[coin_id])


def log_scored_forecasts(store, model_version):
    """Log forecasts 1 and 7 days ahead whose outcomes are stored, none 30 days ahead; return the actual scores.

    1 day: Bitcoin's 80 % interval holds its outcome, Ethereum's misses it; both 90 % intervals hold theirs.
    7 days (made on 2023-12-28 for 2024-01-04): Bitcoin's 80 % interval holds it.
    """
    btc, eth = actual_score(store, "2024-01-02", "Bitcoin:BTC"), actual_score(store, "2024-01-02", "Ethereum:ETH")
    btc_week = actual_score(store, "2024-01-04", "Bitcoin:BTC")
    rows = [
        {"coin_id": "Bitcoin:BTC", "snapshot_date": "2024-01-01", "score": btc - 0.05, "forecast_score": btc + 0.01,
         "level": "High", "horizon": 1, "target_date": "2024-01-02", "low80": btc - 0.02, "high80": btc + 0.03,
         "low90": btc - 0.04, "high90": btc + 0.05},
        {"coin_id": "Ethereum:ETH", "snapshot_date": "2024-01-01", "score": eth + 0.02, "forecast_score": eth + 0.2,
         "level": "High", "horizon": 1, "target_date": "2024-01-02", "low80": eth + 0.1, "high80": eth + 0.3,
         "low90": eth - 0.01, "high90": eth + 0.4},
        {"coin_id": "Bitcoin:BTC", "snapshot_date": "2023-12-28", "score": btc_week - 0.1,
         "forecast_score": btc_week + 0.02, "level": "High", "horizon": 7, "target_date": "2024-01-04",
         "low80": btc_week - 0.05, "high80": btc_week + 0.05, "low90": btc_week - 0.1, "high90": btc_week + 0.1},
    ]
    log_forecasts(store, rows, source="daily", model_version=model_version)
    score_outcomes(store)
    return btc, eth, btc_week


@pytest.mark.sqlite_and_postgresql
def test_the_monitor_counts_each_horizons_accuracy_and_interval_coverage_by_week(snapshots_store, fixture_model):
    model = SimpleNamespace(version="v19", threshold=0.5, horizons=(1, 7, 30), card=fixture_model.card)
    btc, eth, btc_week = log_scored_forecasts(snapshots_store, model.version)

    figures = monitor_figures(snapshots_store, model)

    assert figures["coverage_goal"] == 0.8 and figures["levels"] == [80, 90]
    one, seven, thirty = figures["horizons"]
    assert [one["horizon"], seven["horizon"], thirty["horizon"]] == [1, 7, 30]
    assert one["overall"]["scored"] == 2 and one["overall"]["rows80"] == 2
    assert one["overall"]["coverage80"] == 0.5 and one["overall"]["coverage90"] == 1.0
    assert one["overall"]["model_mae"] == pytest.approx((0.01 + 0.2) / 2)
    assert one["overall"]["persistence_mae"] == pytest.approx((0.05 + 0.02) / 2)
    assert one["overall"]["width80"] == pytest.approx((0.05 + 0.2) / 2)
    assert [week["week"] for week in one["weeks"]] == ["2024-01-01"]
    assert one["weeks"][0]["coverage80"] == 0.5 and one["weeks"][0]["model_versions"] == ["v19"]
    # The 7-day forecast counts in the week of the snapshot it was made from, not of its outcome.
    assert [week["week"] for week in seven["weeks"]] == ["2023-12-25"]
    assert seven["overall"]["coverage80"] == 1.0
    assert seven["overall"]["model_mae"] == pytest.approx(0.02)
    assert seven["overall"]["persistence_mae"] == pytest.approx(0.1)
    assert thirty["overall"]["scored"] == 0 and thirty["overall"]["coverage80"] is None and thirty["weeks"] == []
    # The 1-day figures stay where /api/v1/monitor's clients read them.
    assert figures["accuracy"]["overall"]["scored"] == 2


@pytest.mark.sqlite_and_postgresql
def test_a_forecast_logged_without_a_90_percent_interval_counts_only_at_80(snapshots_store, fixture_model):
    model = SimpleNamespace(version="v19", threshold=0.5, horizons=(1,), card=fixture_model.card)
    btc = actual_score(snapshots_store, "2024-01-02", "Bitcoin:BTC")
    log_forecasts(snapshots_store, [{"coin_id": "Bitcoin:BTC", "snapshot_date": "2024-01-01", "score": btc,
                                     "forecast_score": btc, "level": "High", "band_low": btc - 0.1,
                                     "band_high": btc + 0.1}], source="daily", model_version=model.version)
    score_outcomes(snapshots_store)
    overall = monitor_figures(snapshots_store, model)["horizons"][0]["overall"]
    assert overall["rows80"] == 1 and overall["coverage80"] == 1.0
    assert overall["rows90"] == 0 and overall["coverage90"] is None


def test_the_monitor_page_shows_each_horizon_with_its_coverage_goal_or_says_nothing_is_scored(
        horizons_client, snapshots_store, horizons_model):
    log_scored_forecasts(snapshots_store, horizons_model.version)

    html = text(horizons_client.get("/monitor"))
    assert 'id="horizon-1"' in html and 'id="horizon-7"' in html and 'id="horizon-30"' in html
    assert re.search(r'id="coverage80-1">50\.0 %</strong>\s+of 2 case\(s\) \(goal 80 %\)', html)
    assert 'id="coverage80-7">100.0 %</strong>' in html
    assert "No forecast has been scored yet for 30 days ahead" in html
    assert 'id="chart-coverage-1-title">Share of outcomes inside the interval by week, 1 day ahead' in html
    assert "goal of the 80 % interval (80%)" in html
    assert "chart-mae-7" in html and "chart-coverage-30" not in html
    assert "80 % interval" in html and "in 8 of 10 past cases like it" in html
    assert " band" not in visible(html).lower()

    answer = horizons_client.get("/api/v1/monitor").get_json()
    assert [entry["horizon"] for entry in answer["horizons"]] == [1, 7, 30]
    assert answer["horizons"][0]["overall"]["coverage80"] == 0.5
    assert answer["horizons"][2]["overall"]["scored"] == 0


def test_the_monitor_of_an_empty_log_says_so_for_every_horizon(horizons_client, snapshots_store):
    html = text(horizons_client.get("/monitor"))
    for title in ("1 day ahead", "7 days ahead", "30 days ahead"):
        assert f"No forecast has been scored yet for {title}" in html
    assert '<svg class="chart"' not in html


# --- /model -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def committed_card():
    return json.loads((PROJECT_ROOT / "model_card.json").read_text())


def test_horizon_figures_follow_the_cards_validation_and_coverage(committed_card):
    figures = horizon_figures(committed_card)
    assert [f["horizon"] for f in figures] == [1, 7, 30]
    for f in figures:
        models = committed_card["validation"]["horizons"][str(f["horizon"])]["models"]
        assert set(f["models"]) >= {"random_forest", "persistence", "mean_7_days", "mean_30_days"}
        assert f["models"]["mean_30_days"]["roc_auc"] == models["mean_30_days"]["roc_auc"]
        forest, persistence = models["random_forest"]["mae"], models["persistence"]["mae"]
        better_mean = min(models["mean_7_days"]["mae"], models["mean_30_days"]["mae"])
        assert f["mae_below_persistence"] == pytest.approx(1 - forest / persistence)
        assert f["mae_below_best_mean"] == pytest.approx(1 - forest / better_mean)
        report = committed_card["conformal"]["coverage"][str(f["horizon"])]
        assert f["coverage"]["coverage80"] == report["coverage80"]
        months = report["by_month"]
        worst = max(months, key=lambda m: abs(m["coverage80"] - 0.8))
        assert f["coverage"]["worst_month"]["month"] == worst["month"]
        per_date = report["per_date80"]
        assert f["coverage"]["one_day80"] == {"min": per_date["min"], "max": per_date["max"], "sd": per_date["sd"]}
        assert f["coverage"]["quintile_coverage80"] == [min(q["coverage80"] for q in report["by_quintile"]),
                                                       max(q["coverage80"] for q in report["by_quintile"])]


def test_the_plain_summary_says_what_how_much_better_and_how_sure(committed_card):
    what, better, sure = plain_summary(committed_card, horizon_figures(committed_card))
    assert "1, 7 and 30 days ahead" in what
    mae = committed_card["validation"]["horizons"]["7"]["models"]
    gain = 1 - mae["random_forest"]["mae"] / mae["persistence"]["mae"]
    assert f"{gain * 100:.1f} % at 7 days" in better
    coverage = committed_card["conformal"]["coverage"]["30"]["coverage80"]
    assert "80 % interval: in 8 of 10 past cases like it" in sure
    assert f"{coverage * 100:.1f} % of cases at 30 days" in sure


def test_the_model_page_opens_with_the_summary_then_each_horizon_and_the_intervals(horizons_client, horizons_model):
    html = text(horizons_client.get("/model"))
    card = horizons_model.card
    assert html.index('id="summary"') < html.index('id="horizons"') < html.index('id="intervals"')
    for horizon in (1, 7, 30):
        table = re.search(rf'<table class="horizon-metrics" id="metrics-{horizon}">(.*?)</table>', html, re.S)
        assert table, f"no metrics table at {horizon} days"
        for name in ("Tuned random forest", "Persistence", "7-day mean score", "30-day mean score"):
            assert name in table.group(1)
        forest = card["validation"]["horizons"][str(horizon)]["models"]["random_forest"]
        assert f"{forest['r2']:.3f}" in table.group(1) and f"{forest['mae']:.4f}" in table.group(1)
    window = re.search(r'id="calibration-window">([^<]+)', html).group(1)
    assert f"the last {card['conformal']['window_days']} forecast dates" in window
    fresh_days = card["conformal"]["spread"]["fresh_days"]
    assert f"widened or narrowed by how much more or less the next-day forecasts of the last {fresh_days} days" in \
        " ".join(visible(html).split())
    coverage = re.search(r'<table id="coverage">(.*?)</table>', html, re.S).group(1)
    assert coverage.count("<tr>") == 4  # the header and one row per horizon
    one_day = card["conformal"]["coverage"]["1"]["per_date80"]
    row = re.search(r"<tr><td>1 day ahead</td>(.*?)</tr>", coverage, re.S).group(1)
    assert f"{one_day['min'] * 100:.1f} % – {one_day['max'] * 100:.1f} %" in row
    worst = max(card["conformal"]["coverage"]["1"]["by_month"], key=lambda m: abs(m["coverage80"] - 0.8))
    assert f"{worst['month']}: {worst['coverage80'] * 100:.1f} % ({worst['rows']:,} forecasts)" in row
    assert "not a promise for each day" in " ".join(visible(html).split())
    assert "80 % interval" in html and "in 8 of 10 past cases like it" in html
    assert "uncertainty band" not in html.lower()


def test_the_model_api_adds_the_per_horizon_figures_and_the_calibration(horizons_client, horizons_model):
    answer = horizons_client.get("/api/v1/model").get_json()
    assert [entry["horizon"] for entry in answer["horizons"]] == [1, 7, 30]
    assert answer["horizons"] == json.loads(json.dumps(horizon_figures(horizons_model.card)))
    assert answer["conformal"]["window_days"] == horizons_model.card["conformal"]["window_days"]
    assert set(answer["conformal"]["coverage"]) == {"1", "7", "30"}


def test_the_model_page_of_a_one_horizon_model_shows_its_one_horizon(client, fixture_model):
    html = text(client.get("/model"))
    assert 'id="metrics-1"' in html and 'id="metrics-7"' not in html
    assert "1 day ahead" in html


# --- the four-input path: 1 day ahead, 80 % interval ----------------------------------------------------------------

def test_the_predict_api_says_1_day_ahead_and_gives_both_intervals(client, fixture_model):
    expected = fixture_model.forecast(BITCOIN["24h_volume"], BITCOIN["mkt_cap"], BITCOIN["1h"], BITCOIN["price"])
    low90, high90 = fixture_model.intervals([expected.score], 1, 90)
    one = client.post("/api/v1/predict", json=BITCOIN).get_json()
    many = client.post("/api/v1/predict", json=[BITCOIN, BITCOIN]).get_json()
    for answer, prediction in ((one, one["prediction"]), (many, many["predictions"][1])):
        assert answer["horizon"] == 1 and "1 day ahead" in answer["target"]
        assert prediction["interval_80"] == {"low": pytest.approx(expected.band_low),
                                             "high": pytest.approx(expected.band_high)}
        assert prediction["band"]["low"] == prediction["interval_80"]["low"]  # kept for older clients
        assert prediction["interval_90"] == {"low": pytest.approx(low90[0]), "high": pytest.approx(high90[0])}
        assert prediction["interval_90"]["low"] <= prediction["interval_80"]["low"]
        assert prediction["interval_90"]["high"] >= prediction["interval_80"]["high"]


def test_the_form_and_its_result_say_1_day_ahead_and_name_the_80_percent_interval(client, fixture_model):
    assert "1 day ahead only" in visible(text(client.get("/")))
    html = text(client.get("/predict", query_string=BITCOIN_FORM))
    words = visible(html)
    assert "1 day ahead" in words and "80 % interval" in words and MEANING_80 in words
    assert "90 % interval" in words
    assert "band" not in words.lower()
    forecast = fixture_model.forecast(20476118020, 776077432316, 0.001, 40851.38)
    assert f"{forecast.band_low:.3f} – {forecast.band_high:.3f}" in html


def test_the_batch_pages_say_1_day_ahead_and_name_the_80_percent_interval(client):
    assert "1 day ahead" in visible(text(client.get("/batch")))
    form = {"csrf_token": client.csrf_token("/batch"), "action": "show",
            "file": (io.BytesIO(b"coin,symbol,price,1h,24h_volume,mkt_cap\nBitcoin,BTC,40851.38,0.001,20476118020,"
                                b"776077432316\n"), "s.csv")}
    html = text(client.post("/batch", data=form, content_type="multipart/form-data"))
    words = visible(html)
    assert "1 day ahead" in words and "<th>80 % interval</th>" in html
    assert "in 8 of 10 past cases like it" in words
    assert "Band" not in words


# --- OpenAPI and /docs/api ----------------------------------------------------------------------------------------

def test_the_openapi_document_describes_horizons_and_intervals(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    for path in ("/api/v1/coins", "/api/v1/coins/{coin_id}/forecast"):
        horizon = [p for p in paths[path]["get"]["parameters"] if p["name"] == "horizon"]
        assert horizon and horizon[0]["schema"] == {"type": "integer", "enum": [1, 7, 30], "default": 1}, path
    forecast = schemas["CoinForecast"]["properties"]
    assert {"horizon", "target_date", "interval_80", "interval_90", "horizons", "band"} <= set(forecast)
    assert set(forecast["horizons"]["items"]["properties"]) == {"horizon", "target_date", "forecast_score", "level",
                                                                "interval_80", "interval_90", "outcome"}
    assert {"interval_80", "interval_90"} <= set(schemas["Coin"]["properties"])
    assert set(schemas["Answer"]["properties"]["interval_80"]["properties"]) == {"low", "high"}
    assert "8 of 10" in schemas["Answer"]["properties"]["interval_80"]["description"]
    predicted = paths["/api/v1/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert predicted["properties"]["horizon"]["enum"] == [1]
    assert "horizons" in schemas["Monitor"]["properties"]


def test_the_api_docs_list_the_horizon_parameter_and_the_interval_fields(client):
    html = text(client.get("/docs/api"))
    assert "<code>horizon</code>" in html and "1 | 7 | 30" in html
    for field in ("horizons[].interval_80.low", "interval_90.high", "horizons[].target_date"):
        assert f"<code>{field}</code>" in html, field
    assert 'id="horizons-note"' in html and "in 8 of 10 past cases like it" in html
