"""Every answer is strict JSON and says how fresh it is; conditional GETs answer 304 before the view runs; Retry-After
only on 429 and 503 (issue 21)."""

import re
import shutil
from datetime import UTC, date, datetime

import pytest
from conftest import strict_json

from liquidity.artifacts import MODEL_FILE
from liquidity.store.importer import import_snapshots
from liquidity.store.predictions import score_outcomes

# A hand-made market: 2024-05-03 is missing (a gap), "gone" is delisted after 2024-05-02 (no row in the latest
# snapshot), "patchy" skips 2024-05-04 and has no 1h change on its rows.
HEADER = "date,coin_id,coin,symbol,price,1h,24h,7d,volume,mkt_cap"
DAYS = {
    "2024-05-01": ["bitcoin,Bitcoin,BTC,60000,0.010,0.020,0.050,30000000000,1200000000000",
                   "ethereum,Ethereum,ETH,3000,0.012,0.030,0.060,15000000000,360000000000",
                   "gone,Gone Coin,GONE,0.5,0.020,-0.100,-0.300,90000,4000000",
                   "patchy,Patchy,PAT,1.5,,0.010,0.020,2000000,90000000"],
    "2024-05-02": ["bitcoin,Bitcoin,BTC,61000,0.011,0.015,0.040,28000000000,1220000000000",
                   "ethereum,Ethereum,ETH,3050,0.010,0.020,0.050,14000000000,366000000000",
                   "gone,Gone Coin,GONE,0.4,-0.050,-0.200,-0.400,50000,3000000",
                   "patchy,Patchy,PAT,1.6,,0.020,0.030,2500000,95000000"],
    "2024-05-04": ["bitcoin,Bitcoin,BTC,62000,0.005,0.010,0.030,31000000000,1240000000000",
                   "ethereum,Ethereum,ETH,3100,0.008,0.015,0.040,16000000000,372000000000"],
    "2024-05-05": ["bitcoin,Bitcoin,BTC,61500,-0.002,-0.010,0.020,29000000000,1230000000000",
                   "ethereum,Ethereum,ETH,3080,0.001,-0.005,0.030,15500000000,369000000000",
                   "patchy,Patchy,PAT,1.7,,0.030,0.040,3000000,99000000"],
}
LATEST = "2024-05-05"
COIN_IDS = ("bitcoin", "ethereum", "gone", "patchy")
PREDICT_BODY = {"price": 60000, "1h": 0.01, "24h_volume": 30000000000, "mkt_cap": 1200000000000}
# The body each POST route of the walk sends: a valid one, so the walk reads the success answer too.
POST_BODIES = {"/api/v1/predict": PREDICT_BODY,
               "/api/v1/alerts": {"name": "Watch", "coins": ["bitcoin"], "horizon": 1, "condition": "turns_low"}}


def write_day(folder, day):
    path = folder / f"{day}.csv"
    path.write_text("\n".join([HEADER, *(f"{day},{row}" for row in DAYS[day])]) + "\n")
    return path


@pytest.fixture
def market_app(make_app, trained_dir, report_dir, store_url, store, tmp_path):
    """The app over the hand-made market, with forecasts logged on 2024-05-04 (scored by 2024-05-05's snapshot for
    the coins that have one) and on 2024-05-05 (not scored yet)."""
    import_snapshots([write_day(tmp_path, day) for day in ("2024-05-01", "2024-05-02", "2024-05-04")], store)
    app = make_app(trained_dir, report_dir, DATABASE_URL=store_url)
    client = app.test_client()
    for coin_id in ("bitcoin", "ethereum"):
        assert client.get(f"/api/v1/coins/{coin_id}/forecast").status_code == 200
    import_snapshots(write_day(tmp_path, LATEST), store)
    score_outcomes(store)
    for coin_id in ("bitcoin", "ethereum", "patchy"):
        assert client.get(f"/api/v1/coins/{coin_id}/forecast").status_code == 200
    return app


