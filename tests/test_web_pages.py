import json
import re

import pytest

from liquidity.examples import EXAMPLE_COINS
from liquidity.web.extensions import models

BITCOIN_FORM = {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"}


def post_form(client, **changes):
    data = {**BITCOIN_FORM, **changes, "csrf_token": client.csrf_token()}
    return client.post("/predict", data=data, follow_redirects=True)


def field_errors(html):
    """Return {input id: error text} for every field error on the page."""
    return dict(re.findall(r'<p class="error" id="(\w+)-error">([^<]+)</p>', html))


def test_home_shows_the_four_fields_with_units_and_help(client):
    html = client.get("/").get_data(as_text=True)
    for label in ("24h trading volume", "Market cap", "Price change, last hour", "Price"):
        assert label in html
    assert html.count('<span class="unit">(USD)</span>') == 3
    assert '<span class="unit">(%)</span>' in html
    assert "type 2.2 for +2.2 %" in html
    assert 'name="csrf_token"' in html


def test_home_links_each_example_coin_to_a_prefilled_form(client):
    html = client.get("/").get_data(as_text=True)
    for coin in EXAMPLE_COINS:
        assert coin.name in html
    tether = next(coin for coin in EXAMPLE_COINS if "Tether" in coin.name)
    page = client.get("/", query_string=tether.query()).get_data(as_text=True)
    assert f'value="{tether.query()["mkt_cap"]}"' in page
    assert 'id="price" name="price" value="1"' in page


def test_query_parameters_prefill_the_form_without_errors(client):
    response = client.get("/?volume=123&mkt_cap=456&h1=2.5&price=7")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for value in ("123", "456", "2.5", "7"):
        assert f'value="{value}"' in html
    assert field_errors(html) == {}


def test_valid_form_shows_score_level_band_and_implied_volume(client, app):
    response = post_form(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    model = models.get(app)
    forecast = model.forecast(20476118020, 776077432316, 0.001, 40851.38)
    assert f'<output id="score">{forecast.score:.3f}</output>' in html
    assert f"level-{forecast.level.lower()}" in html
    assert f"More liquid than about <strong>{round(forecast.score * 100)} %</strong>" in html
    assert f"{forecast.band_low:.3f} – {forecast.band_high:.3f}" in html
    assert "Implied next-day 24h volume" in html
    assert model.version in html


def test_hourly_change_in_percent_is_sent_to_the_model_as_a_fraction(client, app):
    model = models.get(app)
    html = post_form(client, h1="3").get_data(as_text=True)
    as_fraction = model.forecast(20476118020, 776077432316, 0.03, 40851.38).score
    assert f'<output id="score">{as_fraction:.3f}</output>' in html
    assert "+3.00 %" in html


def test_values_outside_the_training_range_show_a_warning(client):
    inside = post_form(client).get_data(as_text=True)
    outside = post_form(client, price="900000000").get_data(as_text=True)
    assert 'id="range-warning"' not in inside
    assert 'id="range-warning"' in outside
    assert "Price: trained on" in outside


@pytest.mark.parametrize("value", ["1,000,000", " 1000000 ", "$1000000", "1e6", "1_000_000", "$770,991,461,396"])
def test_form_accepts_common_ways_of_writing_a_number(client, value):
    assert post_form(client, volume=value).status_code == 200


@pytest.mark.parametrize("field, value, message", [
    ("volume", "", "Required: enter the 24h trading volume in USD, e.g. 35000000000."),
    ("volume", "abc", "Type a number in US dollars, digits only, e.g. 35000000000."),
    ("mkt_cap", "770 billion", "Type the whole amount in US dollars with digits only, e.g. 770000000000"),
    ("mkt_cap", "", "Required: enter the market cap in USD"),
    ("price", "", "Required: enter the price in USD"),
    ("volume", "-1", "24h volume must be at least 0."),
    ("volume", "nan", "24h volume must be a finite number."),
    ("volume", "1e14", "24h volume must be at most 1e+13."),
    ("mkt_cap", "0", "Market cap must be greater than 0."),
    ("mkt_cap", "inf", "Market cap must be a finite number."),
    ("mkt_cap", "1e15", "Market cap must be at most 1e+14."),
    ("price", "0", "Price must be greater than 0."),
    ("price", "-3", "Price must be greater than 0."),
    ("price", "12abc", "Type a number in US dollars, digits only, e.g. 40859.46."),
    ("volume", "$35.4B", "Type the whole amount in US dollars with digits only"),
    ("h1", "-100", "1h change must be above -100 %."),
    ("h1", "-150", "1h change must be above -100 %."),
    ("h1", "5000", "1h change must be at most 1000 %."),
    ("h1", "2.2%", "Leave out the % sign: type the change as a plain number, e.g. 2.2 for +2.2 %."),
    ("h1", "two", "Type a number in percent, digits only, e.g. 2.2."),
])
def test_invalid_form_value_returns_400_with_the_message_beside_the_field_and_values_kept(client, field, value,
                                                                                         message):
    response = post_form(client, **{field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = field_errors(html)
    assert list(errors) == [field]
    assert errors[field].startswith(message)
    assert f'id="{field}" name="{field}" value="{value}"' in html
    assert 'value="776077432316"' in html or field == "mkt_cap"


def test_form_without_csrf_token_is_refused(client):
    response = client.post("/predict", data=BITCOIN_FORM)
    assert response.status_code == 400
    assert "not sent from this site" in response.get_data(as_text=True)


def test_form_with_a_forged_csrf_token_is_refused(client):
    client.csrf_token()
    response = client.post("/predict", data={**BITCOIN_FORM, "csrf_token": "forged"})
    assert response.status_code == 400


def test_model_page_shows_metrics_next_to_baselines_chart_and_hashes(client, app):
    card = models.get(app).card
    html = client.get("/model").get_data(as_text=True)
    for name in ("Tuned random forest", "Persistence", "7-day mean score", "Linear regression"):
        assert name in html
    forest_r2 = card["validation"]["models"]["random_forest"]["r2"]
    assert f"{forest_r2:.3f}" in html
    assert html.count("<rect") == len(card["feature_importances"])
    assert card["artifacts"]["model"]["sha256"] in html
    for name, value in card["hyperparameters"].items():
        assert f"<dt>{name}</dt><dd>{value if value is not None else 'None'}</dd>" in html


@pytest.mark.parametrize("method, path, status", [
    ("get", "/no-such-page", 404),
    ("delete", "/predict", 405),
    ("delete", "/", 405),
    ("put", "/batch", 405),
])
def test_error_pages_use_the_site_layout(client, method, path, status):
    response = getattr(client, method)(path)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert f'<p class="code">{status}</p>' in html
    assert 'class="site-header"' in html
    assert "Traceback" not in html


def test_405_names_the_allowed_methods(client):
    allowed = client.delete("/predict").headers["Allow"].split(", ")
    assert "POST" in allowed and "GET" in allowed
    assert "DELETE" not in allowed


def test_unexpected_exception_is_a_500_page_without_a_stack_trace(make_app, trained_dir, report_dir):

    app = make_app(trained_dir, report_dir)

    def explode():
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/explode", view_func=explode)
    app.add_url_rule("/api/v1/explode", view_func=explode)
    client = app.test_client()
    page = client.get("/explode")
    api = client.get("/api/v1/explode")
    assert page.status_code == api.status_code == 500
    assert "secret internal detail" not in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    assert 'class="site-header"' in page.get_data(as_text=True)
    assert api.json["error"] == "Something went wrong"
    assert "secret" not in json.dumps(api.json)


def test_the_factory_wires_in_the_live_fill_box_and_its_route(client):
    page = client.get("/").get_data(as_text=True)
    assert 'action="/live/fill"' in page
    response = client.get("/live/fill?coin=")
    assert response.status_code == 400
    assert "coin" in response.get_data(as_text=True)


def test_the_ingest_command_is_registered(runner, tmp_path):
    result = runner.invoke(args=["ingest", "--help"])
    assert result.exit_code == 0
    assert "--coins" in result.output


def test_the_report_command_is_registered(runner):
    result = runner.invoke(args=["report", "--help"])
    assert result.exit_code == 0
    assert "--model-dir" in result.output
