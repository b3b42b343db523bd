"""Issue 21's lists and lookups: per-item list answers, coins looked up by symbol, a past forecast with what happened
next, 405s for undeclared methods and the hints for common mistakes."""

import json

import pytest
from conftest import strict_json

from liquidity.web.extensions import models

BITCOIN = {"price": 40859.46, "1h": 0.022, "24h_volume": 35000000000, "mkt_cap": 770000000000}
THIN = {"price": 0.295224, "1h": 0.001, "24h_volume": 7810.13, "mkt_cap": 133599281}


def post_json(client, body, query=""):
    return client.post("/api/v1/predict" + query, data=json.dumps(body), content_type="application/json")


# --- POST /api/v1/predict with a list ----------------------------------------------------------------------------

def test_a_list_with_good_and_bad_objects_is_answered_item_by_item_in_order(client, app):
    model = models.get(app)
    response = post_json(client, [BITCOIN, {**BITCOIN, "price": 0}, THIN, 7])
    answer = strict_json(response)
    assert response.status_code == 200
    assert (answer["count"], answer["scored"], answer["failed"]) == (4, 2, 2)
    first, bad_price, thin, not_object = answer["predictions"]
    assert first["score"] == pytest.approx(model.predict_one(35000000000, 770000000000, 0.022, 40859.46).score)
    assert thin["score"] == pytest.approx(model.predict_one(7810.13, 133599281, 0.001, 0.295224).score)
    assert bad_price["errors"] == [{"path": "$[1].price", "reason": "price must be greater than 0"}]
    assert "score" not in bad_price and "not scored" in bad_price["error"]
    assert not_object["errors"] == [{"path": "$[3]", "reason": "must be an object"}]


def test_only_the_scored_objects_of_a_list_are_logged(client, app, store_url):
    from conftest import logged

    post_json(client, [BITCOIN, {**BITCOIN, "mkt_cap": -1}, THIN])
    rows = logged(store_url, app=app)
    assert sorted(rows["price"]) == [THIN["price"], BITCOIN["price"]]


@pytest.mark.parametrize("query", ["", "?atomic=false", "?atomic=true"])
def test_the_clients_id_is_echoed_on_each_item(client, query):
    body = [{**BITCOIN, "id": "order-17"}, {**THIN, "id": 42}, THIN]
    predictions = strict_json(post_json(client, body, query))["predictions"]
    assert [item.get("id") for item in predictions] == ["order-17", 42, None]


def test_the_id_is_echoed_on_an_item_with_errors_and_on_a_single_object(client):
    bad = strict_json(post_json(client, [{**BITCOIN, "price": "x", "id": "b-1"}]))["predictions"][0]
    assert bad["id"] == "b-1" and bad["errors"][0]["path"] == "$[0].price"
    assert strict_json(post_json(client, {**BITCOIN, "id": "one"}))["prediction"]["id"] == "one"


@pytest.mark.parametrize("item_id, echoed", [([1, 2], False), ({"a": 1}, False), (True, False), ("x" * 50, True),
                                             (-3.5, True)])
def test_an_id_that_cannot_be_echoed_is_an_error_of_its_item(client, item_id, echoed):
    prediction = strict_json(post_json(client, [{**BITCOIN, "id": item_id}]))["predictions"][0]
    if echoed:
        assert prediction["id"] == item_id and "score" in prediction
    else:
        assert prediction["errors"] == [{"path": "$[0].id", "reason": "must be a string or a finite number (it is "
                                                                      "echoed back as given)"}]
        assert "id" not in prediction


def test_atomic_rejects_the_whole_list_for_one_bad_object(client):
    response = post_json(client, [BITCOIN, {**BITCOIN, "1h": "up"}], "?atomic=true")
    assert response.status_code == 400
    assert response.json["errors"] == [{"path": "$[1].1h", "reason": "must be a JSON number"}]
    assert "predictions" not in response.json
    assert post_json(client, [BITCOIN, THIN], "?atomic=true").json["count"] == 2


@pytest.mark.parametrize("flag", ["maybe", "", "2"])
def test_an_unknown_atomic_value_is_a_400_naming_the_parameter(client, flag):
    response = post_json(client, [BITCOIN], f"?atomic={flag}")
    assert response.status_code == 400
    assert response.json["errors"] == [{"path": "atomic", "reason": f"must be true or false, not {flag!r}"}]


