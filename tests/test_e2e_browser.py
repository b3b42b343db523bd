"""End to end: a real headless chromium fills in the form of the app served on a loopback port."""

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

pytestmark = pytest.mark.slow  # drives a real browser


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--window-size=1200,900")


def browser_missing():
    """Return why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    return None


def serve(app):
    """Serve app with werkzeug on a free 127.0.0.1 port; yield its base URL, then stop it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(make_app, trained_dir, tmp_path_factory):
    """The app on the fixture model, served by werkzeug on 127.0.0.1 on a free port."""

    app = make_app(trained_dir, tmp_path_factory.mktemp("EDA_REPORT"))
    yield from serve(app)


def start_chromium(profile):
    """Return a headless Chromium driver with its profile in the folder profile; fail under CI, else skip, when the
    browser is missing."""
    reason = browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the browser: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = start_chromium(profile)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, by, value):
    """Return the element once the new page shows it (a click does not always wait for the page load)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((by, value)))


def wait_until(driver, read):
    """Return read(driver) once it is truthy, reading again when the page is replaced under it."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15, ignored_exceptions=(StaleElementReferenceException,)).until(read)


def fill(driver, values):
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        box = driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def test_fill_the_form_read_the_result_then_read_a_field_error(live_server, browser):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    assert "How liquid" in browser.find_element(By.TAG_NAME, "h1").text
    fill(browser, {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"})
    score = float(wait_for(browser, By.ID, "score").text)
    assert 0 < score < 1
    assert browser.find_element(By.CSS_SELECTOR, "h1 .level").text in ("High", "Low")
    assert "More liquid than about" in browser.find_element(By.CSS_SELECTOR, ".result").text

    fill(browser, {"mkt_cap": "-5"})
    assert wait_for(browser, By.ID, "mkt_cap-error").text == "Market cap must be greater than 0."
    assert browser.find_element(By.NAME, "mkt_cap").get_attribute("value") == "-5"
    assert browser.find_element(By.NAME, "volume").get_attribute("value") == "20476118020"


def test_an_example_link_fills_the_form_without_javascript(live_server, browser):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Tether").click()
    wait_for(browser, By.CSS_SELECTOR, "input[name=price][value='1']")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert float(wait_for(browser, By.ID, "score").text) > 0


def test_a_result_url_reloads_and_opens_in_a_fresh_visit(live_server, browser):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    fill(browser, {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"})
    score = wait_for(browser, By.ID, "score").text
    assert "/predict?" in browser.current_url
    result_url = browser.current_url
    browser.refresh()  # a GET: no "resend the form?" prompt, the same forecast
    assert wait_for(browser, By.ID, "score").text == score
    browser.delete_all_cookies()  # a shared link opened by someone else
    browser.get(result_url)
    assert wait_for(browser, By.ID, "score").text == score
    assert browser.find_element(By.ID, "result-link").get_attribute("href") == result_url
    assert "turnover" in browser.find_element(By.ID, "level-meaning").text


def test_batch_download_comes_from_the_result_page_without_a_second_upload(live_server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    upload = tmp_path / "coins.csv"
    upload.write_text("coin,symbol,price,1h,24h_volume,mkt_cap\n"
                      "=HYPERLINK(\"http://evil.example\"),BTC,40851.38,-0.02,20476118020,776077432316\n"
                      "Tether,USDT,1,0,44131404071,80205879149\n")
    browser.get(live_server + "/batch")
    browser.find_element(By.NAME, "file").send_keys(str(upload))
    browser.find_element(By.CSS_SELECTOR, "button[value=show]").click()
    assert "2 of 2 row(s) scored" in wait_for(browser, By.ID, "summary").text
    high = int(browser.find_element(By.ID, "count-high").text)
    low = int(browser.find_element(By.ID, "count-low").text)
    assert high + low == 2
    link = browser.find_element(By.ID, "download").get_attribute("href")
    # Fetch the link inside the page, with the browser's own session cookie and no file in any request.
    csv_text = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text()).then(done, e => done('ERROR ' + e));",
        link)
    lines = csv_text.splitlines()
    assert lines[0].startswith("row,coin,symbol,price,1h")
    assert len(lines) == 3
    assert lines[1].startswith("1,\"'=HYPERLINK(")
    assert ",-0.02," in lines[1]


@pytest.fixture(scope="module")
def coins_server(make_app, trained_dir, snapshots_dir, tmp_path_factory):
    """The app on a store of the fixture snapshots (2024-01-01, -02, -04), served on a free loopback port."""
    from conftest import open_store

    from liquidity.store.importer import import_snapshots

    folder = tmp_path_factory.mktemp("coins-store")
    url = f"sqlite:///{folder}/market.db"
    with open_store(url) as store:
        import_snapshots(snapshots_dir, store)
    app = make_app(trained_dir, tmp_path_factory.mktemp("EDA_REPORT"), DATABASE_URL=url)
    yield from serve(app)


def csp_violations(driver):
    """Return the browser console's Content Security Policy complaints since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def test_the_market_searches_sorts_and_leads_to_a_coin_page_on_a_phone(coins_server, browser):
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)  # a phone
    try:
        browser.get(coins_server + "/coins")
        assert "The market on 2024-01-04" in wait_for(browser, By.TAG_NAME, "h1").text
        rows = browser.find_elements(By.CSS_SELECTOR, "#coins-table tbody tr")
        assert len(rows) == 12
        # The table turns into one card per coin: nothing wider than the screen.
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390

        search = browser.find_element(By.ID, "coin-search")
        search.send_keys("eth")
        browser.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
        # The unfiltered page has a count too: wait for the filtered page's, then read its rows.
        wait_until(browser, lambda d: "matching" in d.find_element(By.ID, "listing-count").text)
        names = wait_until(browser, lambda d: [
            a.text for a in d.find_elements(By.CSS_SELECTOR, "#coins-table tbody td:first-child a")])
        assert sorted(names) == ["Ethereum", "Tether"]

        browser.get(coins_server + "/coins")
        # The column headers are hidden on a phone (each coin is a card): the sort control works there.
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element(By.ID, "coin-sort")).select_by_value("forecast")
        Select(browser.find_element(By.ID, "coin-order")).select_by_value("desc")
        browser.find_element(By.CSS_SELECTOR, ".sort-row button").click()
        # The market-cap column is sorted descending on the page before too: wait for the forecast's header.
        wait_for(browser, By.XPATH, "//th[@aria-sort='descending']/a[starts-with(normalize-space(.), 'Forecast')]")
        forecasts = [float(td.text) for td in
                     browser.find_elements(By.CSS_SELECTOR, "#coins-table tbody td[data-label=Forecast]")]
        assert forecasts == sorted(forecasts, reverse=True) and len(forecasts) == 12

        browser.find_element(By.CSS_SELECTOR, "#coins-table tbody td:first-child a").click()
        score = float(wait_for(browser, By.ID, "forecast-score").text)
        assert score == forecasts[0]
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 3
        assert browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline.s-score")
        browser.find_element(By.LINK_TEXT, "30 days").click()
        wait_for(browser, By.CSS_SELECTOR, "a[aria-current=page][href*='days=30']")
        assert float(browser.find_element(By.ID, "forecast-score").text) == score
        assert csp_violations(browser) == []
    finally:
        browser.set_window_size(1200, 900)


def test_the_coin_picker_fills_the_form_from_the_store(coins_server, browser):
    from selenium.webdriver.common.by import By

    browser.get(coins_server + "/")
    picker = browser.find_element(By.ID, "store-pick-coin")
    picker.send_keys("BTC")
    browser.find_element(By.CSS_SELECTOR, "form.store-pick button[type=submit]").click()
    status = wait_for(browser, By.ID, "store-pick-status")
    assert "Filled from the stored snapshot of Bitcoin:BTC on 2024-01-04" in status.text
    assert browser.find_element(By.NAME, "volume").get_attribute("value") != ""
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    assert 0 < float(wait_for(browser, By.ID, "score").text) < 1
    assert csp_violations(browser) == []
