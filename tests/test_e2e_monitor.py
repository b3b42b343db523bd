"""End to end: /monitor in a real headless chromium, on a desktop and on a phone: the plain sentence first, the
backtest labelled and run again from its button, every chart titled, nothing wider than the screen."""

import pytest
from test_e2e_browser import browser, csp_violations, serve, wait_for, wait_until  # noqa: F401  (browser: fixture)

pytestmark = pytest.mark.slow  # drives a real browser

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def monitor_server(make_app, trained_dir, snapshots_dir, tmp_path_factory):
    """The app on a store of the fixture snapshots (2024-01-01, -02, -04) and a backtest of the fixture model over
    them, nothing logged live; served on a free loopback port."""
    from conftest import open_store

    from liquidity.artifacts import ArtifactPaths
    from liquidity.backtest import run_backtest
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.store.importer import import_snapshots

    folder = tmp_path_factory.mktemp("monitor-store")
    url = f"sqlite:///{folder}/market.db"
    with open_store(url) as store:
        import_snapshots(snapshots_dir, store)
        run_backtest(store, LiquidityModel.load(ArtifactPaths.in_folder(trained_dir)))
    app = make_app(trained_dir, tmp_path_factory.mktemp("EDA_REPORT"), DATABASE_URL=url)
    yield from serve(app)


@pytest.mark.parametrize("size", SIZES)
def test_the_monitor_reads_first_as_a_sentence_and_reruns_its_backtest(monitor_server, browser, size):  # noqa: F811
    from selenium.webdriver.common.by import By

    from liquidity.web.monitor.views import backtests

    width, height = SIZES[size]
    browser.set_window_size(width, height)
    try:
        browser.get(monitor_server + "/monitor")
        sentence = wait_for(browser, By.ID, "summary-sentence")
        assert sentence.text.startswith("BACKTEST") or sentence.text.startswith("Backtest")
        assert "Over the last" in sentence.text and "80 % interval held the outcome" in sentence.text
        # The sentence is the first thing under the heading: above the fold on either screen.
        assert sentence.location["y"] < height
        titles = [p.text for p in browser.find_elements(By.CSS_SELECTOR, "figure .chart-title")]
        assert titles and all(titles)
        assert any(t.startswith("Backtest: Mean absolute error by week, 1 day ahead") for t in titles)
        assert browser.find_elements(By.CSS_SELECTOR, "svg.chart text.axis-label")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width

        browser.find_element(By.CSS_SELECTOR, "#backtest-form button[type=submit]").click()
        wait_until(browser, lambda d: d.current_url.endswith("/monitor#backtest"))
        assert backtests.wait(timeout=120)
        browser.get(monitor_server + "/monitor")
        assert "Backtest of model" in wait_for(browser, By.ID, "backtest-run").text
        assert csp_violations(browser) == []
    finally:
        browser.set_window_size(1200, 900)
