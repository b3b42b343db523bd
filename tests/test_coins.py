"""The coin pages (/coins, /coins/<coin_id>, the home form's picker), their JSON API and /monitor, on a store built
from the hand-made fixture snapshots (2024-01-01, -02, -04; coins keyed Name:SYMBOL)."""

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa
from conftest import logged

from liquidity.forecasting import forecast_coin, forecast_market
from liquidity.store.importer import import_snapshots

DAY4 = "2024-01-04"


def table_rows(html):
    body = html.split('<table class="stack" id="coins-table">', 1)[1].split("</table>", 1)[0]
    return [(unquote(link), name) for link, name in re.findall(r'<a href="/coins/([^"]+)">([^<]+)</a>', body)]


def assert_csp_safe(html):
    """No inline script or style anywhere: the app's CSP would block them."""
    assert "<script" not in html and "style=" not in html and "<style" not in html


# --- /coins ------------------------------------------------------------------------------------------------------

def test_the_market_lists_every_coin_of_the_latest_snapshot_with_its_forecast(client, snapshots_store, fixture_model):
    response = client.get("/coins")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_csp_safe(html)
    assert f"The market on {DAY4}" in html
    expected = forecast_market(snapshots_store, fixture_model).sort_values("coin_id")
    rows = table_rows(html)
    assert sorted(coin_id for coin_id, _ in rows) == sorted(expected["coin_id"])
    bitcoin = expected.set_index("coin_id").loc["Bitcoin:BTC"]
    assert f"{bitcoin['forecast_score']:.3f}" in html and f"{bitcoin['score']:.3f}" in html
    # largest market cap first by default
    day4 = snapshots_store.snapshot(DAY4).sort_values("mkt_cap", ascending=False)
    assert [coin_id for coin_id, _ in rows] == day4["coin_id"].tolist()


def test_the_market_searches_by_name_or_symbol(client, snapshots_store):
    by_symbol = table_rows(client.get("/coins?q=usdt").get_data(as_text=True))
    by_name = table_rows(client.get("/coins?q=tether").get_data(as_text=True))
    assert [coin for _, coin in by_symbol] == [coin for _, coin in by_name] == ["Tether"]
    part = table_rows(client.get("/coins?q=eth").get_data(as_text=True))  # a part of a name or symbol
    assert sorted(coin for _, coin in part) == ["Ethereum", "Tether"]
    none = client.get("/coins?q=zzzz").get_data(as_text=True)
    assert "0 coin(s) matching" in none


def test_the_market_sorts_by_any_column_both_ways(client, snapshots_store, fixture_model):
    expected = forecast_market(snapshots_store, fixture_model).sort_values("forecast_score")["coin_id"].tolist()
    ascending = [c for c, _ in table_rows(client.get("/coins?sort=forecast&order=asc").get_data(as_text=True))]
    descending = [c for c, _ in table_rows(client.get("/coins?sort=forecast").get_data(as_text=True))]
    assert ascending == expected and descending == expected[::-1]
    by_name = [coin for _, coin in table_rows(client.get("/coins?sort=coin").get_data(as_text=True))]
    assert by_name == sorted(by_name, key=str.lower)


def test_the_market_is_paginated(client, snapshots_store):
    total = len(snapshots_store.snapshot(DAY4))
    first = client.get("/coins?per_page=5").get_data(as_text=True)
    second = client.get("/coins?per_page=5&page=2").get_data(as_text=True)
    assert len(table_rows(first)) == len(table_rows(second)) == 5
    assert not set(table_rows(first)) & set(table_rows(second))
    assert f"page 1 of {-(-total // 5)}" in first
    assert 'rel="next" href="/coins?page=2&amp;per_page=5"' in first


@pytest.mark.parametrize(("query", "status", "words"), [
    ("sort=zzz", 400, "<code>sort</code> must be one of"),
    ("order=up", 400, "<code>order</code> must be asc or desc"),
    ("page=x", 400, "<code>page</code> must be a whole number"),
    ("per_page=100000", 400, "<code>per_page</code> must be from 1 to 500"),
    ("page=99", 404, "Page 99 does not exist"),
])
def test_a_bad_listing_query_names_the_parameter(client, snapshots_store, query, status, words):
    response = client.get(f"/coins?{query}")
    assert response.status_code == status
    assert words in response.get_data(as_text=True)


def test_an_empty_store_says_to_import_first(client, market_store_in_tmp):
    response = client.get("/coins")
    assert response.status_code == 200
    assert "The market store is empty" in response.get_data(as_text=True)


