"""End to end in headless chromium (issue 20): a coin that left the market and a batch result, on a 1280 px screen and
a phone, with nothing wider than the screen."""

import pytest
from test_e2e_browser import browser, csp_violations, serve, wait_for  # noqa: F401  (browser is a fixture)

pytestmark = pytest.mark.slow  # drives a real browser

SCREENS = {"desktop": (1280, 900), "phone": (390, 844)}
# A batch a risk desk might upload: stored coins (one named twice), one the store does not know, one bad row.
BATCH = ("coin,symbol,coin_id,price,1h,24h_volume,mkt_cap,date\n"
         "Ethereum,ETH,,2900,0.006,16000000000,348000000000,2024-01-04\n"
         "Bitcoin,BTC,,42000,,26000000000,800000000000,2024-01-04\n"
         "Ethereum,ETH,,2900,0.006,16000000000,348000000000,2024-01-04\n"
         "A Coin With A Rather Long Name Indeed,LONGNAMECOIN,a-coin-with-a-rather-long-name-indeed,0.000012345,"
         "0.012,123456.789,98765432.1,2024-01-04\n"
         "Broken,BRK,,-1,0.01,abc,100,2024-01-04\n")


@pytest.fixture(scope="module")
def store_server(make_app, trained_dir, snapshots_dir, tmp_path_factory):
    """The app on a store of the fixture snapshots (2024-01-01, -02, -04; Frenzy last seen on 2024-01-02)."""
    from conftest import open_store

    from liquidity.store.importer import import_snapshots

    folder = tmp_path_factory.mktemp("onecoin-store")
    url = f"sqlite:///{folder}/market.db"
    with open_store(url) as store:
        import_snapshots(snapshots_dir, store)
    app = make_app(trained_dir, tmp_path_factory.mktemp("EDA_REPORT"), DATABASE_URL=url)
    yield from serve(app)


def widths(driver):
    """Return (the page's scroll width, the window's inner width)."""
    return driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")


@pytest.fixture(params=list(SCREENS))
def screen(request, browser):  # noqa: F811
    browser.set_window_size(*SCREENS[request.param])
    yield request.param
    browser.set_window_size(1200, 900)


def test_a_coin_that_left_the_market_shows_its_history_and_when_it_was_last_seen(store_server, browser,  # noqa: F811
                                                                                  screen):
    from selenium.webdriver.common.by import By

    browser.get(store_server + "/coins/Frenzy:FRZ")
    assert wait_for(browser, By.ID, "last-seen").text == "2024-01-02"
    assert "Last seen on 2024-01-02" in browser.find_element(By.ID, "left-market").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 3
    page, window = widths(browser)
    assert page <= window
    assert csp_violations(browser) == []


def test_the_batch_result_shows_every_column_without_sideways_scrolling(store_server, browser, screen,  # noqa: F811
                                                                        tmp_path):
    from selenium.webdriver.common.by import By

    upload = tmp_path / "desk.csv"
    upload.write_text(BATCH)
    browser.get(store_server + "/batch")
    browser.find_element(By.NAME, "file").send_keys(str(upload))
    browser.find_element(By.CSS_SELECTOR, "button[value=show]").click()
    assert "4 of 5 row(s) scored" in wait_for(browser, By.ID, "summary").text
    page, window = widths(browser)
    assert page <= window
    table = browser.find_element(By.ID, "scores")
    wrap = browser.execute_script("const w = arguments[0].parentElement; return [w.scrollWidth, w.clientWidth]", table)
    assert wrap[0] <= wrap[1]  # the table itself needs no sideways scroll either
    rows = browser.find_elements(By.CSS_SELECTOR, "#scores tbody tr")
    assert len(rows) == 5
    first = rows[0].text
    assert "its stored history, 2024-01-04" in first and "repeated" in first
    assert "the four inputs alone" in rows[3].text
    if screen == "desktop":
        headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#scores thead th")]
        assert headers == ["Row", "Coin", "24h volume", "Market cap", "1h change", "Price", "Score", "Level",
                           "80 % interval", "Implied volume", "Forecast from", "Note"]
        right = browser.execute_script("return arguments[0].parentElement.getBoundingClientRect().right", table)
        edges = browser.execute_script(
            "return [...arguments[0].querySelectorAll('thead th')].map(th => th.getBoundingClientRect().right)", table)
        assert max(edges) <= right + 1  # every column inside the visible table
    else:  # one card per row, each cell labelled
        labels = browser.execute_script(
            "return [...arguments[0].querySelectorAll('td')].map(td => getComputedStyle(td, '::before').content)",
            rows[0])
        assert '"Forecast from"' in labels and '"Score"' in labels
    assert "Market data: the stored snapshot of 2024-01-04" in browser.find_element(By.ID, "snapshot-date").text
    assert csp_violations(browser) == []