def route_paths(app, rule_id):
    """Return (method, path) for every route of the JSON API and the health check, with real ids filled in."""
    paths = []
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule == "/healthz"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if "<coin_id>" in rule.rule:
                paths += [(method, rule.rule.replace("<coin_id>", coin_id)) for coin_id in COIN_IDS]
            elif "<int:rule_id>" in rule.rule:
                paths.append((method, rule.rule.replace("<int:rule_id>", str(rule_id))))
            else:
                assert "<" not in rule.rule, f"a new route parameter to fill in: {rule.rule}"
                paths.append((method, rule.rule))
    return paths


@pytest.mark.sqlite_and_postgresql
def test_every_api_answer_is_strict_json_over_gaps_a_delisted_coin_and_unscored_forecasts(market_app):
    client = market_app.test_client()
    rule = client.post("/api/v1/alerts", json=POST_BODIES["/api/v1/alerts"])
    assert rule.status_code == 201
    paths = route_paths(market_app, strict_json(rule)["id"])
    assert {path for _, path in paths} >= {"/api/v1/coins", "/api/v1/coins/gone", "/api/v1/coins/patchy/forecast",
                                           "/api/v1/monitor", "/api/v1/model", "/api/v1/openapi.json", "/healthz",
                                           "/api/v1/predict", "/api/v1/alerts"}
    statuses = {}
    # Deletions last, so every other route still finds what it reads.
    for method, path in sorted(paths, key=lambda entry: entry[0] == "DELETE"):
        response = client.open(path, method=method, json=POST_BODIES.get(path) if method == "POST" else None)
        statuses[method, path] = response.status_code
        if response.status_code == 204:
            assert response.get_data() == b"", path
            continue
        assert response.mimetype == "application/json", path
        strict_json(response)  # fails on NaN or Infinity
    statuses.update({path: status for (method, path), status in statuses.items() if method == "GET"})
    for path in ("/api/v1/coins?horizon=1&per_page=1&page=2", "/api/v1/coins/gone?days=30",
                 "/api/v1/coins/bitcoin/forecast?date=2024-05-04"):
        response = client.get(path)
        assert response.status_code == 200, path
        strict_json(response)
    # the delisted coin has a history but no forecast from the latest snapshot: a 404 in JSON, not a 500
    assert statuses["/api/v1/coins/gone"] == 200 and statuses["/api/v1/coins/gone/forecast"] == 404
    assert statuses["POST", "/api/v1/predict"] == 200 and statuses["/api/v1/coins/patchy/forecast"] == 200
    assert statuses["POST", "/api/v1/alerts"] == 201 and 204 in statuses.values()
    assert 500 not in statuses.values()


@pytest.mark.sqlite_and_postgresql
def test_a_forecast_without_its_outcome_has_null_dates_never_nan(market_app):
    client = market_app.test_client()
    past = strict_json(client.get("/api/v1/coins/bitcoin/forecast"))["past"]
    by_date = {entry["date"]: entry for entry in past}
    assert by_date["2024-05-04"]["realized_date"] == LATEST and by_date["2024-05-04"]["realized_score"] is not None
    assert by_date[LATEST]["realized_date"] is None and by_date[LATEST]["realized_score"] is None
    page = client.get("/coins/bitcoin").get_data(as_text=True)
    assert "not yet known" in page
    for path in ("/coins/bitcoin", "/coins/patchy", "/coins", "/monitor"):
        words = re.findall(r"[a-z]+", client.get(path).get_data(as_text=True).lower())
        assert "nan" not in words and "inf" not in words, path