def test_a_list_of_only_bad_objects_is_still_answered_item_by_item(client):
    answer = strict_json(post_json(client, [{"price": 1}, None]))
    assert (answer["scored"], answer["failed"]) == (0, 2)
    # 1h is optional (issue 20): left out, it is missing, not an error.
    assert [error["path"] for error in answer["predictions"][0]["errors"]] == ["$[0].24h_volume", "$[0].mkt_cap"]


@pytest.mark.parametrize("sent, path, hint", [
    ("h1", "$[0].1h", "(found 'h1': the key is '1h')"),
    ("change_1h", "$[0].1h", "(found 'change_1h': the key is '1h')"),
    ("volume_24h", "$[0].24h_volume", "(found 'volume_24h': the key is '24h_volume')"),
    ("market_cap", "$[0].mkt_cap", "(found 'market_cap': the key is 'mkt_cap')"),
    ("price_usd", "$[0].price", "(found 'price_usd': the key is 'price')"),
])
def test_a_misspelt_key_is_named_with_the_key_the_api_reads(client, sent, path, hint):
    meant = {"h1": "1h", "change_1h": "1h", "volume_24h": "24h_volume", "market_cap": "mkt_cap",
             "price_usd": "price"}[sent]
    item = {key: value for key, value in BITCOIN.items() if key != meant} | {sent: BITCOIN[meant]}
    response = post_json(client, item)
    assert response.status_code == 400
    required = "is optional, but its value was sent under another key" if meant == "1h" else "is required"
    assert response.json["errors"] == [{"path": path, "reason": f"{required} {hint}"}]


