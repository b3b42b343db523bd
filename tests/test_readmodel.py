"""The read model the pages and the API are served from: one immutable state per store version, rebuilt off the
request path and swapped in whole; one 503 for a store that cannot be read; the web layer's import rules."""

import ast
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import open_store

from liquidity.forecasting import CoinNotFound, ForecastError, forecast_coin, forecast_market, latest_ratios
from liquidity.store import MarketStore
from liquidity.store.importer import import_snapshots
from liquidity.web import readmodel
from liquidity.web.extensions import read_models
from liquidity.web.readmodel import ReadModel, StoreVersion
from liquidity.web.services import ProcessStore

DAY2, DAY4 = "2024-01-02", "2024-01-04"
STORE_ROUTES = ("/coins", "/coins/Bitcoin:BTC", "/coins/pick?coin=btc", "/monitor", "/api/v1/coins",
                "/api/v1/coins/Bitcoin:BTC", "/api/v1/coins/Bitcoin:BTC/forecast", "/api/v1/monitor")


def read_model_on(url, model, check_seconds=0.0):
    return ReadModel(ProcessStore(url), model, check_seconds)


# --- the state ------------------------------------------------------------------------------------------------------

def test_the_state_forecasts_what_the_store_does(snapshots_store, fixture_model):
    state = read_model_on(snapshots_store.url, fixture_model).current()
    assert state.latest == DAY4
    assert state.reference_ratios().tolist() == latest_ratios(snapshots_store).tolist()
    for coin_id in ("Bitcoin:BTC", "Ethereum:ETH"):
        assert state.coin_forecast(coin_id).next_day() == forecast_coin(snapshots_store, fixture_model, coin_id)
        # A past date is read from the store.
        assert state.coin_forecast(coin_id, DAY2).next_day() == forecast_coin(snapshots_store, fixture_model, coin_id,
                                                                              DAY2)
    expected = forecast_market(snapshots_store, fixture_model).set_index("coin_id")
    table = state.market_table().set_index("coin_id")
    for column in ("score", "forecast_score", "level", "band_low", "band_high"):
        assert table[column].sort_index().equals(expected[column].sort_index()), column
    assert table["mkt_cap"].is_monotonic_decreasing
    with pytest.raises(CoinNotFound, match="'no-such-coin' on 2024-01-04"):
        state.coin_forecast("no-such-coin")


def test_the_state_answers_the_picker_and_resolves_a_coin_from_memory(snapshots_store, fixture_model):
    state = read_model_on(snapshots_store.url, fixture_model).current()
    largest = snapshots_store.snapshot(DAY4).sort_values("mkt_cap", ascending=False)
    assert [coin_id for coin_id, _ in state.picker_coins()] == largest["coin_id"].tolist()
    assert state.resolve_coin(" btc ") == state.resolve_coin("Bitcoin") == "Bitcoin:BTC"
    assert state.resolve_coin("no such coin") is None
    row = snapshots_store.coin_history("Bitcoin:BTC", None, 1).iloc[-1]
    assert state.latest_row("Bitcoin:BTC") == {"date": DAY4, "volume": row["volume"], "mkt_cap": row["mkt_cap"],
                                               "1h": pytest.approx(row["1h"], nan_ok=True), "price": row["price"]}


def test_a_state_is_replaced_whole_when_a_newer_snapshot_lands(snapshots_store, fixture_model, tmp_path):
    read_model = read_model_on(snapshots_store.url, fixture_model, check_seconds=3600)
    try:
        before = read_model.current()
        table = before.market_table()
        later = tmp_path / "later.csv"
        later.write_text("date,coin_id,coin,symbol,price,volume,mkt_cap\n"
                         "2024-01-05,Bitcoin:BTC,Bitcoin,BTC,43000,1,100\n")
        import_snapshots(later, snapshots_store)
        assert read_model.current() is before  # no check yet: the state held is served
        after = read_model.refresh()
        assert read_model.current() is after and after.latest == "2024-01-05"
        assert after.market_table()["coin_id"].tolist() == ["Bitcoin:BTC"]
        assert after.coin_forecast("Bitcoin:BTC").next_day() == forecast_coin(snapshots_store, fixture_model,
                                                                              "Bitcoin:BTC")
        with pytest.raises(CoinNotFound):
            after.coin_forecast("Ethereum:ETH")  # not in the newest snapshot
        # The old state is unchanged: a request that began on it finishes on one version.
        assert before.latest == DAY4 and before.market_table().equals(table)
    finally:
        read_model.stop()


