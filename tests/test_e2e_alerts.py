"""End to end: a real headless chromium makes alert rules on /alerts, on a desktop and on a phone."""

import pytest
from test_e2e_browser import browser, csp_violations, serve, wait_for, wait_until  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.slow  # drives a real browser


@pytest.fixture(scope="module")
def alerts_server(make_app, trained_dir, history_dir, tmp_path_factory):
    """The app on a store of the hand-made history (bitcoin, alpha-one, alpha-two), served on a free loopback port."""
    from conftest import open_store

    from liquidity.store.importer import import_snapshots

    folder = tmp_path_factory.mktemp("alerts-store")
    url = f"sqlite:///{folder}/market.db"
    with open_store(url) as store:
        import_snapshots(history_dir, store)
    app = make_app(trained_dir, tmp_path_factory.mktemp("EDA_REPORT"), DATABASE_URL=url)
    yield from serve(app)


def make_rule(driver, name, coins, horizon, condition, value=""):
    """Fill in the rule form and send it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for box, text in (("rule-name", name), ("rule-coins", coins), ("rule-value", value)):
        field = driver.find_element(By.ID, box)
        field.clear()
        field.send_keys(text)
    Select(driver.find_element(By.ID, "rule-horizon")).select_by_value(str(horizon))
    driver.find_element(By.ID, f"condition-{condition}").click()
    driver.find_element(By.CSS_SELECTOR, "#rule-form button[type=submit]").click()


def rule_rows(driver):
    from selenium.webdriver.common.by import By

    return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#rules-table tbody tr")]


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_an_alert_rule_is_made_on_the_alerts_page(alerts_server, browser, width, height):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, height)
    try:
        browser.get(alerts_server + "/")
        browser.find_element(By.LINK_TEXT, "Alerts").click()
        assert wait_for(browser, By.TAG_NAME, "h1").text == "Alerts"
        before = len(rule_rows(browser))

        # A mistake first: the form comes back with the field's error and what was typed.
        make_rule(browser, f"Dry at {width}", "bitcoin, nothing-such", 7, "drop", "0.2")
        error = wait_for(browser, By.ID, "coins-error")
        assert "'nothing-such' is not a coin in the market store" in error.text
        assert browser.find_element(By.ID, "rule-value").get_attribute("value") == "0.2"

        make_rule(browser, f"Dry at {width}", "bitcoin", 7, "drop", "0.2")
        notice = wait_for(browser, By.ID, "alerts-notice")
        assert f"Rule “Dry at {width}” saved" in notice.text
        rows = wait_until(browser, lambda d: rule_rows(d))
        assert len(rows) == before + 1
        assert "the forecast score drops by more than 0.2, 7 days ahead, for bitcoin" in rows[0]
        # Nothing is wider than the screen: the rules table turns into one card per rule on a phone.
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width

        browser.find_element(By.CSS_SELECTOR, "#rules-table tbody tr:first-child button").click()
        # The saved page has a notice too: wait for the deleted page's own.
        wait_until(browser, lambda d: "deleted" in d.find_element(By.ID, "alerts-notice").text)
        assert len(rule_rows(browser)) == before
        assert csp_violations(browser) == []
    finally:
        browser.set_window_size(1200, 900)
