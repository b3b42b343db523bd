"""Property-based HTTP tests: hostile JSON, bytes, content types and form values never cause a 500.

Every rejection is a 4xx that names the field and the reason; every 200 is a well-formed forecast.
"""

import json
import math
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from liquidity.validation import field_error, percent_change_error
from liquidity.web.home.forms import parse_number

API_FIELDS = {"price": "price", "1h": "1h", "24h_volume": "volume", "mkt_cap": "mkt_cap"}
BITCOIN = {"price": 40851.38, "1h": 0.001, "24h_volume": 20476118020, "mkt_cap": 776077432316}
FORM_FIELDS = {"volume": "volume", "mkt_cap": "mkt_cap", "h1": "1h", "price": "price"}
BITCOIN_FORM = {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"}

@pytest.fixture(scope="module")
def client(make_app, trained_dir, tmp_path_factory):
    """One client for the whole module: hypothesis runs many examples per test."""
    app = make_app(trained_dir, tmp_path_factory.mktemp("report"))
    return app.test_client()


@pytest.fixture(scope="module")
def form_token(client):
    return client.csrf_token()


numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(),
    st.sampled_from([0, -0.0, 1e-320, 5e-324, 1e308, -1e308, 1e13, 1e14, 1e14 + 1, 10.0, 10.000001, -1, -0.999999,
                     10 ** 30, -(10 ** 30), 2 ** 63]),
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8)
# An item: each of the four keys present or not, with a plausible number or anything; plus extra keys.
field_value = st.one_of(numbers, json_values)
items = st.builds(
    lambda present, extra: {**present, **extra},
    st.fixed_dictionaries({}, optional={key: field_value for key in (*API_FIELDS, "volume")}),
    st.dictionaries(st.text(max_size=6).filter(lambda k: k not in API_FIELDS and k != "volume"), json_values,
                    max_size=2),
)
bodies = st.one_of(items, st.lists(items, min_size=1, max_size=4), json_values)


def post_json(client, raw, content_type="application/json", query=""):
    return client.post("/api/v1/predict" + query, data=raw, content_type=content_type)


def finite_number(value):
    """Return True for a JSON number the API can echo: not a boolean, not past a float's range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def item_is_valid(item):
    """Return True when the API must score item: the oracle, written from the API's documented rules."""
    if not isinstance(item, dict) or ("volume" in item and "24h_volume" in item):
        return False
    if "id" in item and not (isinstance(item["id"], str) or finite_number(item["id"])):
        return False
    values = {key: item.get(key, item.get("volume") if key == "24h_volume" else None) for key in API_FIELDS}
    # 1h is optional (issue 20): left out or null, it is missing.
    return all((key == "1h" and value is None) or (isinstance(value, (int, float)) and not isinstance(value, bool)
               and field_error(API_FIELDS[key], value) is None) for key, value in values.items())


def assert_well_formed_prediction(prediction):
    assert 0.0 <= prediction["score"] <= 1.0
    assert prediction["level"] in ("High", "Low")
    assert prediction["band"]["low"] <= prediction["band"]["high"]
    assert math.isfinite(prediction["implied_next_day"]["volume_usd"])
    assert set(prediction["out_of_range"]) <= set(API_FIELDS)


def assert_names_field_and_reason(response):
    assert response.is_json
    body = response.json
    assert body["message"]
    assert body["errors"], body
    for error in body["errors"]:
        assert re.fullmatch(r"\$(\[\d+\])?(\..+)?", error["path"]), error
        assert error["reason"].strip()


@settings(max_examples=200, deadline=None)
@given(body=bodies)
@example(body={**BITCOIN, "price": float("1e308") * 10})  # inf cannot be sent; json.dumps writes Infinity
@example(body=[[[[]]]])
@example(body={**BITCOIN, "extra": {"nested": [1, {"x": None}]}})
@example(body=[BITCOIN, {**BITCOIN, "id": [1]}])
def test_any_json_body_is_scored_or_rejected_naming_the_field_with_atomic(client, body):
    response = post_json(client, json.dumps(body), query="?atomic=true")
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    listed = body if isinstance(body, list) else [body]
    valid = isinstance(body, (dict, list)) and bool(listed) and all(map(item_is_valid, listed))
    assert (response.status_code == 200) == valid, (body, response.json)
    if response.status_code == 400:
        assert_names_field_and_reason(response)
        return
    predictions = [response.json["prediction"]] if isinstance(body, dict) else response.json["predictions"]
    assert len(predictions) == len(listed)
    for prediction in predictions:
        assert_well_formed_prediction(prediction)