def test_a_store_that_cannot_open_is_a_503_not_a_500(make_app, trained_dir, report_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    client = make_app(trained_dir, report_dir, DATABASE_URL=f"sqlite:///{blocker}/m.db").test_client()
    page, api = client.get("/coins"), client.get("/api/v1/coins")
    assert (page.status_code, api.status_code) == (503, 503)
    assert api.get_json()["error"] == "Market store unavailable"


# --- /coins/<coin_id> ----------------------------------------------------------------------------------------------

def test_a_coin_page_shows_todays_forecast_charts_and_logs_it(client, snapshots_store, fixture_model):
    response = client.get("/coins/Bitcoin:BTC")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_csp_safe(html)
    expected = forecast_coin(snapshots_store, fixture_model, "Bitcoin:BTC")
    assert f'id="forecast-score">{expected.forecast_score:.3f}<' in html
    assert f"{expected.band_low:.3f} to {expected.band_high:.3f}" in html
    assert f'id="today-score">{expected.score:.3f}<' in html
    assert html.count('<svg class="chart"') == 3 and "<polyline" in html
    row = logged(snapshots_store).iloc[-1]
    assert (row["source"], row["coin_id"], str(row["snapshot_date"])) == ("coin page", "Bitcoin:BTC", DAY4)
    assert row["forecast_score"] == pytest.approx(expected.forecast_score)
    assert row["volume"] == snapshots_store.snapshot(DAY4).set_index("coin_id").loc["Bitcoin:BTC", "volume"]


def test_a_coin_page_draws_one_forecast_per_stored_date(client, snapshots_store, fixture_model):
    html = client.get("/coins/Bitcoin:BTC?days=30").get_data(as_text=True)
    assert "3 stored snapshot(s) in the last 30 days" in html
    chart = html.split('id="chart-score-title"', 1)[1].split("</svg>", 1)[0]
    # score: 3 dates; forecast: drawn one step later (the dates after the first, and the next snapshot); ahead: from
    # today's score to the fixture model's one horizon (1 day)
    lines = re.findall(r'<polyline class="series (s-\w+)" points="([^"]+)"', chart)
    points = {css: len(points.split()) for css, points in lines}
    assert points == {"s-score": 3, "s-forecast": 3, "s-ahead": 2}


def test_a_coin_page_compares_past_forecasts_with_what_happened(client, two_days_store, snapshots_dir):
    # A forecast made from 2024-01-02 (the latest date then) ...
    assert client.get("/api/v1/coins/Bitcoin:BTC/forecast").status_code == 200
    import_snapshots(snapshots_dir / "day4.csv", two_days_store)  # ... then the next snapshot arrives and scores it
    realized = two_days_store.snapshot(DAY4).set_index("coin_id").loc["Bitcoin:BTC", "liquidity_score"]
    html = client.get("/coins/Bitcoin:BTC").get_data(as_text=True)
    past = html.split('id="past-forecasts"', 1)[1].split("</table>", 1)[0]
    assert "2024-01-02" in past and f"{realized:.3f} on {DAY4}" in past


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/coins/Nope:NOPE", 404, "No coin with the id &#39;Nope:NOPE&#39;"),
    ("/coins/Bitcoin:BTC?days=abc", 400, "days: must be a whole number from 1 to 3650"),
    ("/coins/Bitcoin:BTC?days=0", 400, "days: must be from 1 to 3650"),
])
def test_a_bad_coin_page_request_says_why(client, snapshots_store, path, status, words):
    response = client.get(path)
    assert response.status_code == status
    assert words in response.get_data(as_text=True)


# --- the home form's coin picker -----------------------------------------------------------------------------------

def test_the_home_form_offers_the_stored_coins(client, snapshots_store):
    html = client.get("/").get_data(as_text=True)
    assert '<datalist id="store-coins">' in html and '<option value="Bitcoin:BTC">Bitcoin (BTC)</option>' in html
    assert 'action="/live/fill"' in html  # "Fill from live market" stays


def test_picking_a_coin_fills_the_form_with_its_stored_values(client, snapshots_store):
    response = client.get("/coins/pick?coin=eth")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    row = snapshots_store.snapshot(DAY4).set_index("coin_id").loc["Ethereum:ETH"]
    assert float(query["volume"][0]) == row["volume"] and float(query["mkt_cap"][0]) == row["mkt_cap"]
    assert float(query["price"][0]) == row["price"]
    assert float(query["h1"][0]) == pytest.approx(row["1h"] * 100)  # the form takes percent
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Filled from the stored snapshot of Ethereum:ETH on {DAY4}." in page
    assert f'value="{query["volume"][0]}"' in page


def test_picking_an_unknown_coin_searches_the_market(client, snapshots_store):
    response = client.get("/coins/pick?coin=zzcoin")
    assert response.status_code == 302 and response.headers["Location"].endswith("/coins?q=zzcoin")
    assert client.get("/coins/pick").status_code == 400


def test_a_coin_without_a_stored_1h_says_to_type_it(client, history_store):
    location = client.get("/coins/pick?coin=bitcoin").headers["Location"]
    assert "h1=" not in location
    assert "has no 1h change" in client.get(location).get_data(as_text=True)


