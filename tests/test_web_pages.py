import json
import logging
import re

import pytest

from conftest import csrf_token
from liquidity.examples import EXAMPLE_COINS

BITCOIN_FORM = {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"}


def post_form(client, **changes):
    data = {**BITCOIN_FORM, **changes, "csrf_token": csrf_token(client)}
    return client.post("/predict", data=data)


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
    model = app.extensions["liquidity_model"]
    forecast = model.forecast(20476118020, 776077432316, 0.001, 40851.38)
    assert f'<output id="score">{forecast.score:.3f}</output>' in html
    assert f"level-{forecast.level.lower()}" in html
    assert f"More liquid than about <strong>{round(forecast.score * 100)} %</strong>" in html
    assert f"{forecast.band_low:.3f} – {forecast.band_high:.3f}" in html
    assert "Implied next-day 24h volume" in html
    assert model.version in html


def test_hourly_change_in_percent_is_sent_to_the_model_as_a_fraction(client, app):
    model = app.extensions["liquidity_model"]
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


@pytest.mark.parametrize("value", ["1,000,000", " 1000000 ", "$1000000", "1e6", "1_000_000"])
def test_form_accepts_common_ways_of_writing_a_number(client, value):
    assert post_form(client, volume=value).status_code == 200


@pytest.mark.parametrize("field, value, message", [
    ("volume", "", "Enter a number."),
    ("volume", "abc", "Enter a number"),
    ("volume", "-1", "24h volume must be at least 0."),
    ("volume", "nan", "24h volume must be a finite number."),
    ("volume", "1e14", "24h volume must be at most 1e+13."),
    ("mkt_cap", "0", "Market cap must be greater than 0."),
    ("mkt_cap", "inf", "Market cap must be a finite number."),
    ("mkt_cap", "1e15", "Market cap must be at most 1e+14."),
    ("price", "0", "Price must be greater than 0."),
    ("price", "-3", "Price must be greater than 0."),
    ("price", "12abc", "Enter a number"),
    ("h1", "-100", "1h change must be above -100 %."),
    ("h1", "-150", "1h change must be above -100 %."),
    ("h1", "5000", "1h change must be at most 1000 %."),
    ("h1", "", "Enter a number."),
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
    csrf_token(client)
    response = client.post("/predict", data={**BITCOIN_FORM, "csrf_token": "forged"})
    assert response.status_code == 400


def test_model_page_shows_metrics_next_to_baselines_chart_and_hashes(client, app):
    card = app.extensions["liquidity_model"].card
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
    ("get", "/predict", 405),
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
    assert "POST" in client.get("/predict").headers["Allow"].split(", ")
    assert "GET" not in client.get("/predict").headers["Allow"]


def test_unexpected_exception_is_a_500_page_without_a_stack_trace(trained_dir, report_dir):
    from conftest import make_test_config
    from liquidity import create_app

    app = create_app(make_test_config(trained_dir, report_dir))

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


@pytest.mark.parametrize("path", ["/", "/model", "/batch", "/healthz", "/api/v1/model", "/nowhere", "/report/",
                                  "/static/style.css"])
@pytest.mark.parametrize("header, expected", [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
])
def test_security_headers_on_every_response(client, path, header, expected):
    assert client.get(path).headers[header] == expected


@pytest.mark.parametrize("path", ["/", "/model", "/batch", "/nowhere"])
def test_content_security_policy_forbids_inline_script_and_style_and_framing(client, path):
    policy = client.get(path).headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("path", ["/", "/model", "/batch"])
def test_pages_carry_no_inline_script_or_style(client, path):
    html = client.get(path).get_data(as_text=True)
    assert "<script" not in html
    assert "<style" not in html
    assert " style=" not in html


def test_session_cookie_is_httponly_and_samesite_lax(client):
    response = client.get("/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_in_production(trained_dir, report_dir, monkeypatch):
    from conftest import make_test_config
    from liquidity import create_app

    monkeypatch.setenv("LIQUIDITY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    app = create_app(make_test_config(trained_dir, report_dir))
    assert app.debug is False
    assert "Secure" in app.test_client().get("/").headers["Set-Cookie"]


@pytest.fixture
def log_records(app):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("liquidity.web")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_one_json_log_line_per_request_with_method_path_status_duration(client, log_records):
    client.get("/nowhere")
    requests = [r.fields for r in log_records if getattr(r, "fields", {}).get("event") == "request"]
    assert len(requests) == 1
    assert requests[0]["method"] == "GET" and requests[0]["path"] == "/nowhere" and requests[0]["status"] == 404
    assert requests[0]["duration_ms"] >= 0
    from liquidity.web.observability import JsonFormatter

    line = JsonFormatter().format(log_records[-1])
    assert json.loads(line)["path"] == "/nowhere"


def test_prediction_is_logged_with_inputs_score_and_version_but_no_secret(client, app, log_records):
    post_form(client)
    predictions = [r.fields for r in log_records if getattr(r, "fields", {}).get("event") == "prediction"]
    assert len(predictions) == 1
    assert predictions[0]["inputs"]["1h"] == pytest.approx(0.001)
    assert predictions[0]["model_version"] == app.extensions["liquidity_model"].version
    assert 0 < predictions[0]["score"] < 1
    assert app.config["SECRET_KEY"] not in json.dumps(predictions[0])


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
