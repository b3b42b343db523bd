"""One coin, one answer (issue 20): the coin page, /batch, the form and the API give a stored coin the same forecast
from its history and say which path made every answer; 1h is optional; a coin that left the market keeps its page;
/batch flags repeated coins and names its snapshot date; /model leads with a plain summary. On the hand-made fixture
snapshots (2024-01-01, -02, -04; coins keyed Name:SYMBOL; Frenzy last seen on 2024-01-02)."""

import csv
import io
import math
import re
from urllib.parse import urlsplit

import pytest

from liquidity.web.basis import INPUTS_NOTE, OTHER_DATES
from liquidity.web.extensions import models

DAY2, DAY4 = "2024-01-02", "2024-01-04"
# Ethereum's row of the latest fixture snapshot (tests/fixtures/snapshots/day4.csv).
ETH = {"volume": 16000000000.0, "mkt_cap": 348000000000.0, "1h": 0.006, "price": 2900.0}
HEADER = "coin,symbol,price,1h,volume,mkt_cap"


def eth_row(coin="Ethereum", symbol="ETH", volume=ETH["volume"], h1="0.006"):
    return f"{coin},{symbol},{ETH['price']:g},{h1},{volume:.0f},{ETH['mkt_cap']:.0f}"


def upload(client, text, action="download", name="coins.csv"):
    form = {"csrf_token": client.csrf_token("/batch"), "action": action,
            "file": (io.BytesIO(text.encode()), name)}
    return client.post("/batch", data=form, content_type="multipart/form-data")


def downloaded(client, text):
    response = upload(client, text)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True)))), response


def coin_page_score(client, coin_id):
    html = client.get(f"/coins/{coin_id}").get_data(as_text=True)
    return float(re.search(r'id="forecast-score">([\d.]+)<', html).group(1))


def form_result(client, query):
    """Submit the home form as the picker filled it (query: the picker's redirect's query) and return the result."""
    page = client.get("/?" + query)
    html = page.get_data(as_text=True)
    fields = dict(re.findall(r'name="(volume|mkt_cap|h1|price|store_coin|store_date)" value="([^"]*)"', html))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    return client.post("/predict", data={**fields, "csrf_token": token}, follow_redirects=True)


# --- the same answer on every path -------------------------------------------------------------------------------

def test_a_stored_coin_gets_the_coin_pages_forecast_from_batch_form_and_api(client, snapshots_store):
    """The Kinesis Gold case: the same day's values gave 0.339 Low on the coin page and 0.634 High in /batch."""
    forecast = client.get("/api/v1/coins/Ethereum:ETH/forecast").get_json()
    expected = forecast["forecast_score"]
    assert coin_page_score(client, "Ethereum:ETH") == pytest.approx(expected, abs=5e-4)  # the page shows 3 decimals

    rows, _ = downloaded(client, f"{HEADER}\n{eth_row()}\n")
    assert float(rows[0]["liquidity_score"]) == pytest.approx(expected, rel=1e-12)
    assert rows[0]["liquidity_level"] == forecast["level"]
    assert rows[0]["basis"] == "history" and rows[0]["snapshot_date"] == DAY4
    assert rows[0]["basis_note"] == f"from Ethereum's stored history (snapshot of {DAY4})"

    picked = client.get("/coins/pick?coin=ETH").headers["Location"]
    result = form_result(client, urlsplit(picked).query)
    html = result.get_data(as_text=True)
    assert result.status_code == 200
    assert re.search(r'<output id="score">([\d.]+)</output>', html).group(1) == f"{expected:.3f}"
    assert 'data-basis="history"' in html and "from Ethereum&#39;s stored history" in html

    answer = client.post("/api/v1/predict", json={"coin_id": "Ethereum:ETH", "price": 2900, "1h": 0.006,
                                                  "24h_volume": 16e9, "mkt_cap": 348e9}).get_json()["prediction"]
    assert answer["score"] == pytest.approx(expected, rel=1e-12)
    assert answer["basis"] == "history" and answer["coin_id"] == "Ethereum:ETH" and answer["snapshot_date"] == DAY4
    assert answer["interval_80"] == {"low": forecast["interval_80"]["low"], "high": forecast["interval_80"]["high"]}


