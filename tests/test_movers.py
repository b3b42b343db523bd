"""The movers view: /coins and /api/v1/coins with each coin's forecast change (forecast minus today's score), sorted
either way and filtered by forecast level, threshold crossing and market-cap band at every horizon, and its CSV
download; on the synthetic 40-coin history with the 1-, 7- and 30-day model."""

import csv
import io
import re
from urllib.parse import unquote

import pytest
from conftest import strict_json, synthetic_history

from liquidity.store.importer import import_snapshots
from liquidity.web.market import CAP_BANDS

LATEST = "2024-07-18"  # the synthetic history's last day


def every_coin(client, query=""):
    """Return every coin /api/v1/coins lists for query, in its order (one page of 500)."""
    answer = strict_json(client.get(f"/api/v1/coins?per_page=500&{query}"))
    assert len(answer["coins"]) == answer["total"]
    return answer["coins"]


def market(horizons_app, horizon):
    """Return the read model's market table with horizon's forecast, by coin_id."""
    from liquidity.web import current_market

    with horizons_app.test_request_context():
        table = current_market().market_table()
    return table.set_index("coin_id").assign(forecast=table.set_index("coin_id")[f"forecast_score_{horizon}d"])


# --- the API --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("horizon", [1, 7, 30])
def test_each_coin_carries_its_forecast_change_at_the_horizon(horizons_client, horizons_app, horizons_store, horizon):
    answer = strict_json(horizons_client.get(f"/api/v1/coins?per_page=500&horizon={horizon}"))
    table = market(horizons_app, horizon)
    assert answer["total"] == len(answer["coins"]) == 40 and answer["horizon"] == horizon
    for coin in answer["coins"]:
        row = table.loc[coin["coin_id"]]
        assert coin["forecast_score"] == pytest.approx(row["forecast"])
        assert coin["change"] == pytest.approx(row["forecast"] - row["score"])
        assert coin["level_today"] == ("High" if row["score"] >= answer["threshold"] else "Low")


@pytest.mark.parametrize("horizon", [1, 7, 30])
def test_sort_by_change_puts_the_largest_drops_first_or_last(horizons_client, horizons_store, horizon):
    drops = [coin["change"] for coin in every_coin(horizons_client, f"sort=change&order=asc&horizon={horizon}")]
    rises = [coin["change"] for coin in every_coin(horizons_client, f"sort=change&order=desc&horizon={horizon}")]
    assert drops == sorted(drops) and rises == sorted(rises, reverse=True) and drops[0] < 0 < rises[0]
    # Without an order, the change reads drops first: the question the risk desk asks.
    assert [coin["change"] for coin in every_coin(horizons_client, f"sort=change&horizon={horizon}")] == drops


def test_filters_select_by_forecast_level_crossing_and_market_cap(horizons_client, horizons_store):
    everything = every_coin(horizons_client, "horizon=7")
    for level in ("High", "Low"):
        chosen = every_coin(horizons_client, f"horizon=7&level={level.lower()}")
        assert chosen and {coin["level"] for coin in chosen} == {level}
        assert len(chosen) == sum(coin["level"] == level for coin in everything)
    month = every_coin(horizons_client, "horizon=30")
    down = every_coin(horizons_client, "horizon=30&crosses=down&sort=change")
    up = every_coin(horizons_client, "horizon=30&crosses=UP")
    assert down and up, "the synthetic market has coins crossing both ways at 30 days"
    assert all(coin["level_today"] == "High" and coin["level"] == "Low" and coin["change"] < 0 for coin in down)
    assert all(coin["level_today"] == "Low" and coin["level"] == "High" and coin["change"] > 0 for coin in up)
    assert len(down) + len(up) == sum(coin["level_today"] != coin["level"] for coin in month)
    counted = 0
    for band, (low, high) in CAP_BANDS.items():
        chosen = every_coin(horizons_client, f"horizon=7&cap={band}")
        assert all(low <= coin["mkt_cap_usd"] < high for coin in chosen), band
        counted += len(chosen)
    assert counted == len(everything)  # the bands cover every coin once
    both = every_coin(horizons_client, "horizon=7&cap=large&level=Low&sort=change")
    assert {coin["coin_id"] for coin in both} == {coin["coin_id"] for coin in everything
                                                  if coin["level"] == "Low" and coin["mkt_cap_usd"] >= 10e9}


