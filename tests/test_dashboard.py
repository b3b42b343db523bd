"""The Streamlit dashboard (dashboard/app.py) against a live app on a loopback port: Streamlit's headless test runner
reads each view, and once a real chromium renders `streamlit run` and takes a screenshot."""

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import open_store, synthetic_history
from test_e2e_browser import serve, start_chromium

from liquidity.store.importer import import_snapshots

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
TITLE = "Crypto liquidity dashboard"
COINS = 12
LATEST = "2024-07-18"  # the synthetic history's last day
TIMEOUT = 60  # one run of the script: the first forecast of a coin loads its history


@pytest.fixture(scope="module")
def dashboard_store_url(tmp_path_factory):
    """A SQLite store holding the last 40 days of a synthetic history of 12 coins (every coin, every day)."""
    history = synthetic_history(coins=COINS)
    folder = tmp_path_factory.mktemp("dashboard-store")
    path = folder / "daily.csv"
    history[history["date"] > "2024-06-08"].to_csv(path, index=False)
    url = f"sqlite:///{folder}/market.db"
    with open_store(url) as store:
        import_snapshots(path, store)
    return url


@pytest.fixture(scope="module")
def api_url(make_app, horizons_trained_dir, dashboard_store_url, tmp_path_factory):
    """The base URL of the app (the 1-, 7- and 30-day model) over that store, served on a free loopback port."""
    app = make_app(horizons_trained_dir, tmp_path_factory.mktemp("EDA_REPORT"), DATABASE_URL=dashboard_store_url)
    yield from serve(app)


@pytest.fixture
def dashboard(api_url, monkeypatch):
    """Return the dashboard in Streamlit's headless runner, reading the live app."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LIQUIDITY_API_URL", api_url)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shown(at):
    """Return everything the run wrote as text, one element a line."""
    return "\n".join(str(element.value) for kind in ("title", "header", "subheader", "markdown", "caption", "error",
                                                     "warning", "info") for element in getattr(at, kind))


def test_the_movers_list_shows_every_coin_largest_forecast_drop_first(dashboard, api_url):
    at = dashboard.run()
    assert not at.exception
    assert at.title[0].value == TITLE
    at.radio(key="movers_horizon").set_value(7)
    at.selectbox(key="movers_count").set_value(25)
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    drops = sorted(every_coin(api_url, 7)["coins"], key=lambda coin: coin["forecast_score"] - coin["score"])
    assert list(table["Coin"]) == [coin["coin"] for coin in drops]
    assert len(table) == COINS
    changes = (table["Forecast"] - table["Score today"]).tolist()
    assert changes == sorted(changes) and changes[0] < changes[-1]
    assert table["Change"].tolist() == pytest.approx(changes)
    assert all(" to " in text for text in table["80 % range"])
    assert f"From the market snapshot of {LATEST}; forecasts for 2024-07-25." in shown(at)


def every_coin(api_url, horizon):
    """Return the API's every coin, horizon days ahead, in no particular order."""
    return requests.get(f"{api_url}/api/v1/coins", params={"horizon": horizon, "per_page": 500}, timeout=30).json()


def test_the_movers_list_keeps_one_market_cap_band(dashboard, api_url):
    at = dashboard.run()
    at.selectbox(key="movers_cap").set_value("mid").run()
    assert not at.exception and not at.error
    mid = sorted((coin for coin in every_coin(api_url, 1)["coins"] if 1e9 <= coin["mkt_cap_usd"] < 10e9),
                 key=lambda coin: coin["change"])
    assert mid, "the fixture has no mid-size coin"
    table = at.dataframe[0].value
    assert list(table["Coin"]) == [coin["coin"] for coin in mid]
    assert all(1e9 <= cap < 10e9 for cap in table["Market cap (USD)"])


def test_the_movers_list_can_keep_only_coins_falling_from_high_to_low(dashboard, api_url):
    at = dashboard.run()
    at.checkbox(key="movers_falling").check().run()
    assert not at.exception and not at.error
    falling = [coin["coin"] for coin in sorted(every_coin(api_url, 1)["coins"], key=lambda coin: coin["change"])
               if coin["level_today"] == "High" and coin["level"] == "Low"]
    if falling:
        assert list(at.dataframe[0].value["Coin"]) == falling
    else:  # the fixture's coins keep their level a day ahead: the page says none matches
        assert not at.dataframe
        assert at.info[0].value == f"No coin of the snapshot of {LATEST} matches these choices."