def test_market_answers_say_their_snapshot_date_its_age_and_when_they_were_made(market_app):
    client = market_app.test_client()
    age = (datetime.now(UTC).date() - date.fromisoformat(LATEST)).days
    before = datetime.now(UTC).replace(microsecond=0)
    for path in ("/api/v1/coins", "/api/v1/coins/gone", "/api/v1/coins/bitcoin/forecast", "/api/v1/monitor"):
        body = strict_json(client.get(path))
        assert body["as_of"] == LATEST and body["age_days"] == age, path
        assert datetime.fromisoformat(body["generated_at"]) >= before, path
    past = strict_json(client.get("/api/v1/coins/bitcoin/forecast?date=2024-05-04"))
    assert past["as_of"] == "2024-05-04" and past["age_days"] == age + 1
    forecast = strict_json(client.get("/api/v1/coins/bitcoin/forecast"))
    assert [h["target_date"] for h in forecast["horizons"]] == [
        date.fromordinal(date.fromisoformat(LATEST).toordinal() + h["horizon"]).isoformat()
        for h in forecast["horizons"]]
    health = strict_json(client.get("/healthz"))
    assert health["as_of"] == LATEST and health["age_days"] == age and health["store"]["latest_date"] == LATEST
    assert datetime.fromisoformat(health["generated_at"]) >= before


CONDITIONAL_PATHS = ("/api/v1/coins", "/api/v1/coins/bitcoin", "/api/v1/coins/bitcoin/forecast", "/api/v1/monitor",
                     "/api/v1/model", "/api/v1/openapi.json", "/coins", "/coins/bitcoin", "/monitor", "/model")


def counted(view, calls):
    """Return view, recording each call in calls."""
    def wrapper(*args, **kwargs):
        calls.append(args)
        return view(*args, **kwargs)

    return wrapper


def test_a_conditional_get_with_the_current_etag_answers_304_without_running_the_view(market_app):
    client = market_app.test_client()
    for path in CONDITIONAL_PATHS:
        first = client.get(path)
        assert first.status_code == 200, path
        tag = first.headers["ETag"]
        assert tag.startswith('W/"'), path
        if path != "/api/v1/openapi.json":  # the document follows the code alone: no date to give
            assert first.headers["Last-Modified"].endswith(" GMT"), path
        assert re.fullmatch(r"public, max-age=\d+", first.headers["Cache-Control"]), path
        endpoint = market_app.url_map.bind("localhost").match(path)[0]
        view = market_app.view_functions[endpoint]
        calls = []
        market_app.view_functions[endpoint] = counted(view, calls)
        try:
            again = client.get(path, headers={"If-None-Match": tag})
            other = client.get(path, headers={"If-None-Match": 'W/"some-other-version"'})
        finally:
            market_app.view_functions[endpoint] = view
        assert again.status_code == 304 and again.get_data() == b"", path
        assert again.headers["ETag"] == tag and "Cache-Control" in again.headers, path
        assert other.status_code == 200 and len(calls) == 1, path  # the view ran for the other tag only


