"""Issue 20, "a monitor she can read" and the coin charts: /monitor leads with one plain sentence whose numbers come
from the log, a backtest over the stored history fills it on a fresh store (kept apart and labelled), an input the
model does not use is no drift alarm; charts have titles, axis titles, unique ticks, a log axis where values span
decades; the coin page offers 30 days, 90 days, 1 year and all."""

import html as html_lib
import re
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import logged, open_store

from liquidity.backtest import run_backtest
from liquidity.commands.store import import_command
from liquidity.forecasting import forecast_dates
from liquidity.monitoring import monitor_figures
from liquidity.store.backtests import backtest_runs
from liquidity.store.predictions import BACKTEST, counts, log_forecasts, score_outcomes, scored_forecasts
from liquidity.store.schema import backtest_forecasts
from liquidity.web.charts import line_chart
from liquidity.web.monitor.views import backtests, plain_sentence


def visible(response):
    """Return the words a reader sees on a page: no tags, entities decoded, spaces collapsed."""
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
    return re.sub(r"\s+", " ", text)


def score_on(store, date, coin_id):
    return float(store.snapshot(date).set_index("coin_id")["liquidity_score"].loc[coin_id])


def log_hand_made(store, model_version):
    """Log three scored 1-day forecasts: two from 2024-01-01 (the last 30 days) and one from 2023-11-01 (older).

    Recent: the model is off by 0.01 and 0.03 (mean 0.02), "tomorrow = today" by 0.05 and 0.03 (mean 0.04): the
    model's error is 50 % smaller; Bitcoin's 80 % interval holds its outcome, Ethereum's does not (50 %). The old
    forecast (outcome: the next stored snapshot, 2024-01-01) is far off and must not count in the sentence.
    """
    btc, eth = score_on(store, "2024-01-02", "Bitcoin:BTC"), score_on(store, "2024-01-02", "Ethereum:ETH")
    old = score_on(store, "2024-01-01", "Bitcoin:BTC")
    rows = [
        {"coin_id": "Bitcoin:BTC", "snapshot_date": "2024-01-01", "score": btc - 0.05, "forecast_score": btc + 0.01,
         "level": "High", "horizon": 1, "low80": btc - 0.02, "high80": btc + 0.03},
        {"coin_id": "Ethereum:ETH", "snapshot_date": "2024-01-01", "score": eth + 0.03, "forecast_score": eth - 0.03,
         "level": "High", "horizon": 1, "low80": eth - 0.2, "high80": eth - 0.1},
        {"coin_id": "Bitcoin:BTC", "snapshot_date": "2023-11-01", "score": old, "forecast_score": old - 0.4,
         "level": "Low", "horizon": 1, "low80": old - 0.5, "high80": old - 0.3},
    ]
    log_forecasts(store, rows, source="daily", model_version=model_version)
    assert score_outcomes(store) == 3


# --- the sentence ------------------------------------------------------------------------------------------------

@pytest.mark.sqlite_and_postgresql
def test_the_sentence_counts_the_last_30_days_of_scored_forecasts(snapshots_store, fixture_model):
    model = SimpleNamespace(version="v20", threshold=0.5, horizons=(1,), card=fixture_model.card)
    log_hand_made(snapshots_store, model.version)

    entry = monitor_figures(snapshots_store, model)["horizons"][0]

    recent = entry["recent"]
    assert entry["overall"]["scored"] == 3  # the old forecast counts overall ...
    assert recent["scored"] == 2 and recent["rows80"] == 2  # ... not in the last 30 days
    assert (recent["first_date"], recent["last_date"]) == ("2023-12-03", "2024-01-01")
    assert recent["model_mae"] == pytest.approx(0.02) and recent["persistence_mae"] == pytest.approx(0.04)
    assert recent["improvement"] == pytest.approx(0.5) and recent["coverage80"] == 0.5
    assert plain_sentence(recent, 1) == (
        'Over the last 2 scored forecasts 1 day ahead (made from the snapshots of 2023-12-03 to 2024-01-01), the '
        'model\'s error was 50 % smaller than "tomorrow = today", and the 80 % interval held the outcome 50 % of the '
        'time.')


