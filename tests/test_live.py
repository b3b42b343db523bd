from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_coingecko import closed_port_url, market
from flask import Flask, render_template_string

from liquidity.paths import TEMPLATES_DIR
from liquidity.web.live.views import bp
from liquidity.web.settings import load_settings

HOME = '<main>{% include "live/_fill.html" ignore missing %}</main>'


def make_app(base_url, register=True, **config):
    """A bare app with the live blueprint and a stand-in home page, as the real factory will have."""
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR))
    app.config.update(load_settings({}), TESTING=True, COINGECKO_BASE_URL=base_url, COINGECKO_LIVE_MAX_WAIT=0.01,
                      **config)
    if register:
        app.register_blueprint(bp)

    @app.get("/")
    def home():
        return render_template_string(HOME)

    return app


pytestmark = pytest.mark.usefixtures("no_coingecko_settings_from_the_machine")


@pytest.fixture
def web(coingecko):
    return make_app(coingecko.base_url).test_client()


def redirect_params(response):
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/"
    return {k: v[-1] for k, v in parse_qs(location.query).items()}


def page_text(web, response):
    location = urlsplit(response.headers["Location"])
    return unescape(web.get(f"{location.path}?{location.query}").get_data(as_text=True))


def test_a_coin_id_fills_the_form_with_current_values(web, coingecko):
    response = web.get("/live/fill?coin=bitcoin")

    assert redirect_params(response) == {"volume": "35390763321", "mkt_cap": "770991461396", "h1": "2.2",
                                         "price": "40859.46", "live_coin": "bitcoin"}
    (seen,) = coingecko.market_requests()
    assert seen.query["ids"] == "bitcoin" and "1h" in seen.query["price_change_percentage"]
    page = page_text(web, response)
    assert "Filled from CoinGecko's current values for bitcoin." in page
    assert 'value="bitcoin"' in page and 'role="status"' in page


def test_a_symbol_picks_the_largest_market_cap(web, coingecko):
    coingecko.coins.append(market("ethereum-wormhole", "eth", "Wormhole ETH", 2740.0, 500_000_000, 1_000_000,
                                  0.5, 0.1, 0.2, 300))

    params = redirect_params(web.get("/live/fill?coin=ETH"))

    assert params["live_coin"] == "ethereum" and params["mkt_cap"] == "327104429349"
    assert [(r.query.get("ids"), r.query.get("symbols")) for r in coingecko.market_requests()] == [
        ("eth", None), (None, "eth")]


def test_an_unknown_coin_says_so_in_the_form(web):
    response = web.get("/live/fill?coin=dogezilla")

    assert redirect_params(response) == {"live_error": "unknown", "live_coin": "dogezilla"}
    page = page_text(web, response)
    assert "CoinGecko has no coin with the id or symbol 'dogezilla'." in page and 'role="alert"' in page
    assert 'aria-invalid="true"' in page and "has-error" in page


def test_offline_says_so_in_the_form():
    web = make_app(closed_port_url()).test_client()

    response = web.get("/live/fill?coin=bitcoin")

    assert redirect_params(response)["live_error"] == "offline"
    page = page_text(web, response)
    assert "CoinGecko cannot be reached right now" in page
    assert "aria-invalid" not in page  # the coin typed is not what is wrong


def test_rate_limiting_says_so_after_one_short_retry(web, coingecko):
    coingecko.queue(429, "", {"Retry-After": "30"})
    coingecko.queue(429, "", {"Retry-After": "30"})

    response = web.get("/live/fill?coin=bitcoin")

    assert redirect_params(response)["live_error"] == "busy"
    assert len(coingecko.requests) == 2
    assert "limiting requests" in page_text(web, response)


def test_a_server_error_is_retried_once(web, coingecko):
    coingecko.queue(500, {"error": "internal"})

    assert redirect_params(web.get("/live/fill?coin=bitcoin"))["price"] == "40859.46"
    assert len(coingecko.requests) == 2


def test_a_malformed_answer_says_so(web, coingecko):
    coingecko.queue(200, "<html>maintenance</html>", {"Content-Type": "text/html"})

    response = web.get("/live/fill?coin=bitcoin")

    assert redirect_params(response)["live_error"] == "error"
    assert "could not be used" in page_text(web, response)


def test_null_fields_are_left_for_the_person_and_named(web):
    response = web.get("/live/fill?coin=nullcoin")

    assert redirect_params(response) == {"volume": "900000000", "mkt_cap": "41000000000", "live_coin": "nullcoin",
                                         "live_missing": "h1,price"}
    assert "it has no 1h change or price: type them yourself." in page_text(web, response)


def test_tiny_prices_are_written_as_plain_decimals(web, coingecko):
    coingecko.coins = [market("pepe", "pepe", "Pepe", 1.2e-05, 5_000_000_000, 900_000_000, -0.75, 1, 2, 30)]

    params = redirect_params(web.get("/live/fill?coin=pepe"))

    assert (params["price"], params["h1"]) == ("0.000012", "-0.75")


@pytest.mark.parametrize("coin", ["", "   ", "<script>", "bit coin", "x" * 101])
def test_bad_input_is_a_400_naming_the_field(web, coingecko, coin):
    response = web.get("/live/fill", query_string={"coin": coin})

    assert response.status_code == 400
    assert "coin: " in unescape(response.get_data(as_text=True))
    assert coingecko.requests == []


def test_a_repeated_fill_is_served_from_the_cache(web, coingecko):
    first = redirect_params(web.get("/live/fill?coin=bitcoin"))
    second = redirect_params(web.get("/live/fill?coin=BITCOIN"))

    assert first == second
    assert len(coingecko.requests) == 1


def test_the_api_key_from_config_goes_in_the_plans_header(coingecko):
    web = make_app(coingecko.base_url, COINGECKO_API_KEY="pro-key", COINGECKO_API_PLAN="pro").test_client()

    redirect_params(web.get("/live/fill?coin=bitcoin"))

    headers = {k.lower(): v for k, v in coingecko.requests[0].headers.items()}
    assert headers["x-cg-pro-api-key"] == "pro-key" and "x-cg-demo-api-key" not in headers


def test_the_home_page_shows_the_form_without_any_message(web, coingecko):
    page = web.get("/").get_data(as_text=True)

    assert 'action="/live/fill"' in page and 'name="coin"' in page
    assert "live-fill-status" not in page
    assert "<script" not in page and "style=" not in page  # the strict CSP allows neither
    assert coingecko.requests == []


def test_only_known_messages_and_well_formed_coins_are_echoed(web):
    forged = unescape(web.get("/?live_error=Your+account+is+locked").get_data(as_text=True))
    hostile = web.get("/?live_error=unknown&live_coin=%3Cscript%3E").get_data(as_text=True)

    assert "account is locked" not in forged and "live-fill-status" not in forged
    assert "<script>" not in hostile and "id or symbol '?'" in unescape(hostile)


def test_the_partial_renders_nothing_without_the_blueprint(coingecko):
    response = make_app(coingecko.base_url, register=False).test_client().get("/")

    assert response.status_code == 200 and response.get_data(as_text=True) == "<main></main>"
