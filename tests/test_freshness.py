"""Freshness: every page that shows market data says which snapshot it is from and how old it is, warns past
STALE_DAYS, and /healthz reports the latest snapshot's date and age and turns degraded past DEGRADED_DAYS; "today"
frozen with the TODAY setting (the fixture's latest snapshot is 2024-01-04)."""

import pytest

from liquidity.web.settings import ConfigError, load_settings

LATEST = "2024-01-04"


@pytest.fixture
def client_on(make_app, trained_dir, report_dir):
    """Return a factory: client_on(today, **settings) is a test client of an app whose today is `today`."""
    return lambda today, **settings: make_app(trained_dir, report_dir, TODAY=today, **settings).test_client()


@pytest.mark.parametrize("path", ["/coins", "/coins/Bitcoin:BTC", "/", "/monitor"])
def test_a_page_showing_market_data_names_its_snapshot_and_its_age(client_on, snapshots_store, path):
    html = client_on("2024-01-05").get(path).get_data(as_text=True)
    assert f"Market data: the snapshot of {LATEST} (1 day old)." in html
    assert 'id="freshness-warning"' not in html
    today = client_on("2024-01-04").get(path).get_data(as_text=True)
    assert f"Market data: the snapshot of {LATEST} (from today)." in today


@pytest.mark.parametrize("path", ["/coins", "/coins/Bitcoin:BTC", "/", "/monitor"])
def test_a_page_warns_when_the_data_is_older_than_the_setting(client_on, snapshots_store, path):
    on_the_limit = client_on("2024-01-06").get(path).get_data(as_text=True)  # 2 days: the default limit, not past it
    assert 'id="freshness-warning"' not in on_the_limit and "(2 days old)" in on_the_limit
    html = client_on("2024-01-07").get(path).get_data(as_text=True)
    assert 'id="freshness-warning"' in html and "The data is 3 days old." in html
    assert f"The latest stored snapshot is from {LATEST}" in html
    stricter = client_on("2024-01-06", STALE_DAYS=1).get(path).get_data(as_text=True)
    assert "The data is 2 days old." in stricter


def test_pages_without_market_data_and_an_empty_store_say_nothing_about_freshness(client_on, store, snapshots_dir):
    from liquidity.store.importer import import_snapshots

    empty = client_on("2024-01-05").get("/coins").get_data(as_text=True)
    assert "Market data:" not in empty and 'id="freshness-warning"' not in empty
    import_snapshots(snapshots_dir, store)
    client = client_on("2024-03-01")
    for path in ("/batch", "/docs/api"):  # no market data on them
        html = client.get(path).get_data(as_text=True)
        assert "Market data:" not in html and "The data is" not in html


def test_healthz_reports_the_age_and_turns_degraded_past_the_setting(client_on, snapshots_store):
    fresh = client_on("2024-01-11").get("/healthz")  # 7 days: the default limit, not past it
    assert fresh.status_code == 200 and fresh.json["status"] == "ok"
    store = fresh.json["store"]
    assert (store["latest_date"], store["age_days"], store["degraded_after_days"], store["stale_after_days"]) == (
        LATEST, 7, 7, 2)
    old = client_on("2024-01-12").get("/healthz")
    assert old.status_code == 503 and old.json["status"] == "degraded"
    assert old.json["store"]["age_days"] == 8
    assert old.json["reasons"] == [f"the latest snapshot ({LATEST}) is 8 days old, more than "
                                   "LIQUIDITY_DEGRADED_DAYS=7: the daily import may have stopped"]
    assert client_on("2024-01-12", DEGRADED_DAYS=30).get("/healthz").status_code == 200


def test_healthz_on_an_empty_store_is_not_degraded_for_age(client_on, store):
    answer = client_on("2024-01-12").get("/healthz")
    assert answer.status_code == 200 and answer.json["store"]["age_days"] is None


def test_the_freshness_settings_come_from_the_environment():
    settings = load_settings({"LIQUIDITY_STALE_DAYS": "3", "LIQUIDITY_DEGRADED_DAYS": "10",
                              "LIQUIDITY_TODAY": "2024-01-05"})
    assert (settings["STALE_DAYS"], settings["DEGRADED_DAYS"], str(settings["TODAY"])) == (3, 10, "2024-01-05")
    defaults = load_settings({})
    assert (defaults["STALE_DAYS"], defaults["DEGRADED_DAYS"], defaults["TODAY"]) == (2, 7, None)
    for name, raw, words in [("LIQUIDITY_STALE_DAYS", "two", "is not a number"),
                             ("LIQUIDITY_DEGRADED_DAYS", "1.5", "must be a whole number of days"),
                             ("LIQUIDITY_DEGRADED_DAYS", "-1", "must lie in"),
                             ("LIQUIDITY_TODAY", "yesterday", "is not a date like")]:
        with pytest.raises(ConfigError, match=f"{name}=.*{words}"):
            load_settings({name: raw})