def test_values_without_a_coin_are_forecast_from_the_inputs_and_say_so(client, snapshots_store):
    model = models.get(client.application)
    rows, _ = downloaded(client, f"price,1h,volume,mkt_cap\n2900,0.006,{ETH['volume']:.0f},{ETH['mkt_cap']:.0f}\n")
    assert rows[0]["basis"] == "inputs" and rows[0]["basis_note"] == INPUTS_NOTE
    assert float(rows[0]["liquidity_score"]) == pytest.approx(
        model.forecast(ETH["volume"], ETH["mkt_cap"], ETH["1h"], ETH["price"],
                       model.reference_ratios(snapshots_store.snapshot(DAY4))).score)
    answer = client.post("/api/v1/predict", json={"price": 2900, "1h": 0.006, "24h_volume": 16e9,
                                                  "mkt_cap": 348e9}).get_json()["prediction"]
    assert answer["basis"] == "inputs" and answer["coin_id"] is None and answer["snapshot_date"] == DAY4
    html = client.get("/predict?volume=16000000000&mkt_cap=348000000000&h1=0.6&price=2900").get_data(as_text=True)
    assert 'data-basis="inputs"' in html and "the coin&#39;s history was not used" in html


@pytest.mark.parametrize(("row", "basis", "note"), [
    (eth_row(), "history", f"from Ethereum's stored history (snapshot of {DAY4})"),
    (eth_row(coin="", symbol="eth"), "history", "from Ethereum's stored history"),  # the symbol alone, any case
    (eth_row(volume=ETH["volume"] * 1.004), "history", "from Ethereum's stored history"),  # rounded: the same day
    (eth_row(volume=ETH["volume"] * 2), "inputs",
     f"{INPUTS_NOTE}: the 24h volume given differs from Ethereum's stored snapshot of {DAY4}"),
    (eth_row(coin="Nocoin", symbol="NOPE"), "inputs",
     f"{INPUTS_NOTE}: no coin of the latest stored snapshot ({DAY4}) is named 'Nocoin (NOPE)'"),
    (eth_row(coin="Frenzy", symbol="FRZ"), "inputs", "no coin of the latest stored snapshot"),  # left the market
])
def test_each_batch_row_says_what_it_was_forecast_from(client, snapshots_store, row, basis, note):
    rows, _ = downloaded(client, f"{HEADER}\n{row}\n")
    assert rows[0]["basis"] == basis
    assert note in rows[0]["basis_note"]


@pytest.mark.sqlite_and_postgresql
def test_a_row_with_a_date_is_forecast_from_the_history_up_to_that_date(make_app, trained_dir, report_dir,
                                                                         snapshots_store, store_url):
    client = make_app(trained_dir, report_dir, DATABASE_URL=store_url).test_client()
    day2 = snapshots_store.snapshot(DAY2).set_index("coin_id").loc["Ethereum:ETH"]
    values = ",".join(repr(float(day2[column])) for column in ("price", "1h", "volume", "mkt_cap"))
    text = (f"coin_id,price,1h,volume,mkt_cap,date\nEthereum:ETH,{values},{DAY2}\n"
            f"Ethereum:ETH,2900,0.006,{ETH['volume']:.0f},{ETH['mkt_cap']:.0f},2023-12-01\n")
    rows, _ = downloaded(client, text)
    expected = client.get(f"/api/v1/coins/Ethereum:ETH/forecast?date={DAY2}").get_json()["forecast_score"]
    assert rows[0]["basis"] == "history" and rows[0]["snapshot_date"] == DAY2
    assert float(rows[0]["liquidity_score"]) == pytest.approx(expected, rel=1e-12)
    assert rows[1]["basis"] == "inputs"
    assert "the store holds no snapshot of 'Ethereum:ETH' on 2023-12-01" in rows[1]["basis_note"]
    assert OTHER_DATES >= 100  # a file of a few coins' past days is looked up whole