def test_the_etag_changes_with_a_new_snapshot_and_the_old_one_gets_the_new_answer(market_app, store, tmp_path):
    client = market_app.test_client()
    old = client.get("/api/v1/coins")
    DAYS["2024-05-06"] = [row.replace("2024-05-05", "2024-05-06") for row in DAYS[LATEST]]
    try:
        import_snapshots(write_day(tmp_path, "2024-05-06"), store)
    finally:
        del DAYS["2024-05-06"]
    fresh = client.get("/api/v1/coins", headers={"If-None-Match": old.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != old.headers["ETag"]
    assert strict_json(fresh)["as_of"] == "2024-05-06"


def test_a_logged_forecast_keeps_the_coin_forecast_tag_and_changes_the_monitor_tag(market_app):
    client = market_app.test_client()
    forecast = client.get("/api/v1/coins/ethereum/forecast")  # logs the forecast: the log's newest id moves
    monitor = client.get("/api/v1/monitor")
    client.get("/api/v1/coins/bitcoin/forecast")
    assert client.get("/api/v1/coins/ethereum/forecast",
                      headers={"If-None-Match": forecast.headers["ETag"]}).status_code == 304
    assert client.get("/api/v1/monitor", headers={"If-None-Match": monitor.headers["ETag"]}).status_code == 200


def test_one_urls_tag_sent_with_another_url_gets_that_urls_answer(market_app):
    client = market_app.test_client()
    tag = client.get("/api/v1/coins/bitcoin/forecast").headers["ETag"]
    assert client.get("/api/v1/coins/ethereum/forecast", headers={"If-None-Match": tag}).status_code == 200
    assert client.get("/api/v1/coins/nobody/forecast", headers={"If-None-Match": tag}).status_code == 404
    assert client.get("/api/v1/coins/bitcoin/forecast?horizon=1", headers={"If-None-Match": tag}).status_code == 200
    assert client.get("/api/v1/coins/bitcoin/forecast", headers={"If-None-Match": tag}).status_code == 304


def test_posts_and_pages_with_this_sessions_form_token_are_not_stored(market_app):
    client = market_app.test_client()
    assert client.post("/api/v1/predict", json=PREDICT_BODY).headers["Cache-Control"] == "no-store"
    home = client.get("/")
    assert "csrf_token" in home.get_data(as_text=True) and home.headers["Cache-Control"] == "no-store"
    assert "ETag" not in client.get("/api/v1/coins/nobody").headers  # errors carry no validators


def test_retry_after_only_on_429(make_app, trained_dir, report_dir, store, tmp_path):
    import_snapshots(write_day(tmp_path, "2024-05-01"), store)
    app = make_app(trained_dir, report_dir, RATELIMIT_ENABLED=True, RATELIMIT_API="2 per minute")
    client = app.test_client()
    answers = [client.get("/api/v1/coins") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert all("Retry-After" not in answer.headers for answer in answers[:2])
    assert "X-RateLimit-Remaining" in answers[0].headers  # the limiter's own headers stay
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_a_503_says_when_to_try_again(make_app, trained_dir, report_dir, tmp_path):
    folder = tmp_path / "artifacts"
    shutil.copytree(trained_dir, folder)
    (folder / MODEL_FILE).unlink()
    app = make_app(folder, report_dir, RATELIMIT_ENABLED=True, STORE_CHECK_SECONDS=5.0)
    client = app.test_client()
    for path in ("/api/v1/coins", "/healthz", "/model"):
        response = client.get(path)
        assert response.status_code == 503 and response.headers["Retry-After"] == "5", path
        assert "ETag" not in response.headers, path


def test_the_openapi_document_names_the_conditional_gets_the_freshness_fields_and_retry_after(client):
    document = strict_json(client.get("/api/v1/openapi.json"))
    coins = document["paths"]["/api/v1/coins"]["get"]
    assert "If-None-Match" in [parameter["name"] for parameter in coins["parameters"]]
    assert {"ETag", "Last-Modified", "Cache-Control"} <= set(coins["responses"]["200"]["headers"])
    assert "304" in coins["responses"] and "304" in document["paths"]["/api/v1/model"]["get"]["responses"]
    assert "304" not in document["paths"]["/healthz"]["get"]["responses"]
    forecast = document["components"]["schemas"]["CoinForecast"]["properties"]
    assert {"as_of", "age_days", "generated_at"} <= set(forecast)
    for methods in document["paths"].values():
        for operation in methods.values():
            for status, response in operation["responses"].items():
                assert ("Retry-After" in response.get("headers", {})) == (status in ("429", "503"))
    assert "not modified: the ETag sent in If-None-Match is still current" in client.get("/docs/api").get_data(
        as_text=True)


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/coins?days=x&level=Medium", 400),  # a bad query has no tag: its 400, not a 304
    ("/api/v1/coins/bitcoin?days=lots", 400),
    ("/api/v1/coins", 200),  # "*" is no tag this server gave: the answer in full
])
def test_if_none_match_star_never_hides_the_answer(market_app, path, status):
    response = market_app.test_client().get(path, headers={"If-None-Match": "*"})
    assert response.status_code == status
    assert strict_json(response)