def test_a_model_worse_than_persistence_is_said_to_be_larger_and_nothing_scored_says_nothing():
    recent = {"scored": 40, "rows80": 40, "first_date": "2024-03-02", "last_date": "2024-03-31", "model_mae": 0.06,
              "persistence_mae": 0.04, "improvement": -0.5, "coverage80": 0.725}
    assert plain_sentence(recent, 7) == (
        'Over the last 40 scored forecasts 7 days ahead (made from the snapshots of 2024-03-02 to 2024-03-31), the '
        'model\'s error was 50 % larger than "in 7 days = today", and the 80 % interval held the outcome 72 % of the '
        'time.')
    assert plain_sentence({"scored": 0, "rows80": 0}, 1) is None


def test_the_monitor_page_leads_with_the_sentence(client, snapshots_store, fixture_model):
    log_hand_made(snapshots_store, fixture_model.version)
    response = client.get("/monitor")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # The sentence comes first, before the figures by week.
    assert html.index('id="summary-sentence"') < html.index('id="horizon-1"')
    assert ('Over the last 2 scored forecasts 1 day ahead (made from the snapshots of 2023-12-03 to 2024-01-01), the '
            'model\'s error was 50 % smaller than "tomorrow = today", and the 80 % interval held the outcome 50 % of '
            'the time.') in visible(response)
    answer = client.get("/api/v1/monitor").get_json()
    assert answer["horizons"][0]["recent"]["improvement"] == pytest.approx(0.5)


# --- the backtest ------------------------------------------------------------------------------------------------

@pytest.mark.sqlite_and_postgresql
def test_a_backtest_is_what_the_forecast_command_says_on_each_date_kept_apart_and_scored(snapshots_store,
                                                                                         fixture_model):
    result = run_backtest(snapshots_store, fixture_model)

    dates = snapshots_store.dates()
    expected = forecast_dates(snapshots_store, fixture_model, dates)
    assert result.dates == 3 and result.forecasts == len(expected) * len(fixture_model.horizons)
    stored = pd.read_sql(sa.select(backtest_forecasts).where(backtest_forecasts.c.horizon == 1),
                         snapshots_store.engine)
    stored["date"] = stored["snapshot_date"].astype(str).str[:10]
    mine = stored.set_index(["date", "coin_id"]).sort_index()
    theirs = expected.set_index(["date", "coin_id"]).sort_index()
    assert mine.index.tolist() == theirs.index.tolist()
    assert mine["forecast_score"].tolist() == pytest.approx(theirs["forecast_score"].tolist(), abs=1e-12)
    assert mine["high80"].tolist() == pytest.approx(theirs["band_high"].tolist(), abs=1e-12)
    scored = scored_forecasts(snapshots_store, model_version=fixture_model.version, kind=BACKTEST)
    # Outcomes: 2024-01-01's in 2024-01-02's snapshot, 2024-01-02's in 2024-01-04's (the next stored one).
    assert sorted(set(scored.loc[scored["horizon"] == 1, "date"])) == ["2024-01-01", "2024-01-02"]
    btc = snapshots_store.snapshot("2024-01-04").set_index("coin_id").loc["Bitcoin:BTC", "liquidity_score"]
    row = scored[(scored["date"] == "2024-01-02") & (scored["horizon"] == 1)]
    assert btc in row["actual"].tolist()
    assert counts(snapshots_store) == ({}, 0)  # the live log holds none of it

    again = run_backtest(snapshots_store, fixture_model)  # a second run replaces the first, never adds to it
    assert again.forecasts == result.forecasts
    assert backtest_runs(snapshots_store)[0]["forecasts"] == result.forecasts


