"""The one input schema: the API's OpenAPI bounds, the form and the readers agree with validation."""

import math

import pytest

from liquidity.schema import INPUTS, api_keys, descriptions, header_aliases, units
from liquidity.validation import field_error
from liquidity.web.api.openapi import openapi_document


@pytest.mark.parametrize("spec", INPUTS, ids=lambda spec: spec.column)
def test_openapi_bounds_are_validations_bounds(spec):
    properties = openapi_document(10)["components"]["schemas"]["Item"]["properties"][spec.key]
    if "minimum" in properties:
        low = properties["minimum"]
        assert field_error(spec.column, low) is None
        assert field_error(spec.column, math.nextafter(low, -math.inf)) is not None
    else:
        low = properties["exclusiveMinimum"]
        assert field_error(spec.column, low) is not None
        assert field_error(spec.column, math.nextafter(low, math.inf)) is None
    high = properties["maximum"]
    assert field_error(spec.column, high) is None
    assert field_error(spec.column, math.nextafter(high, math.inf)) is not None


def test_openapi_requires_every_api_key_and_its_example_validates():
    item = openapi_document(10)["components"]["schemas"]["Item"]
    # 1h is optional (issue 20): the daily history has none, and the current model does not use it.
    assert item["required"] == [key for key in api_keys().values() if key != "1h"]
    columns = {spec.key: spec.column for spec in INPUTS}
    assert all(field_error(columns[key], value) is None for key, value in item["example"].items())


def test_the_form_shows_the_schemas_units_and_a_percent_for_the_hourly_change(app):
    from liquidity.web.home.forms import PredictForm

    with app.test_request_context():
        form = PredictForm(meta={"csrf": False})
    assert [form[spec.form_field].unit for spec in INPUTS] == ["USD", "USD", "%", "USD"]
    assert form.h1.placeholder == "e.g. 2.2"


def test_units_and_header_aliases_cover_the_four_inputs():
    assert units() == {"volume": "USD", "mkt_cap": "USD", "1h": "fraction (0.022 = +2.2 %)", "price": "USD"}
    assert header_aliases() == {"24h_volume": "volume", "total_volume": "volume", "market_cap": "mkt_cap"}


def test_the_model_card_states_the_inputs_as_the_schema_does(trained_dir):
    import json

    card = json.loads((trained_dir / "model_card.json").read_text())
    assert {column: entry["unit"] for column, entry in card["inputs"].items()} == units()
    assert {column: entry["description"] for column, entry in card["inputs"].items()} == descriptions()
