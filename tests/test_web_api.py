import io
import json

import pytest

from liquidity.web.extensions import models

BITCOIN = {"price": 40859.46, "1h": 0.022, "24h_volume": 35000000000, "mkt_cap": 770000000000}
THIN = {"price": 0.295224, "1h": 0.001, "24h_volume": 7810.13, "mkt_cap": 133599281}


def post_json(client, body, query="", **kwargs):
    return client.post("/api/v1/predict" + query, data=json.dumps(body), content_type="application/json", **kwargs)


def test_one_object_answers_score_level_band_implied_volume_and_version(client, app):
    response = post_json(client, BITCOIN)
    model = models.get(app)
    expected = model.forecast(35000000000, 770000000000, 0.022, 40859.46)
    answer = response.json["prediction"]
    assert response.status_code == 200
    assert response.json["model_version"] == model.version
    assert answer["score"] == pytest.approx(expected.score)
    assert answer["level"] == expected.level
    assert answer["band"]["low"] == pytest.approx(expected.band_low)
    assert answer["band"]["high"] == pytest.approx(expected.band_high)
    assert answer["implied_next_day"]["volume_usd"] == pytest.approx(expected.implied_volume)
    assert answer["out_of_range"] == []


def test_a_list_is_scored_item_by_item_in_order(client, app):
    model = models.get(app)
    response = post_json(client, [BITCOIN, THIN])
    scores = [item["score"] for item in response.json["predictions"]]
    assert response.json["count"] == 2
    assert scores[0] == pytest.approx(model.predict_one(35000000000, 770000000000, 0.022, 40859.46).score)
    assert scores[1] == pytest.approx(model.predict_one(7810.13, 133599281, 0.001, 0.295224).score)


def test_volume_is_accepted_as_an_alias_of_24h_volume(client):
    aliased = {**{k: v for k, v in BITCOIN.items() if k != "24h_volume"}, "volume": BITCOIN["24h_volume"]}
    assert post_json(client, aliased).json["prediction"] == post_json(client, BITCOIN).json["prediction"]


def test_inputs_outside_the_training_range_are_flagged(client):
    answer = post_json(client, {**BITCOIN, "price": 5e8, "mkt_cap": 1e13}).json["prediction"]
    assert set(answer["out_of_range"]) == {"price", "mkt_cap"}


def test_no_csrf_token_is_needed_on_the_api(client):
    assert post_json(client, BITCOIN).status_code == 200


@pytest.mark.parametrize("body, path, reason", [
    ({**BITCOIN, "price": 0}, "$[0].price", "price must be greater than 0"),
    ({**BITCOIN, "price": -5}, "$[0].price", "price must be greater than 0"),
    ({**BITCOIN, "price": "40000"}, "$[0].price", "must be a JSON number"),
    ({**BITCOIN, "price": True}, "$[0].price", "must be a JSON number"),
    ({**BITCOIN, "price": None}, "$[0].price", "must be a JSON number"),
    ({**BITCOIN, "mkt_cap": 0}, "$[0].mkt_cap", "market cap must be greater than 0"),
    ({**BITCOIN, "mkt_cap": 1e20}, "$[0].mkt_cap", "market cap must be at most 1e+14"),
    ({**BITCOIN, "24h_volume": -1}, "$[0].24h_volume", "24h volume must be at least 0"),
    ({**BITCOIN, "1h": -1}, "$[0].1h", "1h change must be above -100 % (a fraction above -1)"),
    ({**BITCOIN, "1h": 22}, "$[0].1h", "1h change must be at most 10"),
    ({k: v for k, v in BITCOIN.items() if k != "mkt_cap"}, "$[0].mkt_cap", "is required"),
    ({**BITCOIN, "volume": 1}, "$[0].volume", "give either 24h_volume or volume, not both"),
    ([BITCOIN, 7], "$[1]", "must be an object"),
    ([BITCOIN, {**BITCOIN, "1h": "x"}], "$[1].1h", "must be a JSON number"),
    ("just a string", "$", "must be an object or a list"),
    ([], "$", "must hold at least one object"),
])
def test_invalid_values_answer_400_with_the_field_path_and_reason(client, body, path, reason):
    response = post_json(client, body, "?atomic=true")
    assert response.status_code == 400
    assert {"path": path, "reason": reason} in response.json["errors"]