def test_a_fresh_store_with_history_offers_a_backtest_that_fills_the_page_labelled(client, snapshots_store):
    before = visible(client.get("/monitor"))
    assert "No forecast has been scored yet" in before and "No backtest has been run yet" in before
    assert "Run a backtest" in before

    assert client.post("/monitor/backtest").status_code == 400  # no CSRF token: refused
    token = client.csrf_token("/monitor")
    response = client.post("/monitor/backtest", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/monitor#backtest")
    assert backtests.wait(timeout=120), "the backtest did not finish"
    assert backtests.failure is None

    page = client.get("/monitor")
    html, words = page.get_data(as_text=True), visible(page)
    summary = html[html.index('id="summary"'):html.index("</section>", html.index('id="summary"'))]
    assert "Backtest" in summary and "Over the last" in summary
    assert re.search(r"Backtest of model \w+ ?, run \d{4}-\d\d-\d\d \d\d:\d\d UTC: \d+ forecast\(s\) from the "
                     r"snapshots of 2024-01-01 to 2024-01-04", words)
    assert re.search(r"1 day ahead: Over the last \d+ scored forecasts? 1 day ahead", words)
    assert 'id="chart-backtest-mae-1-title">Backtest: Mean absolute error by week, 1 day ahead' in html
    assert "Run the backtest again" in words
    # Shown apart: the live log's own counts stay empty.
    assert re.search(r'id="logged-total">0<', html) and logged(client.application.config["DATABASE_URL"]).empty


def test_a_backtest_on_a_store_without_snapshots_is_refused_in_words(client):
    assert "Run a backtest" not in visible(client.get("/monitor"))  # nothing to offer
    token = client.csrf_token("/")
    response = client.post("/monitor/backtest", data={"csrf_token": token})
    assert response.status_code == 409 and "no snapshot to backtest on" in visible(response)


def test_a_later_import_scores_the_backtests_forecasts(two_days_store, snapshots_dir, fixture_model, store_url):
    run_backtest(two_days_store, fixture_model)
    before = scored_forecasts(two_days_store, horizons=[1], kind=BACKTEST)
    assert sorted(set(before["date"])) == ["2024-01-01"]  # 2024-01-02's outcome is not stored yet

    result = CliRunner().invoke(import_command, [str(snapshots_dir / "day4.csv"), "--database-url", store_url])

    assert result.exit_code == 0, result.output
    after = scored_forecasts(two_days_store, horizons=[1], kind=BACKTEST)
    assert sorted(set(after["date"])) == ["2024-01-01", "2024-01-02"]


@pytest.mark.sqlite_and_postgresql
def test_import_with_backtest_fills_the_backtest(store_url, snapshots_dir, trained_dir, monkeypatch):
    for name, file in (("MODEL", "tuned_liquidity_model.pkl"), ("SCALER", "liquidity_scaler.pkl"),
                       ("CARD", "model_card.json")):
        monkeypatch.setenv(f"LIQUIDITY_{name}_PATH", str(trained_dir / file))
    result = CliRunner().invoke(import_command, [str(snapshots_dir), "--database-url", store_url, "--backtest"])
    assert result.exit_code == 0, result.output
    assert re.search(r"backtest of model \w+: \d+ forecast\(s\) from 3 snapshot date\(s\), 2024-01-01 to 2024-01-04",
                     result.output)
    with open_store(store_url) as store:
        runs = backtest_runs(store)
        assert len(runs) == 1 and runs[0]["scored"] > 0
        assert counts(store) == ({}, 0)


# --- drift -------------------------------------------------------------------------------------------------------

@pytest.mark.sqlite_and_postgresql
def test_an_input_the_model_does_not_use_is_no_drift_alarm(snapshots_store, fixture_model, make_app, trained_dir,
                                                            report_dir):
    card = {**fixture_model.card, "inputs": {**fixture_model.card["inputs"], "1h": {"min": None, "max": None}}}
    model = SimpleNamespace(version="v20", threshold=0.5, horizons=(1,), card=card)
    log_forecasts(snapshots_store, [{"coin_id": "Bitcoin:BTC", "snapshot_date": "2024-01-04", "h1": 0.5,
                                     "volume": 1e9, "mkt_cap": 1e10, "price": 1.0, "forecast_score": 0.5,
                                     "level": "High"}], source="daily", model_version="v20")

    drift = monitor_figures(snapshots_store, model)["drift"]

    assert drift["unused"] == ["1h"]
    assert drift["recent"]["1h"] == {"logged": 1, "outside": None, "share": None}
    assert all(week["1h"] is None for week in drift["weeks"])
    assert drift["recent"]["volume"]["outside"] is not None  # a used input is still checked


def test_the_page_says_1h_is_not_used_instead_of_an_alarm(make_app, horizons_trained_dir, report_dir,
                                                          snapshots_store, horizons_model):
    assert horizons_model.card["inputs"]["1h"]["min"] is None  # the daily history has no 1h
    client = make_app(horizons_trained_dir, report_dir).test_client()
    log_forecasts(snapshots_store, [{"coin_id": "Bitcoin:BTC", "snapshot_date": "2024-01-04", "h1": 0.01,
                                     "volume": 1e9, "mkt_cap": 1e10, "price": 1.0, "forecast_score": 0.5,
                                     "level": "High"}], source="daily", model_version=horizons_model.version)
    page = client.get("/monitor")
    html, words = page.get_data(as_text=True), visible(page)
    assert "1h change not used by the current model" in words
    row = html[html.index('id="drift-1h"'):html.index("</tr>", html.index('id="drift-1h"'))]
    assert "%" not in row  # no share outside, so nothing that reads as an alarm
    chart = html[html.index('id="chart-drift-title"'):html.index("</figure>", html.index('id="chart-drift-title"'))]
    assert "1h change" not in chart and "24h volume" in chart


# --- charts ------------------------------------------------------------------------------------------------------

def percent(value):
    return f"{value * 100:.0f} %"


def test_ticks_never_repeat_a_label():
    chart = line_chart("Share inside", ["2024-01-01", "2024-01-01"], [("s", "s-model", [0.501, 0.503])],
                       tick_format=percent)
    y_texts = [text for _, text in chart.y_ticks]
    assert len(y_texts) == len(set(y_texts)) and y_texts  # 50.1 % .. 50.3 % all read "50 %": said once
    x_texts = [text for _, text in chart.x_ticks]
    assert x_texts == ["2024-01-01"]


def test_a_log_axis_is_chosen_where_values_span_decades():
    dates = [f"2024-01-{day:02d}" for day in range(1, 6)]
    wide = line_chart("Turnover", dates, [("t", "s-turnover", [0.002, 0.01, 0.5, 2.0, 3.0])], y_min=0.0,
                      tick_format=percent, scale="auto", x_label="date", y_label="24h volume, % of market cap")
    assert wide.log
    assert [text for _, text in wide.y_ticks] == ["1 %", "10 %", "100 %"]  # one tick per power of ten
    narrow = line_chart("Turnover", dates, [("t", "s-turnover", [0.02, 0.03, 0.05, 0.04, 0.03])], y_min=0.0,
                        tick_format=percent, scale="auto")
    assert not narrow.log and narrow.y_ticks[-1][0] < narrow.y_ticks[0][0]  # linear, from 0 up
    # A turnover of 0 every day is drawn from 0 up, never from -100 %.
    flat = line_chart("Turnover", dates, [("t", "s-turnover", [0.0] * 5)], y_min=0.0, tick_format=percent,
                      scale="auto")
    assert not flat.log and [text for _, text in flat.y_ticks][0] == "0 %"
    assert all(not text.startswith("-") for _, text in flat.y_ticks)


def test_the_coin_page_offers_four_ranges_and_titles_its_charts(client, snapshots_store):
    page = client.get("/coins/Bitcoin:BTC")
    html = page.get_data(as_text=True)
    links = re.findall(r'href="/coins/Bitcoin:BTC\?days=(\w+)"[^>]*>([^<]+)</a>', html)
    assert links == [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("all", "All")]
    assert html.count('class="chart-title"') == 3
    assert "24h volume, % of market cap" in html and "price in USD" in html and ">date<" in html

    every = client.get("/coins/Bitcoin:BTC?days=all")
    assert every.status_code == 200
    assert 'aria-current="page">All</a>' in every.get_data(as_text=True)
    assert "3 stored snapshot(s) in all the stored history" in visible(every)
    wrong = client.get("/coins/Bitcoin:BTC?days=forever")
    assert wrong.status_code == 400 and "days:" in visible(wrong) and "or all" in visible(wrong)