def test_a_state_cannot_be_changed_in_place(snapshots_store, fixture_model):
    from dataclasses import FrozenInstanceError

    state = read_model_on(snapshots_store.url, fixture_model).current()
    with pytest.raises(FrozenInstanceError):
        state.version = StoreVersion()
    with pytest.raises(FrozenInstanceError):
        state.market.table = None
    with pytest.raises(TypeError):
        state.market.coins["new"] = None
    with pytest.raises(ValueError, match="read-only"):
        state.reference_ratios()[0] = 1.0


def test_a_coin_is_forecast_once_per_store_version(snapshots_store, fixture_model, tmp_path, monkeypatch):
    calls = []
    real = fixture_model.forecast_history_horizons
    monkeypatch.setattr(fixture_model, "forecast_history_horizons",
                        lambda *arrays, **options: calls.append(1) or real(*arrays, **options))
    read_model = read_model_on(snapshots_store.url, fixture_model)
    first = read_model.current().coin_forecast("Bitcoin:BTC")
    assert read_model.current().coin_forecast("Bitcoin:BTC") is first and len(calls) == 1
    read_model.current().coin_forecast("Ethereum:ETH")
    assert len(calls) == 2  # one per coin
    late = tmp_path / "late.csv"  # a late coin on the latest date moves every rank of that date
    late.write_text("date,coin_id,coin,symbol,price,volume,mkt_cap\n2024-01-04,late,Late,LATE,1,99,100\n")
    import_snapshots(late, snapshots_store)
    again = read_model.current().coin_forecast("Bitcoin:BTC")
    assert len(calls) == 3 and again.next_day() == forecast_coin(snapshots_store, fixture_model, "Bitcoin:BTC")
    assert again.score != first.score


def test_a_logged_forecast_makes_a_new_state_on_the_same_market_data(snapshots_store, fixture_model):
    from liquidity.store.predictions import log_forecasts

    read_model = read_model_on(snapshots_store.url, fixture_model)
    before = read_model.current()
    assert before.past_forecasts("Bitcoin:BTC", 10) == ()
    forecast = before.coin_forecast("Bitcoin:BTC")
    log_forecasts(snapshots_store, [{"coin_id": "Bitcoin:BTC", "snapshot_date": DAY4, "forecast_score": 0.5,
                           "level": "High"}], source="api", model_version=fixture_model.version)
    after = read_model.current()
    assert after.version.market == before.version.market and after.version.newest_log != before.version.newest_log
    assert after.market is before.market  # nothing of the snapshots is rebuilt for a logged forecast
    assert after.coin_forecast("Bitcoin:BTC") is forecast
    assert [past.date for past in after.past_forecasts("Bitcoin:BTC", 10)] == [DAY4]
    assert before.past_forecasts("Bitcoin:BTC", 10) == ()  # the old state keeps what it answered


def test_the_backtests_figures_are_computed_once_per_run_not_per_logged_forecast(snapshots_store, fixture_model,
                                                                                  monkeypatch):
    from liquidity import monitoring
    from liquidity.backtest import run_backtest
    from liquidity.store.predictions import log_forecasts

    computed = []
    real = monitoring.backtest_figures
    monkeypatch.setattr(monitoring, "backtest_figures", lambda *args: computed.append(1) or real(*args))
    run_backtest(snapshots_store, fixture_model)
    read_model = read_model_on(snapshots_store.url, fixture_model)
    first = read_model.current().monitor()
    assert first["backtest"]["current"] is not None and len(computed) == 1
    log_forecasts(snapshots_store, [{"coin_id": "Bitcoin:BTC", "snapshot_date": DAY4, "forecast_score": 0.5,
                                     "level": "High"}], source="api", model_version=fixture_model.version)
    after_log = read_model.current().monitor()
    assert after_log["logged"]["total"] == first["logged"]["total"] + 1  # the live figures follow the log
    assert after_log["backtest"] == first["backtest"] and len(computed) == 1  # the backtest's are kept
    run_backtest(snapshots_store, fixture_model, now=datetime.now(UTC) + timedelta(minutes=1))
    read_model.current().monitor()
    assert len(computed) == 2  # a new run is new figures


def test_an_empty_store_says_to_import_first(market_store_in_tmp, fixture_model):
    open_store(market_store_in_tmp).close()
    state = read_model_on(market_store_in_tmp, fixture_model).current()
    assert state.version == StoreVersion() and state.latest is None
    assert state.market_table().empty and state.picker_coins() == [] and state.resolve_coin("btc") is None
    assert state.reference_ratios() is None  # rank against the model card's reference snapshot
    with pytest.raises(ForecastError, match="import snapshots first"):
        state.coin_forecast("Bitcoin:BTC")