def test_an_api_list_mixes_both_paths_and_says_which_per_item(client, snapshots_store):
    items = [{"symbol": "ETH", "price": 2900, "1h": 0.006, "24h_volume": 16e9, "mkt_cap": 348e9},
             {"price": 2900, "24h_volume": 16e9, "mkt_cap": 348e9}]
    answer = client.post("/api/v1/predict", json=items).get_json()
    assert [p["basis"] for p in answer["predictions"]] == ["history", "inputs"]
    assert answer["predictions"][0]["basis_note"].startswith("from Ethereum's stored history")


@pytest.mark.parametrize(("item", "path", "reason"), [
    ({"coin_id": 7}, "$[0].coin_id", "must be a string"),
    ({"symbol": ["ETH"]}, "$[0].symbol", "must be a string"),
    ({"coin_id": "Ethereum:ETH", "date": "4 Jan"}, "$[0].date", "must be a date like 2024-03-16, not '4 Jan'"),
    ({"coin_id": "Ethereum:ETH", "date": ""}, "$[0].date", "must be a date like 2024-03-16, not ''"),
    ({"coin_id": "Ethereum:ETH", "date": "20240104"}, "$[0].date", "must be a date like 2024-03-16, not '20240104'"),
    ({"coin_id": "x" * 201}, "$[0].coin_id", "must be at most 200 characters"),
])
def test_a_bad_coin_name_in_the_api_is_a_400_naming_the_key(client, snapshots_store, item, path, reason):
    body = [{"price": 2900, "24h_volume": 16e9, "mkt_cap": 348e9, **item}]
    response = client.post("/api/v1/predict?atomic=true", json=body)
    assert response.status_code == 400
    assert {"path": path, "reason": reason} in response.get_json()["errors"]
    # Item by item (the default), the object is answered in place with the same error.
    answered = client.post("/api/v1/predict", json=body).get_json()
    assert answered["failed"] == 1 and {"path": path, "reason": reason} in answered["predictions"][0]["errors"]


def test_a_changed_value_after_fill_from_the_store_is_forecast_from_the_inputs(client, snapshots_store):
    query = urlsplit(client.get("/coins/pick?coin=ETH").headers["Location"]).query
    html = client.get("/predict?" + query.replace("volume=16000000000", "volume=32000000000")).get_data(as_text=True)
    assert 'data-basis="inputs"' in html
    assert f"the 24h volume given differs from Ethereum&#39;s stored snapshot of {DAY4}" in html


def test_a_bad_stored_date_in_the_form_is_a_400_naming_the_field(client, snapshots_store):
    response = client.get("/predict?volume=1&mkt_cap=2&price=3&store_coin=Ethereum:ETH&store_date=yesterday")
    assert response.status_code == 400
    assert "Stored snapshot date: Must be a date like 2024-03-16, not &#39;yesterday&#39;." in response.get_data(
        as_text=True)


# --- 1h is optional --------------------------------------------------------------------------------------------------

def test_an_empty_1h_is_missing_not_an_error_in_form_batch_and_api(client, snapshots_store):
    model = models.get(client.application)
    reference = model.reference_ratios(snapshots_store.snapshot(DAY4))
    without = model.forecast(16e9, 348e9, math.nan, 2900, reference).score
    html = client.get("/predict?volume=16000000000&mkt_cap=348000000000&h1=&price=2900").get_data(as_text=True)
    assert f'<output id="score">{without:.3f}</output>' in html and "not given" in html
    rows, _ = downloaded(client, "coin,symbol,price,volume,mkt_cap\nNewish,NWS,2900,16000000000,348000000000\n")
    assert rows[0]["error"] == "" and float(rows[0]["liquidity_score"]) == pytest.approx(without)
    assert rows[0]["1h"] == ""
    for item in ({"price": 2900, "24h_volume": 16e9, "mkt_cap": 348e9},
                 {"price": 2900, "24h_volume": 16e9, "mkt_cap": 348e9, "1h": None}):
        response = client.post("/api/v1/predict", json=item)
        assert response.status_code == 200
        assert response.get_json()["prediction"]["score"] == pytest.approx(without)


def test_fill_from_the_store_without_a_1h_leaves_it_empty_and_the_next_submit_works(client, history_store):
    location = client.get("/coins/pick?coin=bitcoin").headers["Location"]
    assert "h1=" not in location
    response = form_result(client, urlsplit(location).query)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-basis="history"' in html
    assert 'id="input-h1">not given' in html