# --- JSON ----------------------------------------------------------------------------------------------------------

def test_the_coins_api_lists_the_market(client, snapshots_store, fixture_model):
    answer = client.get("/api/v1/coins?per_page=3&sort=forecast").get_json()
    expected = forecast_market(snapshots_store, fixture_model).sort_values("forecast_score", ascending=False)
    assert answer["date"] == DAY4 and answer["total"] == len(expected) and answer["per_page"] == 3
    assert [coin["coin_id"] for coin in answer["coins"]] == expected["coin_id"].head(3).tolist()
    first = answer["coins"][0]
    assert first["forecast_score"] == pytest.approx(expected["forecast_score"].iloc[0])
    assert set(first) >= {"score", "level", "band", "volume_usd", "mkt_cap_usd", "symbol"}
    assert client.get("/api/v1/coins?q=btc").get_json()["total"] == 1


def test_the_coin_history_api_honours_days(client, snapshots_store):
    answer = client.get("/api/v1/coins/Bitcoin:BTC?days=2").get_json()
    assert [row["date"] for row in answer["history"]] == [DAY4]  # 2024-01-03 has no snapshot
    everything = client.get("/api/v1/coins/Bitcoin:BTC").get_json()
    assert [row["date"] for row in everything["history"]] == ["2024-01-01", "2024-01-02", DAY4]
    stored = snapshots_store.coin_history("Bitcoin:BTC", days=90)
    assert [row["score"] for row in everything["history"]] == pytest.approx(stored["liquidity_score"].tolist())
    assert everything["history"][0]["change_1h"] == pytest.approx(0.010)


@pytest.mark.parametrize("days", ["0", "abc", "3651", "1.5"])
def test_a_bad_days_is_a_400_naming_the_parameter(client, snapshots_store, days):
    response = client.get(f"/api/v1/coins/Bitcoin:BTC?days={days}")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["path"] == "days"


@pytest.mark.parametrize("path", ["/api/v1/coins/Nope:NOPE", "/api/v1/coins/Nope:NOPE/forecast"])
def test_an_unknown_coin_is_a_404_in_json(client, snapshots_store, path):
    response = client.get(path)
    assert response.status_code == 404 and response.is_json
    assert "Nope:NOPE" in response.get_json()["message"]


def test_the_coin_forecast_api_forecasts_from_history_and_logs_it(client, snapshots_store, fixture_model):
    answer = client.get("/api/v1/coins/Ethereum:ETH/forecast").get_json()
    expected = forecast_coin(snapshots_store, fixture_model, "Ethereum:ETH")
    assert (answer["date"], answer["level"]) == (DAY4, expected.level)
    assert answer["forecast_score"] == pytest.approx(expected.forecast_score)
    assert answer["band"]["low"] == pytest.approx(expected.band_low)
    earlier = client.get("/api/v1/coins/Ethereum:ETH/forecast?date=2024-01-02").get_json()
    assert earlier["date"] == "2024-01-02"
    table = logged(snapshots_store)
    assert table["source"].tolist() == ["api", "api"]
    assert [str(day) for day in table["snapshot_date"]] == [DAY4, "2024-01-02"]
    bad = client.get("/api/v1/coins/Ethereum:ETH/forecast?date=2024-13-01")
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["path"] == "date"