@pytest.mark.sqlite_and_postgresql
def test_the_state_and_its_version_read_alike_on_both_backends(store_url, snapshots_dir, fixture_model):
    from liquidity.store.predictions import log_forecasts

    url = store_url
    with open_store(url) as filled:
        import_snapshots(snapshots_dir, filled)
        read_model = read_model_on(url, fixture_model)
        state = read_model.current()
        assert state.version.market == (*filled.latest_signature(), None) and state.version.newest_log is None
        assert state.coin_forecast("Bitcoin:BTC").next_day() == forecast_coin(filled, fixture_model, "Bitcoin:BTC")
        log_forecasts(filled, [{"coin_id": "Bitcoin:BTC", "snapshot_date": DAY4, "forecast_score": 0.5,
                                "level": "High"}], source="api", model_version="v1")
        assert read_model.current().version.newest_log is not None
        assert len(read_model.current().past_forecasts("Bitcoin:BTC", 10)) == 1
        read_model.store.open().close()


def test_the_version_is_a_small_value_fit_for_an_etag(snapshots_store, fixture_model):
    version = read_model_on(snapshots_store.url, fixture_model).version
    assert version.latest == DAY4 and version.newest_row == snapshots_store.count()
    assert version.tag == f"{DAY4}.{snapshots_store.count()}.0.0"


def test_an_unreadable_store_ranks_against_the_cards_reference(tmp_path, fixture_model):
    (tmp_path / "not-a-db").write_text("plain text, not SQLite")
    assert read_model_on(f"sqlite:///{tmp_path}/not-a-db", fixture_model).reference_ratios() is None


def test_opening_the_store_for_reading_never_migrates_it(tmp_path, fixture_model):
    url = f"sqlite:///{tmp_path}/fresh.db"
    opened = ProcessStore(url).open()
    with opened.engine.connect() as connection:
        assert sa.inspect(connection).get_table_names() == []


# --- rebuilt off the request path, swapped in whole ----------------------------------------------------------------

def test_a_request_during_a_rebuild_is_served_from_the_old_state(make_app, trained_dir, report_dir, two_days_store,
                                                                 snapshots_dir, monkeypatch):
    app = make_app(trained_dir, report_dir, STORE_CHECK_SECONDS=3600.0)
    read_model = read_models.get(app)
    client = app.test_client()
    try:
        assert client.get("/api/v1/coins").get_json()["date"] == DAY2  # the first state, built before serving
        import_snapshots(snapshots_dir / "day4.csv", two_days_store)
        release, real = threading.Event(), readmodel.MarketData.build

        def slow_build(*args):
            assert release.wait(30), "the test never released the build"
            return real(*args)

        monkeypatch.setattr(readmodel.MarketData, "build", slow_build)
        rebuild = threading.Thread(target=read_model.refresh)
        rebuild.start()
        time.sleep(0.2)  # the rebuild has read the new version and is building
        begun = time.monotonic()
        during = client.get("/api/v1/coins")
        assert during.status_code == 200 and during.get_json()["date"] == DAY2
        assert time.monotonic() - begun < 5  # served at once, not after the build
        release.set()
        rebuild.join(30)
        assert client.get("/api/v1/coins").get_json()["date"] == DAY4  # the new state, swapped in whole
    finally:
        read_model.stop()


def test_the_refresher_thread_rebuilds_every_check_and_no_request_builds(make_app, trained_dir, report_dir,
                                                                         two_days_store, snapshots_dir, monkeypatch):
    app = make_app(trained_dir, report_dir, STORE_CHECK_SECONDS=0.2)
    read_model = read_models.get(app)
    client = app.test_client()
    try:
        read_model.start()  # as gunicorn's post_worker_init does, before the worker serves
        assert client.get("/api/v1/coins").get_json()["date"] == DAY2
        builds = []
        real = readmodel.MarketData.build
        monkeypatch.setattr(readmodel.MarketData, "build",
                            lambda *args: builds.append(threading.current_thread().name) or real(*args))
        import_snapshots(snapshots_dir / "day4.csv", two_days_store)
        deadline = time.monotonic() + 20
        while client.get("/api/v1/coins").get_json()["date"] != DAY4:
            assert time.monotonic() < deadline, "the new snapshot never reached the answers"
            time.sleep(0.05)
        assert builds == ["read-model-refresher"]  # built by the refresher, never on a request's thread
    finally:
        read_model.stop()


def test_with_no_check_interval_each_request_sees_what_was_imported_before_it(client, two_days_store, snapshots_dir):
    assert client.get("/api/v1/coins").get_json()["date"] == DAY2
    import_snapshots(snapshots_dir / "day4.csv", two_days_store)
    assert client.get("/api/v1/coins").get_json()["date"] == DAY4
    assert read_models.get(client.application).thread is None  # no thread: the requests check themselves