@pytest.mark.parametrize(("query", "parameter", "words"), [
    ("level=medium", "level", "must be High or Low"),
    ("crosses=sideways", "crosses", "must be one of down, up"),
    ("cap=huge", "cap", "must be one of large, mid, small, micro"),
    ("horizon=3&sort=change", "horizon", "must be 1 or 7 or 30"),
    ("sort=changes", "sort", "must be one of"),
])
def test_a_bad_filter_is_a_400_naming_the_parameter(horizons_client, horizons_store, query, parameter, words):
    response = horizons_client.get(f"/api/v1/coins?{query}")
    assert response.status_code == 400
    errors = strict_json(response)["errors"]
    assert [error["path"] for error in errors] == [parameter] and words in errors[0]["reason"]
    page = horizons_client.get(f"/coins?{query}")
    assert page.status_code == 400 and f"<code>{parameter}</code> {words}" in page.get_data(as_text=True)


def test_the_openapi_document_describes_the_movers_parameters_and_fields(horizons_client):
    document = horizons_client.get("/api/v1/openapi.json").get_json()
    listing = document["paths"]["/api/v1/coins"]["get"]
    parameters = {parameter["name"]: parameter["schema"] for parameter in listing["parameters"]}
    # Empty is "any", as the page's form sends it.
    assert parameters["level"]["enum"] == ["", "High", "Low"] and parameters["crosses"]["enum"] == ["", "down", "up"]
    assert parameters["cap"]["enum"] == ["", *CAP_BANDS] and "change" in parameters["sort"]["enum"]
    assert horizons_client.get("/api/v1/coins?level=&crosses=&cap=").status_code == 200
    coin = document["components"]["schemas"]["Coin"]["properties"]
    assert {"change", "level_today"} <= set(coin)


# --- the page -------------------------------------------------------------------------------------------------------

def page_rows(html):
    """Return (coin_id, change text) of each row of the /coins table, in order."""
    body = html.split('<table class="stack" id="coins-table">', 1)[1].split("</table>", 1)[0]
    return [(unquote(coin_id), change) for coin_id, change in
            re.findall(r'<a href="/coins/([^"]+)">.*?<td data-label="Change" class="num">([^<]+)</td>', body, re.S)]


def signed(text):
    return float(text.replace("−", "-"))


def test_the_page_shows_the_change_and_sorts_by_it_both_ways(horizons_client, horizons_store):
    answer = every_coin(horizons_client, "sort=change&order=asc&horizon=7")
    response = horizons_client.get("/coins?sort=change&order=asc&horizon=7&per_page=100")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    rows = page_rows(html)
    assert [coin_id for coin_id, _ in rows] == [coin["coin_id"] for coin in answer]
    assert [signed(text) for _, text in rows] == pytest.approx([coin["change"] for coin in answer], abs=6e-4)
    assert rows[0][1].startswith("−") and "Which coins are about to dry up?" in html
    # The header of the column sorted by links to the other direction.
    assert 'aria-sort="ascending"' in html and "sort=change&amp;order=desc" in html
    rises = page_rows(horizons_client.get("/coins?sort=change&order=desc&horizon=7&per_page=100")
                      .get_data(as_text=True))
    assert [coin_id for coin_id, _ in rises] == [coin["coin_id"] for coin in
                                                 every_coin(horizons_client, "sort=change&order=desc&horizon=7")]
    assert [signed(text) for _, text in rises] == sorted((signed(text) for _, text in rows), reverse=True)


