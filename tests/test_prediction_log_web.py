"""The app logs every forecast it makes (form, API, batch) in the store, and a store failure never fails a request."""

import io

import pandas as pd
import pytest
from conftest import logged

from liquidity.web.extensions import prediction_logs
from liquidity.web.settings import ConfigError, load_settings

ITEM = {"price": 40859.46, "1h": 0.022, "24h_volume": 35390763321, "mkt_cap": 770991461396}


def test_the_form_logs_its_forecast_with_inputs_version_and_band(client, app, market_store_in_tmp):
    response = client.get("/predict", query_string={"volume": "35390763321", "mkt_cap": "770991461396",
                                                    "h1": "2.2", "price": "40859.46"})
    assert response.status_code == 200
    table = logged(market_store_in_tmp, app=app)
    assert table["source"].tolist() == ["form"]
    row = table.iloc[0]
    assert (row["volume"], row["mkt_cap"], row["price"]) == (35390763321, 770991461396, 40859.46)
    assert row["h1"] == pytest.approx(0.022)  # typed in percent, logged as the fraction the model takes
    assert row["model_version"] == app.extensions["liquidity_model"].model.version
    assert row["band_low"] <= row["forecast_score"] <= row["band_high"]
    assert row["level"] in ("High", "Low") and pd.isna(row["coin_id"]) and pd.isna(row["score"])


def test_the_api_logs_one_object_and_every_item_of_a_list(client, app, market_store_in_tmp):
    assert client.post("/api/v1/predict", json=ITEM).status_code == 200
    answer = client.post("/api/v1/predict", json=[ITEM, {**ITEM, "price": 1.5}, ITEM]).get_json()
    table = logged(market_store_in_tmp, app=app)
    assert table["source"].tolist() == ["api"] * 4
    assert table["created_at"].iloc[1:].nunique() == 1  # the list: one transaction, one time
    assert table["forecast_score"].iloc[1:].tolist() == pytest.approx([p["score"] for p in answer["predictions"]])
    assert table["price"].tolist() == [40859.46, 40859.46, 1.5, 40859.46]


def test_an_invalid_request_logs_nothing(client, app, market_store_in_tmp):
    assert client.post("/api/v1/predict", json={**ITEM, "price": -1}).status_code == 400
    assert logged(market_store_in_tmp, app=app).empty


def test_the_batch_logs_its_valid_rows(client, app, market_store_in_tmp):
    data = (b"coin,price,1h,24h_volume,mkt_cap\nA,1.5,0.01,1000000,50000000\nB,oops,0.01,1,2\n"
            b"C,2.5,-0.02,300000,90000000\n")
    response = client.post("/batch", data={"csrf_token": client.csrf_token("/batch"),
                                           "file": (io.BytesIO(data), "s.csv")})
    assert response.status_code == 200
    table = logged(market_store_in_tmp, app=app)
    assert table["source"].tolist() == ["batch", "batch"]
    assert table["price"].tolist() == [1.5, 2.5]
    assert table["h1"].tolist() == [0.01, -0.02]


@pytest.fixture
def broken_store_app(make_app, trained_dir, report_dir, tmp_path):
    """An app whose store cannot be opened: its folder is a file."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    return make_app(trained_dir, report_dir, DATABASE_URL=f"sqlite:///{blocker}/market.db")


def test_a_store_failure_is_counted_and_the_answer_still_goes_out(broken_store_app, caplog):
    client = broken_store_app.test_client()
    before = client.get("/healthz")
    assert before.status_code == 503 and before.get_json()["status"] == "degraded"
    assert "the market store cannot be read" in before.get_json()["reasons"]
    assert {name: before.get_json()["prediction_log"][name] for name in ("enabled", "written", "failed", "lost",
                                                                         "last_failure_at")} == {
        "enabled": True, "written": 0, "failed": 0, "lost": 0, "last_failure_at": None}
    single = client.post("/api/v1/predict", json=ITEM)
    several = client.post("/api/v1/predict", json=[ITEM, ITEM])
    assert (single.status_code, several.status_code) == (200, 200)
    assert 0 <= single.get_json()["prediction"]["score"] <= 1
    assert prediction_logs.flush(broken_store_app)
    health = client.get("/healthz").get_json()["prediction_log"]
    assert (health["written"], health["failed"]) == (0, 3)
    assert health["last_failure_at"]


def test_a_working_store_counts_what_it_wrote(client, app):
    client.post("/api/v1/predict", json=[ITEM, ITEM])
    assert prediction_logs.flush(app)
    assert client.get("/healthz").get_json()["prediction_log"]["written"] == 2


def test_logging_can_be_switched_off(make_app, trained_dir, report_dir, market_store_in_tmp):
    app = make_app(trained_dir, report_dir, PREDICTION_LOG_ENABLED=False)
    client = app.test_client()
    assert client.post("/api/v1/predict", json=ITEM).status_code == 200
    assert logged(market_store_in_tmp, app=app).empty
    assert client.get("/healthz").get_json()["prediction_log"]["enabled"] is False


@pytest.mark.parametrize(("environ", "words"), [
    ({"LIQUIDITY_LOG_KEEP_DAYS": "0"}, "LIQUIDITY_LOG_KEEP_DAYS='0' must lie in"),
    ({"LIQUIDITY_LOG_KEEP_DAYS": "1.5"}, "whole number of days"),
    ({"LIQUIDITY_PREDICTION_LOG": "maybe"}, "LIQUIDITY_PREDICTION_LOG='maybe'"),
])
def test_bad_store_settings_name_the_variable(environ, words):
    with pytest.raises(ConfigError, match=words):
        load_settings(environ)


def test_the_settings_default_to_the_embedded_store_and_a_year_of_log():
    settings = load_settings({})
    assert settings["DATABASE_URL"].endswith("instance/market.db")
    assert settings["PREDICTION_LOG_KEEP_DAYS"] == 365 and settings["PREDICTION_LOG_ENABLED"] is True


def test_a_bad_database_url_is_a_503_naming_nothing_secret_and_predictions_still_answer(make_app, trained_dir,
                                                                                       report_dir, caplog):
    app = make_app(trained_dir, report_dir, DATABASE_URL="mysql://user:hunter2@host/db")
    client = app.test_client()
    response = client.get("/api/v1/coins")
    assert response.status_code == 503 and response.get_json()["error"] == "Market store unavailable"
    assert "hunter2" not in response.get_data(as_text=True)
    assert client.post("/api/v1/predict", json=ITEM).status_code == 200
    assert prediction_logs.flush(app)
    assert client.get("/healthz").get_json()["prediction_log"]["failed"] == 1