@pytest.fixture(scope="module")
def committed_model():
    from liquidity.modeling.predict import LiquidityModel

    return LiquidityModel.load()


def test_the_committed_model_gives_the_same_forecast_with_or_without_1h(committed_model):
    assert committed_model.card["feature_importances"]["h1"] == 0
    with_h1 = committed_model.forecast(16e9, 348e9, 0.006, 2900).score
    assert committed_model.forecast(16e9, 348e9, math.nan, 2900).score == with_h1
    assert committed_model.forecast(16e9, 348e9, None, 2900).score == with_h1


def test_the_form_says_when_the_model_does_not_use_1h(client, monkeypatch):
    model = models.get(client.application)
    monkeypatch.setitem(model.card["feature_importances"], "h1", 0.0)
    assert "The current model does not use it" in client.get("/").get_data(as_text=True)
    monkeypatch.setitem(model.card["feature_importances"], "h1", 0.01)
    assert "The current model does not use it" not in client.get("/").get_data(as_text=True)


# --- a coin that left the market -------------------------------------------------------------------------------------

@pytest.mark.sqlite_and_postgresql
def test_a_coin_that_left_the_market_keeps_its_page_with_its_history(make_app, trained_dir, report_dir,
                                                                       snapshots_store, store_url):
    client = make_app(trained_dir, report_dir, DATABASE_URL=store_url).test_client()
    response = client.get("/coins/Frenzy:FRZ")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'Last seen on <span id="last-seen">{DAY2}</span>' in html and f"latest stored snapshot ({DAY4})" in html
    assert "2 stored snapshot(s)" in html and 'id="chart-score-title"' in html
    assert client.get("/api/v1/coins/Frenzy:FRZ").status_code == 200  # the API serves the same history
    assert client.get("/coins/Never:NVR").status_code == 404


# --- /batch results read by a person ---------------------------------------------------------------------------------

def test_a_repeated_coin_is_flagged_on_the_page_and_in_the_download(client, snapshots_store):
    text = f"{HEADER}\n{eth_row()}\n{eth_row(coin='', symbol='ETH')}\n{eth_row(coin='Tether', symbol='USDT')}\n"
    rows, response = downloaded(client, text)
    assert [row["repeated"] for row in rows] == ["the same coin as row 2", "the same coin as row 1", ""]
    assert f'filename="coins_scored_{DAY4}.csv"' in response.headers["Content-Disposition"]
    assert {row["snapshot_date"] for row in rows} == {DAY4}
    html = upload(client, text, action="show").get_data(as_text=True)
    assert html.count('data-repeated="true"') == 2 and 'id="count-repeated">2 row(s)' in html
    assert f"the stored snapshot of {DAY4}" in html


def test_batch_numbers_are_rounded_for_people(client, snapshots_store):
    html = upload(client, f"{HEADER}\n{eth_row()}\n", action="show").get_data(as_text=True)
    body = html.split('<table id="scores"', 1)[1]
    assert "$16 B" in body and "$348 B" in body and "+0.60 %" in body and "$2.9 k" in body
    assert "16000000000" not in body


# --- /model ----------------------------------------------------------------------------------------------------------

def test_the_model_page_leads_with_the_plain_summary(client):
    html = client.get("/model").get_data(as_text=True)
    summary = html.index('id="summary"')
    assert summary < html.index("R²") and summary < html.index("F1") and summary < html.index("ROC-AUC")
    text = html[summary:html.index("</section>", summary)]
    assert "It forecasts each coin's liquidity score" in text.replace("&#39;", "'")
    assert "smaller than the simplest rule" in text and "80 % interval" in text


def test_a_coin_on_many_rows_names_a_few_of_them_and_counts_the_rest(client, snapshots_store):
    rows, _ = downloaded(client, HEADER + "\n" + "\n".join([eth_row()] * 6) + "\n")
    assert rows[0]["repeated"] == "the same coin as row 2, 3, 4 and 2 more"
    assert rows[5]["repeated"] == "the same coin as row 1, 2, 3 and 2 more"