def test_the_page_filters_as_the_api_does(horizons_client, horizons_store):
    query = "horizon=30&crosses=down&cap=large&sort=change"
    expected = [coin["coin_id"] for coin in every_coin(horizons_client, "horizon=30&crosses=down&sort=change")
                if coin["mkt_cap_usd"] >= 10e9]
    html = horizons_client.get(f"/coins?{query}").get_data(as_text=True)
    if expected:
        assert [coin_id for coin_id, _ in page_rows(html)] == expected
    assert f"{len(expected)} coin(s) with the filters chosen" in html
    assert '<option value="down" selected>' in html and '<option value="large" selected>' in html
    low = horizons_client.get("/coins?level=Low&horizon=7&per_page=100").get_data(as_text=True)
    assert {coin_id for coin_id, _ in page_rows(low)} == {
        coin["coin_id"] for coin in every_coin(horizons_client, "horizon=7") if coin["level"] == "Low"}


def test_the_home_page_links_to_the_largest_drops(horizons_client, horizons_store):
    html = horizons_client.get("/").get_data(as_text=True)
    link = re.search(r'<p id="movers-link"><a href="([^"]+)">Which coins are about to dry up\?</a>', html)
    assert link and link.group(1) == "/coins?sort=change&amp;order=asc&amp;horizon=7"
    page = horizons_client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    changes = [signed(text) for _, text in page_rows(page)]
    assert changes == sorted(changes) and changes[0] < 0 and "80 % interval" in page


# --- the download ---------------------------------------------------------------------------------------------------

def test_the_list_downloads_as_csv_with_the_same_filters(horizons_client, horizons_store):
    page = horizons_client.get("/coins?sort=change&horizon=30&level=low&per_page=5").get_data(as_text=True)
    link = re.search(r'<a id="coins-csv" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert link.startswith("/coins.csv?") and "per_page" not in link and "page=" not in link
    response = horizons_client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="coins_{LATEST}_30d.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    expected = every_coin(horizons_client, "sort=change&horizon=30&level=Low")
    assert [row["coin_id"] for row in rows] == [coin["coin_id"] for coin in expected] and len(rows) > 5
    first, coin = rows[0], expected[0]
    assert (first["snapshot_date"], first["horizon_days"], first["target_date"], first["forecast_level"]) == (
        LATEST, "30", "2024-08-17", "Low")
    assert float(first["change"]) == pytest.approx(coin["change"], abs=1e-4)
    assert float(first["interval_80_low"]) == pytest.approx(coin["interval_80"]["low"], abs=1e-4)
    assert float(first["interval_80_high"]) == pytest.approx(coin["interval_80"]["high"], abs=1e-4)
    assert horizons_client.get("/coins.csv?cap=huge").status_code == 400


def test_the_download_neutralises_formulas_in_names(horizons_client, store, tmp_path):
    history = synthetic_history(days=40, coins=3)
    history.loc[history["coin_id"] == "coin-1", "coin"] = "=HYPERLINK(\"http://x\")"
    history.loc[history["coin_id"] == "coin-2", "symbol"] = "@SUM"
    path = tmp_path / "daily.csv"
    history.to_csv(path, index=False)
    import_snapshots(path, store)
    rows = {row["coin_id"]: row for row in csv.DictReader(io.StringIO(
        horizons_client.get("/coins.csv").get_data(as_text=True)))}
    assert rows["coin-1"]["coin"] == "'=HYPERLINK(\"http://x\")" and rows["coin-2"]["symbol"] == "'@SUM"
    assert float(rows["coin-0"]["change"]) == pytest.approx(
        float(rows["coin-0"]["forecast_score"]) - float(rows["coin-0"]["score_today"]), abs=2e-4)


def test_the_download_of_an_empty_store_is_its_header(horizons_client, store):
    response = horizons_client.get("/coins.csv")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip().split(",")[:3] == ["snapshot_date", "horizon_days", "target_date"]