def test_a_coin_shows_its_three_horizons_with_both_ranges(dashboard):
    at = dashboard.run()
    at.sidebar.radio(key="view").set_value("One coin").run()
    at.text_input(key="coin_typed").set_value("coin-3").run()
    assert not at.exception and not at.error
    assert at.subheader[0].value == "Coin 3 (C3)"
    assert "the threshold between Low and High is" in shown(at)
    assert [metric.label for metric in at.metric] == ["1 day ahead (2024-07-19)", "7 days ahead (2024-07-25)",
                                                      "30 days ahead (2024-08-17)"]
    assert all(0 <= float(metric.value) <= 1 for metric in at.metric)
    table = at.table[0].value
    assert list(table.index) == ["1 day", "7 days", "30 days"]
    assert all(" to " in text for column in ("80 % range", "90 % range") for text in table[column])
    assert at.get("vega_lite_chart"), "no chart of the coin's forecasts"


def test_an_unknown_coin_shows_the_apis_message(dashboard):
    at = dashboard.run()
    at.sidebar.radio(key="view").set_value("One coin").run()
    at.text_input(key="coin_typed").set_value("no-such-coin").run()
    assert not at.exception
    assert "no-such-coin" in at.error[0].value
    assert not at.metric


def test_the_form_returns_a_level(dashboard):
    at = dashboard.run()
    at.sidebar.radio(key="view").set_value("Forecast from four numbers").run()
    at.button[0].click().run()
    assert not at.exception and not at.error
    level = next(metric for metric in at.metric if metric.label == "Liquidity level")
    assert level.value in ("High", "Low")
    score = next(metric for metric in at.metric if metric.label == "Forecast score, 1 day ahead")
    assert 0 <= float(score.value) <= 1


def test_a_bad_input_shows_the_apis_message_naming_the_field(dashboard):
    at = dashboard.run()
    at.sidebar.radio(key="view").set_value("Forecast from four numbers").run()
    at.text_input(key="input_mkt_cap").set_value("-5")
    at.text_input(key="input_price").set_value("cheap")
    at.button[0].click().run()
    assert not at.exception
    message = at.error[0].value
    assert message.startswith("2 invalid value(s); nothing was scored.")
    assert "- Market cap (US dollars): market cap must be greater than 0" in message
    assert "- Price (US dollars): must be a JSON number" in message
    assert not at.metric
    assert "Traceback" not in shown(at)


def test_an_unreachable_api_says_so(monkeypatch):
    from streamlit.testing.v1 import AppTest

    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there any more
    monkeypatch.setenv("LIQUIDITY_API_URL", nowhere)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.error[0].value.startswith(f"The liquidity API at {nowhere} cannot be reached.")
    assert not at.dataframe


@pytest.fixture
def streamlit_server(api_url, tmp_path):
    """`streamlit run dashboard/app.py` headless on a free loopback port, reading the live app; yield its URL."""
    port = free_port()
    env = {**os.environ, "LIQUIDITY_API_URL": api_url, "HOME": str(tmp_path)}
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
                               "--server.address", "127.0.0.1", "--server.port", str(port),
                               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                               "--client.toolbarMode", "viewer"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "streamlit did not start within 60 s"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.mark.slow  # a subprocess and a real browser
def test_chromium_renders_the_dashboard(streamlit_server, tmp_path):
    driver = start_chromium(tmp_path / "chromium-profile")
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        driver.get(streamlit_server)
        page = WebDriverWait(driver, 60).until(
            lambda driver: (text := driver.find_element(By.TAG_NAME, "body").text)
            and "From the market snapshot of" in text and text)
        assert TITLE in page
        assert "Biggest movers" in page
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    (tmp_path / "dashboard.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] >= 800 and image.size[1] >= 600
    colours = image.getcolors(maxcolors=1 << 24)
    assert len(colours) > 50, f"the screenshot has {len(colours)} colours: a blank or uniform page"
    most = max(count for count, _ in colours)
    assert most < 0.95 * image.size[0] * image.size[1], "one colour fills the screenshot"
