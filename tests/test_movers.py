"""The movers view: /coins and /api/v1/coins with each coin's forecast change (forecast minus today's score), sorted
either way and filtered by forecast level, threshold crossing and market-cap band at every horizon, and its CSV
download; on the synthetic 40-coin history with the 1-, 7- and 30-day model."""

import json

import pytest
from conftest import synthetic_history

from liquidity.store.importer import import_snapshots
from liquidity.web.market import CAP_BANDS

LATEST = "2024-07-18"  # the synthetic history's last day


@pytest.fixture
def movers_store(store, tmp_path):
    """The store holding the synthetic history's last 40 days (every coin, every day)."""
    history = synthetic_history()
    path = tmp_path / "daily.csv"
    history[history["date"] > "2024-06-08"].to_csv(path, index=False)
    import_snapshots(path, store)
    return store


@pytest.fixture
def movers_app(make_app, horizons_trained_dir, report_dir):
    return make_app(horizons_trained_dir, report_dir)


@pytest.fixture
def movers_client(movers_app):
    return movers_app.test_client()


def strict_json(response):
    """Return the response's JSON, failing on NaN or infinities (not JSON)."""
    def refuse(constant):
        raise AssertionError(f"{constant} in a JSON answer")

    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def every_coin(client, query=""):
    """Return every coin /api/v1/coins lists for query, in its order (one page of 500)."""
    answer = strict_json(client.get(f"/api/v1/coins?per_page=500&{query}"))
    assert len(answer["coins"]) == answer["total"]
    return answer["coins"]


def market(movers_app, horizon):
    """Return the read model's market table with horizon's forecast, by coin_id."""
    from liquidity.web import current_market

    with movers_app.test_request_context():
        table = current_market().market_table()
    return table.set_index("coin_id").assign(forecast=table.set_index("coin_id")[f"forecast_score_{horizon}d"])


# --- the API --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("horizon", [1, 7, 30])
def test_each_coin_carries_its_forecast_change_at_the_horizon(movers_client, movers_app, movers_store, horizon):
    answer = strict_json(movers_client.get(f"/api/v1/coins?per_page=500&horizon={horizon}"))
    table = market(movers_app, horizon)
    assert answer["total"] == len(answer["coins"]) == 40 and answer["horizon"] == horizon
    for coin in answer["coins"]:
        row = table.loc[coin["coin_id"]]
        assert coin["forecast_score"] == pytest.approx(row["forecast"])
        assert coin["change"] == pytest.approx(row["forecast"] - row["score"])
        assert coin["level_today"] == ("High" if row["score"] >= answer["threshold"] else "Low")


@pytest.mark.parametrize("horizon", [1, 7, 30])
def test_sort_by_change_puts_the_largest_drops_first_or_last(movers_client, movers_store, horizon):
    drops = [coin["change"] for coin in every_coin(movers_client, f"sort=change&order=asc&horizon={horizon}")]
    rises = [coin["change"] for coin in every_coin(movers_client, f"sort=change&order=desc&horizon={horizon}")]
    assert drops == sorted(drops) and rises == sorted(rises, reverse=True) and drops[0] < 0 < rises[0]
    # Without an order, the change reads drops first: the question the risk desk asks.
    assert [coin["change"] for coin in every_coin(movers_client, f"sort=change&horizon={horizon}")] == drops


def test_filters_select_by_forecast_level_crossing_and_market_cap(movers_client, movers_store):
    everything = every_coin(movers_client, "horizon=7")
    for level in ("High", "Low"):
        chosen = every_coin(movers_client, f"horizon=7&level={level.lower()}")
        assert chosen and {coin["level"] for coin in chosen} == {level}
        assert len(chosen) == sum(coin["level"] == level for coin in everything)
    month = every_coin(movers_client, "horizon=30")
    down = every_coin(movers_client, "horizon=30&crosses=down&sort=change")
    up = every_coin(movers_client, "horizon=30&crosses=UP")
    assert down and up, "the synthetic market has coins crossing both ways at 30 days"
    assert all(coin["level_today"] == "High" and coin["level"] == "Low" and coin["change"] < 0 for coin in down)
    assert all(coin["level_today"] == "Low" and coin["level"] == "High" and coin["change"] > 0 for coin in up)
    assert len(down) + len(up) == sum(coin["level_today"] != coin["level"] for coin in month)
    counted = 0
    for band, (low, high) in CAP_BANDS.items():
        chosen = every_coin(movers_client, f"horizon=7&cap={band}")
        assert all(low <= coin["mkt_cap_usd"] < high for coin in chosen), band
        counted += len(chosen)
    assert counted == len(everything)  # the bands cover every coin once
    both = every_coin(movers_client, "horizon=7&cap=large&level=Low&sort=change")
    assert {coin["coin_id"] for coin in both} == {coin["coin_id"] for coin in everything
                                                  if coin["level"] == "Low" and coin["mkt_cap_usd"] >= 10e9}


@pytest.mark.parametrize(("query", "parameter", "words"), [
    ("level=medium", "level", "must be High or Low"),
    ("crosses=sideways", "crosses", "must be one of down, up"),
    ("cap=huge", "cap", "must be one of large, mid, small, micro"),
    ("horizon=3&sort=change", "horizon", "must be 1 or 7 or 30"),
    ("sort=changes", "sort", "must be one of"),
])
def test_a_bad_filter_is_a_400_naming_the_parameter(movers_client, movers_store, query, parameter, words):
    response = movers_client.get(f"/api/v1/coins?{query}")
    assert response.status_code == 400
    errors = strict_json(response)["errors"]
    assert [error["path"] for error in errors] == [parameter] and words in errors[0]["reason"]
    page = movers_client.get(f"/coins?{query}")
    assert page.status_code == 400 and f"<code>{parameter}</code> {words}" in page.get_data(as_text=True)


def test_the_openapi_document_describes_the_movers_parameters_and_fields(movers_client):
    document = movers_client.get("/api/v1/openapi.json").get_json()
    listing = document["paths"]["/api/v1/coins"]["get"]
    parameters = {parameter["name"]: parameter["schema"] for parameter in listing["parameters"]}
    assert parameters["level"]["enum"] == ["High", "Low"] and parameters["crosses"]["enum"] == ["down", "up"]
    assert parameters["cap"]["enum"] == list(CAP_BANDS) and "change" in parameters["sort"]["enum"]
    coin = document["components"]["schemas"]["Coin"]["properties"]
    assert {"change", "level_today"} <= set(coin)