def test_the_coin_endpoints_are_in_the_openapi_document_and_the_docs(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/coins", "/api/v1/coins/{coin_id}", "/api/v1/coins/{coin_id}/forecast", "/api/v1/monitor"):
        assert "get" in paths[path], path
    days = [p for p in paths["/api/v1/coins/{coin_id}"]["get"]["parameters"] if p["name"] == "days"][0]
    assert days["schema"]["maximum"] == 3650
    docs = client.get("/docs/api").get_data(as_text=True)
    assert "GET /api/v1/coins/{coin_id}/forecast" in docs and "<code>days</code>" in docs


# --- served from memory between store checks ----------------------------------------------------------------------

COIN_ROUTES = ("/api/v1/coins", "/api/v1/coins/Bitcoin:BTC", "/api/v1/coins/Bitcoin:BTC/forecast", "/coins",
               "/coins/Bitcoin:BTC", "/api/v1/monitor")


@pytest.fixture
def slow_checking_client(make_app, trained_dir, report_dir):
    """A client of an app that checks the store for new data once an hour, as a busy production worker would."""
    return make_app(trained_dir, report_dir, STORE_CHECK_SECONDS=3600.0).test_client()


def reads_of(send):
    """Return the SELECTs that send() made the app run on the store (the log writer's inserts aside)."""
    from liquidity.web.extensions import read_models

    app = send.__self__.application
    engine = read_models.get(app).store.open().engine
    statements = []

    def record(_connection, _cursor, statement, *_):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        for path in COIN_ROUTES:
            assert send(path).status_code == 200, path
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return statements


def test_a_repeated_coin_request_asks_the_store_nothing(slow_checking_client, snapshots_store):
    assert reads_of(slow_checking_client.get)  # the first of each reads the store
    assert reads_of(slow_checking_client.get) == []  # then each is served from memory


def test_new_snapshots_reach_the_answers_at_the_next_store_check(slow_checking_client, two_days_store, snapshots_dir):
    from liquidity.web.extensions import read_models

    client = slow_checking_client
    before = client.get("/api/v1/coins/Bitcoin:BTC").get_json()
    assert client.get("/api/v1/coins/Bitcoin:BTC/forecast").get_json()["past"] == []
    import_snapshots(snapshots_dir / "day4.csv", two_days_store)
    # Until the worker checks the store again, it serves what it holds: the same answer, never a mix of two.
    assert client.get("/api/v1/coins/Bitcoin:BTC").get_json() == before
    read_models.get(client.application).refresh()  # the next check, as the worker's refresher makes it
    after = client.get("/api/v1/coins/Bitcoin:BTC").get_json()
    assert after["end"] == DAY4 and after["count"] == before["count"] + 1
    answer = client.get("/api/v1/coins/Bitcoin:BTC/forecast").get_json()
    realized = two_days_store.snapshot(DAY4).set_index("coin_id").loc["Bitcoin:BTC", "liquidity_score"]
    # The forecast made from 2024-01-02 was scored by the import, and shows among the past ones.
    assert answer["date"] == DAY4 and answer["past"][-1]["date"] == "2024-01-02"
    assert answer["past"][-1]["realized_score"] == pytest.approx(realized)
    assert client.get("/api/v1/coins").get_json()["date"] == DAY4


# --- /monitor ------------------------------------------------------------------------------------------------------

def test_the_monitor_scores_logged_forecasts_against_persistence(client, two_days_store, snapshots_dir, fixture_model):
    for coin_id in ("Bitcoin:BTC", "Ethereum:ETH", "Tether:USDT"):
        assert client.get(f"/coins/{coin_id}").status_code == 200
    client.get("/coins/Bitcoin:BTC")  # the same forecast seen twice counts once
    import_snapshots(snapshots_dir / "day4.csv", two_days_store)
    table = logged(two_days_store).drop_duplicates("coin_id")
    realized = two_days_store.snapshot(DAY4).set_index("coin_id")["liquidity_score"].loc[table["coin_id"]].to_numpy()
    model_mae = abs(table["forecast_score"].to_numpy() - realized).mean()
    persistence_mae = abs(table["score"].to_numpy() - realized).mean()

    answer = client.get("/api/v1/monitor").get_json()
    overall = answer["accuracy"]["overall"]
    assert answer["logged"]["by_source"] == {"coin page": 4} and answer["logged"]["scored"] == 4
    assert overall["scored"] == 3
    assert overall["model_mae"] == pytest.approx(model_mae) and overall["persistence_mae"] == pytest.approx(
        persistence_mae)
    assert [week["week"] for week in answer["accuracy"]["weeks"]] == ["2024-01-01"]  # the Monday of 2024-01-02
    assert set(answer["drift"]["recent"]) == {"volume", "mkt_cap", "1h", "price"}

    html = client.get("/monitor").get_data(as_text=True)
    assert_csp_safe(html)
    assert f"mean absolute error <strong>{model_mae:.3f}</strong>" in html
    assert f"(persistence {persistence_mae:.3f})" in html
    assert html.count('<svg class="chart"') == 5  # MAE, 80 % interval coverage, accuracy, scored, drift


def test_the_monitor_of_an_empty_log_says_nothing_is_scored_yet(client, snapshots_store):
    html = client.get("/monitor").get_data(as_text=True)
    assert "No forecast has been scored yet" in html
    assert client.get("/api/v1/monitor").get_json()["accuracy"]["overall"]["scored"] == 0


def test_drift_counts_the_inputs_sent_outside_the_training_range(client, snapshots_store, fixture_model):
    ranges = fixture_model.card["inputs"]
    inside = {"price": ranges["price"]["max"] / 2, "1h": 0.0, "24h_volume": ranges["volume"]["max"] / 2,
              "mkt_cap": ranges["mkt_cap"]["max"] / 2}
    outside = {**inside, "price": ranges["price"]["max"] * 10}
    assert client.post("/api/v1/predict", json=[inside, outside, inside, inside]).status_code == 200
    recent = client.get("/api/v1/monitor").get_json()["drift"]["recent"]
    assert recent["price"] == {"logged": 4, "outside": 1, "share": 0.25}
    assert recent["volume"]["outside"] == 0