def test_a_forked_worker_starts_with_no_state_and_reads_the_store_itself(snapshots_store, fixture_model):
    read_model = read_model_on(snapshots_store.url, fixture_model, check_seconds=3600)
    try:
        parent = read_model.current()
        pid = os.fork()
        if pid == 0:  # the child, as a gunicorn worker forked from a master that had built a state
            code = 1
            try:
                fresh = read_model.state is None and read_model.thread is None
                state = read_model.current()
                code = 0 if fresh and state is not parent and state.latest == DAY4 else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert read_model.current() is parent
    finally:
        read_model.stop()


# --- one 503 for a store that cannot be read -----------------------------------------------------------------------

def assert_store_routes_are_503(client, secret):
    for path in STORE_ROUTES:
        response = client.get(path)
        assert response.status_code == 503, path
        body = response.get_data(as_text=True)
        assert "cannot be read right now" in body and secret not in body, path
        if path.startswith("/api/"):
            assert response.get_json()["error"] == "Market store unavailable", path
    # The pages that need no store still answer.
    assert client.get("/").status_code == 200
    assert client.get("/predict?volume=1000&mkt_cap=100000&h1=0.5&price=1").status_code == 200


def test_a_database_url_at_a_folder_is_a_503_on_every_store_route(make_app, trained_dir, report_dir, tmp_path,
                                                                   caplog):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    client = make_app(trained_dir, report_dir, DATABASE_URL=f"sqlite:///{folder}").test_client()
    assert_store_routes_are_503(client, str(folder))
    assert "market store not migrated at start-up" in caplog.text  # the app started all the same
    assert "market store unavailable on GET /coins" in caplog.text  # the reason is in the server's log


def test_a_store_file_replaced_by_garbage_after_start_up_is_a_503(make_app, trained_dir, report_dir, snapshots_store,
                                                                   tmp_path):
    client = make_app(trained_dir, report_dir).test_client()
    assert client.get("/api/v1/coins").get_json()["date"] == DAY4
    read_models.get(client.application).store.open().engine.dispose()
    path = Path(snapshots_store.url.database)
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    path.write_bytes(b"not a database, " * 1000)
    assert_store_routes_are_503(client, str(path))


def test_the_app_migrates_the_store_once_at_start_up_and_says_so(make_app, trained_dir, report_dir,
                                                                  market_store_in_tmp):
    import logging

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("liquidity.web")
    logger.addHandler(handler)
    try:
        make_app(trained_dir, report_dir)
        with MarketStore(market_store_in_tmp, migrate=False) as opened:
            assert opened.latest_date() is None  # the tables exist: create_app migrated the new file
        assert any("created the market store's schema at revision" in text for text in messages), messages
        messages.clear()
        make_app(trained_dir, report_dir)
        assert not any("market store" in text for text in messages)  # at the newest revision: nothing to say
    finally:
        logger.removeHandler(handler)


def test_a_command_does_not_migrate_at_app_start_but_serving_does():
    import click

    from liquidity.web import serving

    assert serving()  # gunicorn, tests: no command running
    with click.Context(click.Command("run")):
        assert serving()  # flask run serves the app
    with click.Context(click.Command("import")):
        assert not serving()  # the command migrates (and reports errors) itself


# --- the web layer's imports ---------------------------------------------------------------------------------------

WEB = Path(__file__).parent.parent / "liquidity" / "web"


def test_no_blueprint_imports_another_blueprints_views():
    blueprints = {path.parent.name for path in WEB.glob("*/__init__.py")}
    wrong = []
    for path in WEB.glob("*/*.py"):
        owner = path.parent.name
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                parts = name.split(".")
                if (len(parts) >= 4 and parts[:2] == ["liquidity", "web"] and parts[2] in blueprints
                        and parts[2] != owner and parts[3] == "views"):
                    wrong.append(f"{path.relative_to(WEB)} imports {name}")
    assert blueprints >= {"api", "coins", "monitor", "home"}  # the walk did see the blueprints
    assert wrong == []


def test_extensions_holds_extension_instances_only():
    tree = ast.parse((WEB / "extensions.py").read_text())
    assert not [node.name for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))]


def test_gunicorns_post_worker_init_builds_the_state_and_starts_the_refresher(make_app, trained_dir, report_dir,
                                                                              snapshots_store):
    import logging
    import runpy
    from types import SimpleNamespace

    from liquidity.paths import PROJECT_ROOT

    hooks = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    app = make_app(trained_dir, report_dir, STORE_CHECK_SECONDS=3600.0)
    read_model = read_models.get(app)
    assert read_model.state is None  # create_app reads nothing: gunicorn's master must not open the store
    try:
        hooks["post_worker_init"](SimpleNamespace(wsgi=app, log=logging.getLogger("test")))
        assert read_model.state.latest == DAY4 and read_model.thread.is_alive()
    finally:
        read_model.stop()
