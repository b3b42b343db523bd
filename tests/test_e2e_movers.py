"""End to end in headless Chromium: the movers view (the largest forecast drops, sorted both ways, filtered) on a
desktop and a phone, and the freshness line and warning; on the synthetic 40-coin history with the 1-, 7- and 30-day
model, "today" frozen by the TODAY setting."""

import json
import urllib.request

import pytest
from conftest import synthetic_history
from test_e2e_browser import browser, csp_violations, serve, wait_for, wait_until  # noqa: F401 - browser: fixture

pytestmark = pytest.mark.slow  # drives a real browser

LATEST = "2024-07-18"  # the synthetic history's last day


def movers_server(make_app, horizons_trained_dir, tmp_path_factory, today):
    """Yield the base URL of the app on a store of the synthetic history's last 40 days, its today `today`."""
    from conftest import open_store

    from liquidity.store.importer import import_snapshots

    folder = tmp_path_factory.mktemp("movers-store")
    history = synthetic_history()
    history[history["date"] > "2024-06-08"].to_csv(folder / "daily.csv", index=False)
    url = f"sqlite:///{folder}/market.db"
    with open_store(url) as store:
        import_snapshots(folder / "daily.csv", store)
    app = make_app(horizons_trained_dir, tmp_path_factory.mktemp("EDA_REPORT"), DATABASE_URL=url, TODAY=today)
    yield from serve(app)


@pytest.fixture(scope="module")
def fresh_server(make_app, horizons_trained_dir, tmp_path_factory):
    yield from movers_server(make_app, horizons_trained_dir, tmp_path_factory, "2024-07-19")


@pytest.fixture(scope="module")
def old_server(make_app, horizons_trained_dir, tmp_path_factory):
    yield from movers_server(make_app, horizons_trained_dir, tmp_path_factory, "2024-07-28")


def api_coins(base, query):
    """Return the coin ids /api/v1/coins lists for query, in order."""
    with urllib.request.urlopen(f"{base}/api/v1/coins?per_page=500&{query}", timeout=30) as answer:
        return [coin["coin_id"] for coin in json.load(answer)["coins"]]


def shown_coins(driver):
    from selenium.webdriver.common.by import By

    return [a.get_attribute("href").rsplit("/", 1)[1]
            for a in driver.find_elements(By.CSS_SELECTOR, "#coins-table tbody td:first-child a")]


def shown_changes(driver):
    from selenium.webdriver.common.by import By

    return [float(td.text.replace("−", "-"))
            for td in driver.find_elements(By.CSS_SELECTOR, "#coins-table tbody td[data-label=Change]")]


def test_the_movers_view_on_a_desktop_sorts_by_change_both_ways_and_filters(fresh_server, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.set_window_size(1280, 900)
    try:
        browser.get(fresh_server + "/")
        browser.find_element(By.LINK_TEXT, "Which coins are about to dry up?").click()
        assert "Which coins are about to dry up?" in wait_for(browser, By.TAG_NAME, "h1").text
        changes = shown_changes(browser)
        assert len(changes) == 40 and changes == sorted(changes) and changes[0] < 0
        assert shown_coins(browser) == api_coins(fresh_server, "sort=change&order=asc&horizon=7")
        assert browser.find_element(By.CSS_SELECTOR, "#coins-table tbody td[data-label='80 % interval']").text

        browser.find_element(By.XPATH, "//th[@aria-sort='ascending']/a").click()  # the Change header: reverse it
        wait_for(browser, By.XPATH, "//th[@aria-sort='descending']/a[starts-with(normalize-space(.), 'Change')]")
        rises = shown_changes(browser)
        assert rises == sorted(rises, reverse=True) and rises[0] > 0

        Select(browser.find_element(By.ID, "coin-sort")).select_by_value("change")
        Select(browser.find_element(By.ID, "coin-order")).select_by_value("asc")
        Select(browser.find_element(By.ID, "coin-cap")).select_by_value("large")
        browser.find_element(By.CSS_SELECTOR, "#coin-filters button").click()
        wait_until(browser, lambda d: "with the filters chosen" in d.find_element(By.ID, "listing-count").text)
        expected = api_coins(fresh_server, "sort=change&order=asc&horizon=7&cap=large")
        assert wait_until(browser, lambda d: shown_coins(d) == expected and expected)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
        assert csp_violations(browser) == []
    finally:
        browser.set_window_size(1200, 900)


def test_the_movers_view_on_a_phone_filters_by_level_and_crossing(fresh_server, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.set_window_size(390, 844)  # a phone
    try:
        browser.get(fresh_server + "/coins?sort=change&order=asc&horizon=30")
        wait_for(browser, By.ID, "movers-lead")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        Select(browser.find_element(By.ID, "coin-crosses")).select_by_value("down")
        browser.find_element(By.CSS_SELECTOR, "#coin-filters button").click()
        wait_until(browser, lambda d: "with the filters chosen" in d.find_element(By.ID, "listing-count").text)
        expected = api_coins(fresh_server, "sort=change&order=asc&horizon=30&crosses=down")
        assert wait_until(browser, lambda d: shown_coins(d) == expected and expected)
        levels = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#coins-table tbody td[data-label=Level]")]
        assert set(levels) == {"Low"} and all(change < 0 for change in shown_changes(browser))

        Select(browser.find_element(By.ID, "coin-crosses")).select_by_value("")
        Select(browser.find_element(By.ID, "coin-level")).select_by_value("High")
        browser.find_element(By.CSS_SELECTOR, "#coin-filters button").click()
        expected = api_coins(fresh_server, "sort=change&order=asc&horizon=30&level=High")
        assert wait_until(browser, lambda d: shown_coins(d) == expected and expected)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        assert csp_violations(browser) == []
    finally:
        browser.set_window_size(1200, 900)


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)])
def test_the_freshness_line_and_the_old_data_warning(fresh_server, old_server, browser, size):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.set_window_size(*size)
    try:
        browser.get(fresh_server + "/coins")
        line = wait_for(browser, By.ID, "freshness")
        assert line.is_displayed() and line.text == f"Market data: the snapshot of {LATEST} (1 day old)."
        assert not browser.find_elements(By.ID, "freshness-warning")

        browser.get(old_server + "/coins/coin-5")
        warning = wait_for(browser, By.ID, "freshness-warning")
        assert warning.is_displayed() and warning.text.startswith("The data is 10 days old.")
        assert f"The latest stored snapshot is from {LATEST}" in warning.text
        assert browser.execute_script("return document.documentElement.scrollWidth") <= size[0]
    finally:
        browser.set_window_size(1200, 900)