def test_with_atomic_every_bad_field_is_reported_and_nothing_is_scored(client):
    response = post_json(client, [{**BITCOIN, "price": 0}, BITCOIN, {**BITCOIN, "mkt_cap": -1, "1h": "up"}],
                         "?atomic=true")
    assert response.status_code == 400
    assert [error["path"] for error in response.json["errors"]] == ["$[0].price", "$[2].mkt_cap", "$[2].1h"]
    assert "predictions" not in response.json


@pytest.mark.parametrize("raw", ['{"price": ', "not json", '{"price": NaN, "1h": 0, "24h_volume": 1, "mkt_cap": 1}',
                                 '[{"price": Infinity}]', b"\xff\xfe"])
def test_malformed_json_is_a_400_in_json(client, raw):
    response = client.post("/api/v1/predict", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json["errors"][0]["path"] == "$"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
def test_wrong_content_type_is_415_in_json(client, content_type):
    response = client.post("/api/v1/predict", data=json.dumps(BITCOIN), content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.json["message"]


def test_a_body_over_the_upload_limit_is_413_in_json(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = post_json(client, [BITCOIN] * 50)
    assert response.status_code == 413
    assert "upload limit" in response.json["message"]


class Trickle(io.BytesIO):
    """A request body a server hands over a few bytes per read."""

    PER_READ = 7

    def read(self, size=-1):
        return super().read(self.PER_READ if size is None or size < 0 else min(size, self.PER_READ))

    def readinto(self, buffer):
        chunk = self.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def test_a_body_handed_over_in_short_reads_is_read_to_its_end(client):
    body = json.dumps(BITCOIN).encode()
    response = client.post("/api/v1/predict", input_stream=Trickle(body), content_type="application/json")
    assert response.status_code == 200, response.json
    assert response.json["prediction"]["score"] == post_json(client, BITCOIN).json["prediction"]["score"]


def test_a_chunked_body_without_a_length_is_read_to_its_end(client):
    # gunicorn marks a chunked body as terminated: it has no Content-Length and is read until its end.
    body = json.dumps(BITCOIN).encode()
    response = client.post("/api/v1/predict", input_stream=Trickle(body), content_type="application/json",
                           environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True})
    assert response.status_code == 200, response.json


def test_more_items_than_allowed_is_400_as_the_documents_max_items_says(client, app):
    app.config["API_MAX_ITEMS"] = 3
    assert post_json(client, [BITCOIN] * 3).status_code == 200
    response = post_json(client, [BITCOIN] * 4)
    assert response.status_code == 400
    assert "At most 3 objects" in response.json["message"]
    assert response.json["errors"] == [{"path": "$", "reason": "must hold at most 3 objects"}]
    body = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/predict"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["oneOf"][1]["maxItems"] == 3


def test_ten_thousand_items_are_scored_in_one_request(client):
    response = post_json(client, [BITCOIN, THIN] * 5000)
    assert response.status_code == 200
    assert response.json["count"] == 10000
    predictions = response.json["predictions"]
    assert predictions[0] == predictions[9998] and predictions[1] == predictions[9999]


@pytest.mark.parametrize("method, path", [("get", "/api/v1/predict"), ("post", "/api/v1/model"),
                                          ("get", "/api/v1/nothing")])
def test_api_405_and_404_answer_json(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code in (404, 405)
    assert response.is_json and response.json["error"]


def test_model_endpoint_gives_inputs_with_units_and_ranges_metrics_and_version(client, app):
    card = models.get(app).card
    body = client.get("/api/v1/model").json
    assert body["model_version"] == card["model_version"]
    assert set(body["inputs"]) == {"price", "1h", "24h_volume", "mkt_cap"}
    assert body["inputs"]["24h_volume"]["unit"] == "USD"
    assert body["inputs"]["mkt_cap"]["max"] == card["inputs"]["mkt_cap"]["max"]
    assert body["validation"]["models"]["persistence"]["r2"] == card["validation"]["models"]["persistence"]["r2"]


def test_openapi_document_describes_the_endpoints(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/predict", "/api/v1/model", "/healthz"} <= set(document["paths"])
    item = document["components"]["schemas"]["Item"]
    assert set(item["required"]) == {"price", "24h_volume", "mkt_cap"}  # 1h is optional (issue 20)
    assert {"400", "413", "415"} <= set(document["paths"]["/api/v1/predict"]["post"]["responses"])