@settings(max_examples=150, deadline=None)
@given(body=st.lists(items, min_size=1, max_size=4))
@example(body=[[[[]]], BITCOIN])
@example(body=[BITCOIN, {**BITCOIN, "id": [1]}, {**BITCOIN, "id": "mine"}, {**BITCOIN, "id": 10 ** 400}])
def test_any_json_list_is_answered_item_by_item(client, body):
    response = post_json(client, json.dumps(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    predictions = response.json["predictions"]
    assert len(predictions) == len(body) == response.json["count"]
    for position, (item, prediction) in enumerate(zip(body, predictions)):
        if isinstance(item, dict) and "id" in item and item_is_valid(item):
            assert prediction["id"] == item["id"]
        if item_is_valid(item):
            assert_well_formed_prediction(prediction)
        else:
            assert "score" not in prediction and prediction["errors"], (item, prediction)
            assert all(error["path"].startswith(f"$[{position}]") for error in prediction["errors"])
    assert response.json["scored"] == sum(map(item_is_valid, body))


@settings(max_examples=150, deadline=None)
@given(raw=st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode)))
@example(raw=b"")
@example(raw=b"   \n")
@example(raw=b"\xff\xfe\xfd")
@example(raw=b'{"price": 1, "1h": 0, "24h_volume": 1, "mkt_cap": 1\xc3\x28}')
@example(raw=b"[" * 100_000)
@example(raw=b'{"a":' * 50_000)
@example(raw=b'{"price": ' + b"9" * 5000 + b', "1h": 0, "24h_volume": 1, "mkt_cap": 1}')
@example(raw=b'{"price": NaN, "1h": 0, "24h_volume": 1, "mkt_cap": 1}')
@example(raw=b'{"price": -Infinity, "1h": 0, "24h_volume": 1, "mkt_cap": 1}')
@example(raw=b'{"price": 1e999, "1h": 0, "24h_volume": 1, "mkt_cap": 1}')
@example(raw='{"price": 1, "1h": 0, "24h_volume": 1, "mkt_cap": 1}'.encode("utf-16"))
def test_any_bytes_are_answered_in_json_below_500(client, raw):
    response = post_json(client, raw)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert_names_field_and_reason(response)


@pytest.mark.parametrize("raw, path, reason", [
    (b"", "$", "the body is empty"),
    (b"[" * 100_000, "$", "nested too deeply"),
    (b'{"price": ' + b"9" * 5000 + b', "1h": 0, "24h_volume": 1, "mkt_cap": 1}', "$[0].price", "finite"),
    (b'{"price": 1e999, "1h": 0, "24h_volume": 1, "mkt_cap": 1}', "$[0].price", "finite"),
    (b'{"price": 1, "1h": 0, "24h_volume": 1, "mkt_cap": 1, "price": 2}', "$[0].price", "more than once"),
])
def test_edge_bodies_are_rejected_with_a_named_field_and_reason(client, raw, path, reason):
    response = post_json(client, raw)
    assert response.status_code == 400
    assert any(error["path"] == path and reason in error["reason"] for error in response.json["errors"]), response.json


keys = st.sampled_from([*API_FIELDS, "volume", "coin"])


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(keys, st.one_of(numbers, json_scalars)), min_size=1, max_size=8))
def test_duplicate_keys_are_rejected_naming_the_key(client, pairs):
    raw = "{" + ", ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in pairs) + "}"
    response = post_json(client, raw)
    assert response.status_code in (200, 400)
    names = [key for key, _ in pairs]
    duplicated = {key for key in names if names.count(key) > 1}
    if duplicated:
        assert response.status_code == 400
        reported = {error["path"] for error in response.json["errors"] if "more than once" in error["reason"]}
        assert reported == {f"$[0].{key}" for key in duplicated}
    else:
        assert (response.status_code == 200) == item_is_valid(dict(pairs))