# --- undeclared methods -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/predict"), ("put", "/api/v1/predict"), ("post", "/api/v1/model"), ("delete", "/api/v1/coins"),
    ("post", "/api/v1/coins/bitcoin"), ("patch", "/api/v1/coins/bitcoin/forecast"), ("post", "/api/v1/monitor"),
    ("delete", "/api/v1/openapi.json"), ("post", "/healthz"),
])
def test_an_undeclared_method_is_a_405_in_json_with_allow(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.is_json and response.json["error"] == "Method not allowed"
    assert response.headers["Allow"]


# --- coins looked up by symbol ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["BTC", "btc", "Btc", "bitcoin", "Bitcoin"])
def test_a_unique_symbol_or_name_answers_the_coins_forecast_and_history(client, history_store, name):
    forecast = client.get(f"/api/v1/coins/{name}/forecast")
    assert forecast.status_code == 200
    assert (forecast.json["coin_id"], forecast.json["symbol"]) == ("bitcoin", "BTC")
    history = client.get(f"/api/v1/coins/{name}")
    assert history.status_code == 200 and history.json["coin_id"] == "bitcoin" and history.json["count"] == 2


@pytest.mark.parametrize("path", ["/api/v1/coins/ALP/forecast", "/api/v1/coins/alp", "/api/v1/coins/Alp?days=30"])
def test_an_ambiguous_symbol_answers_300_listing_the_matching_ids(client, history_store, path):
    response = client.get(path)
    assert response.status_code == 300
    assert [match["coin_id"] for match in response.json["matches"]] == ["alpha-one", "alpha-two"]  # largest first
    assert response.json["matches"][1]["path"].startswith("/api/v1/coins/alpha-two")
    assert "2 coins" in response.json["message"]


@pytest.mark.parametrize("path", ["/api/v1/coins/NOPE/forecast", "/api/v1/coins/NOPE"])
def test_an_unknown_coin_answers_404_with_a_hint(client, history_store, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "?q=NOPE" in response.json["message"] and "unique symbol" in response.json["message"]


# --- ?date= on a coin forecast: a past forecast with what happened next ------------------------------------------

def test_a_past_date_answers_that_forecast_with_its_known_outcome(client, snapshots_store, app):
    model = models.get(app)
    answer = strict_json(client.get("/api/v1/coins/BTC/forecast?date=2024-01-01"))
    realized = snapshots_store.snapshot("2024-01-02").set_index("coin_id").loc["Bitcoin:BTC", "liquidity_score"]
    assert (answer["date"], answer["target_date"]) == ("2024-01-01", "2024-01-02")
    outcome = answer["outcome"]
    assert outcome["known"] is True and outcome["realized_date"] == "2024-01-02"
    assert outcome["realized_score"] == pytest.approx(realized)
    low, high = answer["interval_80"]["low"], answer["interval_80"]["high"]
    assert outcome["inside_80"] is bool(low <= realized <= high)
    assert answer["horizons"][0]["outcome"] == outcome
    assert len(answer["horizons"]) == len(model.horizons)


@pytest.mark.parametrize("date", ["2024-01-02", "2024-01-04"])
def test_an_outcome_not_stored_yet_is_null(client, snapshots_store, date):
    outcome = strict_json(client.get(f"/api/v1/coins/Bitcoin:BTC/forecast?date={date}"))["outcome"]
    assert outcome == {"known": False, "realized_date": None, "realized_score": None, "inside_80": None,
                       "inside_90": None}


@pytest.mark.parametrize("date, status, words", [
    ("0001-01-01", 404, "date:"), ("9999-12-31", 404, "date:"), ("2023-12-31", 404, "date:"),
    ("2024-01-03", 404, "date:"), ("2024-13-01", 400, "must be a date like"), ("yesterday", 400, "must be a date"),
])
def test_a_date_out_of_range_names_the_field_never_a_500(client, snapshots_store, date, status, words):
    response = client.get(f"/api/v1/coins/Bitcoin:BTC/forecast?date={date}")
    assert response.status_code == status
    text = response.json["message"] + json.dumps(response.json.get("errors", []))
    assert words in text and "date" in text


def test_the_store_reads_a_coins_history_up_to_the_calendars_first_day(snapshots_store):
    assert snapshots_store.coin_history("Bitcoin:BTC", end="0001-01-01", days=31).empty
    assert len(snapshots_store.coin_history("Bitcoin:BTC", end="2024-01-04", days=10 ** 6)) == 3


# --- the OpenAPI document and /docs/api ---------------------------------------------------------------------------

def _operations(document):
    return [(method, path, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items()]


def test_every_operation_has_a_request_and_an_answer_example_that_fits_its_schema(client):
    import jsonschema

    document = client.get("/api/v1/openapi.json").json
    for method, path, operation in _operations(document):
        assert operation["x-request-example"].startswith(f"{method.upper()} {path.split('{')[0]}"), path
        responses = operation["responses"]
        success = min(status for status in responses if status.startswith("2"))
        if success == "204":
            assert "content" not in responses[success], path
            continue
        content = responses[success]["content"]["application/json"]
        if "schema" in content:
            jsonschema.Draft202012Validator({**content["schema"], "components": document["components"]}).validate(
                content["example"])


def test_every_api_operation_documents_the_rate_limit_answers_and_headers(client):
    document = client.get("/api/v1/openapi.json").json
    for _, path, operation in _operations(document):
        responses = operation["responses"]
        if not path.startswith("/api/"):
            assert "429" not in responses
            continue
        assert responses["429"]["headers"]["Retry-After"]["required"] is True, path
        success = min(status for status in responses if status.startswith("2"))
        assert set(responses[success]["headers"]) >= {"X-RateLimit-Limit", "X-RateLimit-Remaining",
                                                      "X-RateLimit-Reset"}, path
    assert "429" in document["info"]["description"] and "X-RateLimit-Remaining" in document["info"]["description"]


@pytest.mark.parametrize("page, status", [(1, 200), (1_000_000, 200), (1_000_001, 400), (0, 400)])
def test_the_documented_page_bound_is_the_one_the_api_accepts(client, history_store, page, status):
    parameters = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/coins"]["get"]["parameters"]
    bounds = next(p["schema"] for p in parameters if p["name"] == "page")
    assert (bounds["minimum"] <= page <= bounds["maximum"]) == (status == 200)
    assert client.get(f"/api/v1/coins?page={page}").status_code == status


@pytest.mark.parametrize("horizon, reason", [
    ("7d", "must be 1 (days ahead), not '7d': write the number of days alone, e.g. 7"),
    ("1D", "must be 1 (days ahead), not '1D': write the number of days alone, e.g. 1"),
    ("week", "must be 1 (days ahead), not 'week'"),
])
def test_a_horizon_with_its_unit_answers_with_a_hint(client, history_store, horizon, reason):
    response = client.get(f"/api/v1/coins?horizon={horizon}")
    assert response.status_code == 400
    assert response.json["errors"] == [{"path": "horizon", "reason": reason}]


def test_the_docs_page_shows_the_rate_limits_the_common_mistakes_and_the_examples(client):
    page = client.get("/docs/api").get_data(as_text=True)
    document = client.get("/api/v1/openapi.json").json
    assert "Retry-After" in page and "X-RateLimit-Reset" in page and "429" in page
    assert page.count('class="request-example"') == len(_operations(document))
    with_body = [operation for _, _, operation in _operations(document) if "204" not in operation["responses"]]
    assert page.count('class="answer-example"') == len(with_body)
    assert "the key h1 instead of 1h" in page and "?atomic=true" in page
    assert len(document["info"]["x-common-mistakes"]) >= 5