@settings(max_examples=60, deadline=None)
@given(content_type=st.one_of(
    st.sampled_from(["text/plain", "application/xml", "application/x-www-form-urlencoded", "application/json-seq",
                     "application/json; charset=latin-1", "application/JSON", "", "*/*"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30)))
def test_other_content_types_are_415_or_read_as_json(client, content_type):
    response = post_json(client, json.dumps(BITCOIN), content_type=content_type)
    assert response.status_code in (200, 415), (content_type, response.status_code)
    assert response.is_json
    if response.status_code == 415:
        assert "application/json" in response.json["message"]


def form_value_is_valid(name, text):
    if name == "h1" and not (text or "").strip():
        return True  # 1h is optional (issue 20): an empty box is missing
    number = parse_number(text)
    if number is None:
        return False
    return (percent_change_error(number) if name == "h1" else field_error(FORM_FIELDS[name], number)) is None


form_text = st.one_of(
    st.text(max_size=20),
    st.floats().map(repr),
    st.integers().map(str),
    st.sampled_from(["", " ", "nan", "-inf", "1e400", "-0", "1,234,567.89", "$40,851.38", "1_000", "0x10", "1e-400",
                     "9" * 400, "١٢٣", "1.2.3", "--1", "<script>alert(1)</script>", "'; drop table coins; --"]),
)


@settings(max_examples=200, deadline=None)
@given(values=st.fixed_dictionaries({}, optional={name: form_text for name in FORM_FIELDS}),
       extra=st.dictionaries(st.text(min_size=1, max_size=5).filter(lambda k: k not in FORM_FIELDS
                                                                     and k != "csrf_token"),
                             st.text(max_size=5), max_size=2))
@example(values={**BITCOIN_FORM, "price": "1e400"}, extra={})
@example(values={**BITCOIN_FORM, "h1": "nan"}, extra={})
@example(values=BITCOIN_FORM, extra={"volume2": "x"})
def test_any_form_values_give_a_forecast_or_a_400_beside_each_bad_field(client, form_token, values, extra):
    response = client.post("/predict", data={**extra, **values, "csrf_token": form_token}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code in (200, 400), html[:500]
    # A valid form arrives at its result URL, whose values must survive the round trip through the query string.
    assert [r.status_code for r in response.history] == ([303] if response.status_code == 200 else [])
    invalid = {name for name in FORM_FIELDS if not form_value_is_valid(name, values.get(name))}
    errors = dict(re.findall(r'<p class="error" id="(\w+)-error">([^<]+)</p>', html))
    assert set(errors) == invalid
    assert all(text.strip() for text in errors.values())
    assert (response.status_code == 200) == (not invalid)
    assert "<script>alert" not in html  # what was typed is shown again, escaped
    if response.status_code == 200:
        score = float(re.search(r'<output id="score">([0-9.]+)</output>', html).group(1))
        assert 0.0 <= score <= 1.0


@settings(max_examples=100, deadline=None)
@given(query=st.dictionaries(st.sampled_from([*FORM_FIELDS, "live_coin", "live_error", "x"]), form_text, max_size=6))
def test_any_query_string_prefills_the_home_page_escaped(client, query):
    response = client.get("/", query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html
    assert 'class="error"' not in html  # a pre-filled form is not judged until it is sent


@settings(max_examples=100, deadline=None)
@given(query=st.dictionaries(st.sampled_from([*FORM_FIELDS, "csrf_token", "x"]), form_text, max_size=6))
def test_any_result_url_is_a_forecast_or_a_400_beside_each_bad_field(client, query):
    response = client.get("/predict", query_string=query)
    html = response.get_data(as_text=True)
    if not query:
        assert response.status_code == 302
        return
    invalid = {name for name in FORM_FIELDS if not form_value_is_valid(name, query.get(name))}
    assert response.status_code == (400 if invalid else 200), html[:500]
    assert set(re.findall(r'<p class="error" id="(\w+)-error">', html)) == invalid
    assert "<script>alert" not in html


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=200),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                     "application/x-www-form-urlencoded; charset=utf-16", "application/json"]))
@example(raw=b"volume=%ff%fe&mkt_cap=1&h1=0&price=1", content_type="application/x-www-form-urlencoded")
def test_any_raw_form_body_is_answered_below_500(client, form_token, raw, content_type):
    body = b"csrf_token=" + form_token.encode() + b"&" + raw
    response = client.post("/predict", data=body, content_type=content_type)
    assert response.status_code in (303, 400), response.status_code
    assert "Traceback" not in response.get_data(as_text=True)
