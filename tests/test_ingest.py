import csv
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner
from fake_coingecko import closed_port_url, market

from liquidity.coingecko import CoinGeckoClient, CoinGeckoError, retry_after_seconds
from liquidity.commands.ingest import ingest_command
from liquidity.dataset import load_snapshots
from liquidity.ingest import (
    SNAPSHOT_COLUMNS,
    IngestError,
    PageProgress,
    ingest,
    market_row,
)
from liquidity.modeling.train import QUICK_GRID, train
from liquidity.settings import COINGECKO_PRO_URL, COINGECKO_PUBLIC_URL, SettingError, coingecko_settings

DATE = "2024-03-16"


pytestmark = pytest.mark.usefixtures("no_coingecko_settings_from_the_machine")


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def files_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_snapshot_is_written_in_the_loaders_schema_with_fractions(coingecko_client, coingecko, tmp_path):
    result = ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, per_page=4)

    assert result.path == tmp_path / f"coingecko_{DATE}.csv"
    with open(result.path, newline="") as handle:
        assert next(csv.reader(handle)) == list(SNAPSHOT_COLUMNS)
    rows = read_rows(result.path)
    assert [r["coin"] for r in rows] == ["Bitcoin", "Ethereum", "Tether", "BNB", "Newcoin, Inc.", "Solana"]
    assert rows[0] == {"coin_id": "bitcoin", "coin": "Bitcoin", "symbol": "BTC", "price": "40859.46", "1h": "0.022",
                       "24h": "0.03", "7d": "0.055", "volume": "35390763321", "mkt_cap": "770991461396", "date": DATE}
    assert (rows[-1]["1h"], rows[-1]["24h"], rows[-1]["7d"]) == ("-0.0125", "-0.03", "0.12")
    assert (rows[4]["24h"], rows[4]["7d"]) == ("", "")  # null optional changes stay empty, the row stays
    assert result.rows_fetched == 7 and result.rows_written == 6
    assert dict(result.dropped) == {"missing or non-numeric price": 1}
    assert "dropped 1 row(s)" in result.summary() and "missing or non-numeric price" in result.summary()

    loaded = load_snapshots(tmp_path)
    assert len(loaded.frame) == 6 and not loaded.dropped
    assert loaded.frame.set_index("symbol").loc["BTC", "1h"] == pytest.approx(0.022)


def test_paging_asks_the_real_parameters_and_stops_at_an_empty_page(coingecko_client, coingecko, tmp_path):
    result = ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, per_page=4)

    queries = [r.query for r in coingecko.market_requests()]
    assert [q["page"] for q in queries] == ["1", "2", "3"]  # page 3 is empty: the last one asked for
    assert {(q["vs_currency"], q["order"], q["per_page"], q["price_change_percentage"]) for q in queries} == {
        ("usd", "market_cap_desc", "4", "1h,24h,7d")}
    assert result.pages == 3


def test_paging_stops_once_enough_coins_are_collected(coingecko_client, coingecko, tmp_path):
    result = ingest(tmp_path, 5, client=coingecko_client, snapshot_date=DATE, per_page=4)

    assert len(coingecko.market_requests()) == 2
    assert result.rows_fetched == 5
    assert [r["symbol"] for r in read_rows(result.path)] == ["BTC", "ETH", "USDT", "BNB"]  # NULL was 5th, dropped


def test_default_page_size_is_250_for_500_coins(coingecko_client, coingecko, tmp_path):
    ingest(tmp_path, 500, client=coingecko_client, snapshot_date=DATE)

    assert [(r.query["page"], r.query["per_page"]) for r in coingecko.market_requests()] == [("1", "250"),
                                                                                            ("2", "250")]


def test_429_waits_as_long_as_retry_after_says(coingecko_client, coingecko, sleeps, tmp_path):
    coingecko.queue(429, {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}},
                    {"Retry-After": "2"})

    result = ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, per_page=10)

    assert sleeps == [2.0]
    assert len(coingecko.market_requests()) == 2  # the 429, then page 1 again
    assert result.rows_written == 6


def test_retry_after_is_capped(coingecko, sleeps, tmp_path):
    coingecko.queue(429, "", {"Retry-After": "3600"})
    with CoinGeckoClient(coingecko.base_url, retries=2, max_wait=0.5, sleep=sleeps.append) as client:
        ingest(tmp_path, 10, client=client, snapshot_date=DATE)
    assert sleeps == [0.5]


def test_retry_after_accepts_seconds_or_an_http_date():
    now = datetime(2024, 3, 16, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_seconds("soon", now) is None


def test_a_429_that_never_ends_fails_after_the_retries(coingecko, sleeps, tmp_path):
    for _ in range(3):
        coingecko.queue(429, "", {"Retry-After": "1"})
    with CoinGeckoClient(coingecko.base_url, retries=2, sleep=sleeps.append) as client:
        with pytest.raises(CoinGeckoError, match="429"):
            ingest(tmp_path, 10, client=client, snapshot_date=DATE)
    assert sleeps == [1.0, 1.0]
    assert len(coingecko.market_requests()) == 3
    assert files_in(tmp_path) == []


def test_5xx_is_retried_with_growing_backoff_then_succeeds(coingecko_client, coingecko, sleeps, tmp_path):
    coingecko.queue(500, {"error": "internal"})
    coingecko.queue(503, "<html>Service Unavailable</html>", {"Content-Type": "text/html"})

    result = ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, per_page=10)

    assert sleeps == [0.25, 0.5]
    assert result.rows_written == 6


def test_persistent_5xx_on_a_later_page_leaves_nothing_written(coingecko, sleeps, tmp_path):
    coingecko.queue(200, coingecko.coins[:4])
    for _ in range(3):
        coingecko.queue(502, "Bad Gateway")
    out = tmp_path / "DATASET"
    with CoinGeckoClient(coingecko.base_url, retries=2, backoff=0.01, sleep=sleeps.append) as client:
        with pytest.raises(CoinGeckoError, match="HTTP 502"):
            ingest(out, 10, client=client, snapshot_date=DATE, per_page=4)
    assert len(coingecko.market_requests()) == 4
    assert files_in(out) == []


def test_a_malformed_body_fails_cleanly_and_writes_nothing(coingecko_client, coingecko, tmp_path):
    coingecko.queue(200, coingecko.coins[:4])
    coingecko.queue(200, '[{"id": "bitcoin", "symbol": "btc"', {"Content-Type": "application/json"})

    with pytest.raises(CoinGeckoError, match="malformed"):
        ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, per_page=4)
    assert files_in(tmp_path) == []


def test_a_json_body_of_the_wrong_shape_is_refused(coingecko_client, coingecko, tmp_path):
    coingecko.queue(200, {"status": {"error_code": 10002, "error_message": "API Key Missing"}})

    with pytest.raises(CoinGeckoError, match="expected a list of coins"):
        ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE)
    assert files_in(tmp_path) == []


def test_offline_is_one_clear_error_after_retrying(sleeps, tmp_path):
    with CoinGeckoClient(closed_port_url(), retries=1, backoff=0.01, sleep=sleeps.append) as client:
        with pytest.raises(CoinGeckoError, match="cannot reach CoinGecko"):
            ingest(tmp_path, 10, client=client, snapshot_date=DATE)
    assert sleeps == [0.01]
    assert client.requests_sent == 2
    assert files_in(tmp_path) == []


def test_an_existing_snapshot_is_kept_unless_overwrite(coingecko_client, coingecko, tmp_path):
    existing = tmp_path / f"coingecko_{DATE}.csv"
    existing.write_text("kept\n")

    with pytest.raises(IngestError, match="already exists"):
        ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE)
    assert existing.read_text() == "kept\n"
    assert coingecko.requests == []  # refused before spending any API quota

    ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, overwrite=True)
    assert read_rows(existing)[0]["coin"] == "Bitcoin"
    assert files_in(tmp_path) == [existing.name]  # no temporary file left beside it


def test_only_unusable_rows_writes_nothing(coingecko_client, coingecko, tmp_path):
    coingecko.coins = [market("ghost", "gho", "Ghost", None, None, 5, None, None, None)]

    with pytest.raises(IngestError, match="no usable coin rows"):
        ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE)
    assert files_in(tmp_path) == []


def test_a_coin_listed_on_two_pages_is_written_once(coingecko_client, coingecko, tmp_path):
    coingecko.queue(200, coingecko.coins[:2])
    coingecko.queue(200, coingecko.coins[1:3])  # ethereum slid down a page between the two requests
    coingecko.queue(200, [])

    result = ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, per_page=2)

    assert [r["symbol"] for r in read_rows(result.path)] == ["BTC", "ETH", "USDT"]
    assert result.dropped["listed twice across pages"] == 1


def test_percent_strings_are_converted_and_symbols_upper_cased():
    row = market_row({"id": "x-coin", "name": "X", "symbol": "xy", "current_price": 2, "total_volume": 3,
                      "market_cap": 4,
                      "price_change_percentage_1h_in_currency": "2.2",
                      "price_change_percentage_24h_in_currency": 150,
                      "price_change_percentage_7d_in_currency": "n/a"}, DATE)
    assert row == {"coin_id": "x-coin", "coin": "X", "symbol": "XY", "price": "2", "volume": "3", "mkt_cap": "4",
                   "1h": "0.022", "24h": "1.5", "7d": "n/a", "date": DATE}


@pytest.mark.parametrize(("plan", "header"), [("demo", "x-cg-demo-api-key"), ("pro", "x-cg-pro-api-key")])
def test_api_key_is_sent_in_the_plans_header(coingecko, tmp_path, plan, header):
    with CoinGeckoClient(coingecko.base_url, "secret-key-123", plan) as client:
        ingest(tmp_path, 10, client=client, snapshot_date=DATE)
    seen = {k.lower(): v for k, v in coingecko.requests[0].headers.items()}
    assert seen[header] == "secret-key-123"
    assert {"x-cg-demo-api-key", "x-cg-pro-api-key"} - {header} & set(seen) == set()


def test_no_key_sends_no_key_header(coingecko_client, coingecko, tmp_path):
    ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE)
    assert not any("api-key" in k.lower() for k in coingecko.requests[0].headers)


def test_settings_come_from_the_environment():
    assert coingecko_settings({}) == (COINGECKO_PUBLIC_URL, None, "demo")
    assert coingecko_settings({"COINGECKO_API_KEY": "k", "COINGECKO_API_PLAN": "PRO"}) == (
        COINGECKO_PRO_URL, "k", "pro")
    assert coingecko_settings({"COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3/"})[0] == "http://127.0.0.1:9/api/v3"
    with pytest.raises(SettingError, match="COINGECKO_API_PLAN"):
        coingecko_settings({"COINGECKO_API_PLAN": "enterprise"})


def test_a_rejected_key_says_so_without_printing_it(coingecko, tmp_path, monkeypatch):
    coingecko.queue(401, {"status": {"error_code": 10002, "error_message": "invalid key secret-key-123"}})
    monkeypatch.setenv("COINGECKO_API_KEY", "secret-key-123")

    result = CliRunner().invoke(ingest_command, ["--base-url", coingecko.base_url, "--out", str(tmp_path),
                                                 "--date", DATE])

    assert result.exit_code == 1
    assert "COINGECKO_API_KEY" in result.stderr and "secret-key-123" not in result.output
    assert files_in(tmp_path) == []


def test_command_prints_progress_per_page_and_a_summary(coingecko, tmp_path):
    result = CliRunner().invoke(ingest_command, ["--base-url", coingecko.base_url, "--coins", "10",
                                                 "--per-page", "4", "--out", str(tmp_path), "--date", DATE])

    assert result.exit_code == 0, result.output
    *pages, migrated = result.stderr.splitlines()
    assert [line.split(" [")[0] for line in pages] == ["page 1/3", "page 2/3", "page 3/3"]
    assert migrated.startswith("created the market store's schema at revision")  # the test's fresh store
    assert f"wrote 6 coins for {DATE}" in result.stdout
    assert "1  missing or non-numeric price" in result.stdout
    assert len(read_rows(tmp_path / f"coingecko_{DATE}.csv")) == 6


def test_command_offline_is_one_line_and_non_zero(tmp_path):
    result = CliRunner().invoke(ingest_command, ["--base-url", closed_port_url(), "--out", str(tmp_path),
                                                 "--retries", "0"])

    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("Error: cannot reach CoinGecko")
    assert "Traceback" not in result.output


def test_command_refuses_a_bad_date(tmp_path):
    result = CliRunner().invoke(ingest_command, ["--out", str(tmp_path), "--date", "16/03/2024"])
    assert result.exit_code == 2 and "16/03/2024" in result.stderr


@pytest.mark.slow
def test_module_runs_as_a_script(coingecko, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "liquidity", "ingest", "--base-url", coingecko.base_url, "--coins", "3",
         "--out", str(tmp_path), "--date", DATE], capture_output=True, text=True, timeout=60,
        # A bare environment, but the store in tmp_path: ingest also writes to DATABASE_URL (else instance/market.db).
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/market.db"})
    assert completed.returncode == 0, completed.stderr
    assert [r["symbol"] for r in read_rows(tmp_path / f"coingecko_{DATE}.csv")] == ["BTC", "ETH", "USDT"]


def day_of_markets(day):
    """Twelve coins whose volumes move differently from one day to the next."""
    coins = []
    for i in range(12):
        mkt_cap = 10_000_000_000 // (i + 1)
        turnover = 0.01 + 0.02 * ((i * 7 + day * 3) % 11)
        coins.append(market(f"coin-{i}", f"c{i}", f"Coin {i}", 1.5 + i, mkt_cap, mkt_cap * turnover,
                            0.1 * ((i + day) % 5 - 2), 1.0, -2.0, i + 1))
    return coins


def test_train_pairs_ingested_snapshots_and_records_the_gap(coingecko, coingecko_client, tmp_path):
    data = tmp_path / "DATASET"
    for day, snapshot_date in enumerate(["2024-03-01", "2024-03-02", "2024-03-05"]):
        coingecko.coins = day_of_markets(day)
        ingest(data, 50, client=coingecko_client, snapshot_date=snapshot_date)

    card = train(data, tmp_path / "model", grid=QUICK_GRID, n_folds=3, n_jobs=1, verbose=0,
                 progress=lambda _: None)

    assert [f["name"] for f in card["data"]["files"]] == [
        "coingecko_2024-03-01.csv", "coingecko_2024-03-02.csv", "coingecko_2024-03-05.csv"]
    # Pairs counted per gap in days (a card over years of daily snapshots lists no pair dates one by one).
    assert card["data"]["gap_days"] == {"1": 12, "3": 12}
    assert card["data"]["dates"] == ["2024-03-01", "2024-03-05"] and card["data"]["pairs"] == 24


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_redraws_one_line_on_a_terminal(coingecko_client, coingecko, tmp_path):
    terminal = Terminal()
    ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE, per_page=4,
           progress=PageProgress(pages=3, coins=10, stream=terminal, width=10))

    assert terminal.getvalue() == ("\rpage 1/3 [####------] 4/10 coins"
                                   "\rpage 2/3 [#######---] 7/10 coins"
                                   "\rpage 3/3 [#######---] 7/10 coins\n")


def test_command_runs_as_a_flask_cli_command(coingecko, tmp_path):
    from flask import Flask

    app = Flask(__name__)
    app.cli.add_command(ingest_command)  # what the app factory does for `flask --app app ingest`

    result = app.test_cli_runner().invoke(args=["ingest", "--base-url", coingecko.base_url, "--coins", "2",
                                                "--out", str(tmp_path), "--date", DATE])

    assert result.exit_code == 0, result.output
    assert [r["symbol"] for r in read_rows(tmp_path / f"coingecko_{DATE}.csv")] == ["BTC", "ETH"]


def test_a_failed_write_leaves_no_temporary_file(coingecko_client, coingecko, tmp_path, monkeypatch):
    def full_disk(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("liquidity.files.os.fsync", full_disk)

    with pytest.raises(OSError, match="No space left"):
        ingest(tmp_path, 10, client=coingecko_client, snapshot_date=DATE)
    assert files_in(tmp_path) == []


def test_a_redirect_is_not_followed_so_the_key_stays_home(coingecko, tmp_path):
    coingecko.queue(302, "", {"Location": f"{coingecko.base_url}/elsewhere"})

    with CoinGeckoClient(coingecko.base_url, "secret-key-123", "demo") as client:
        with pytest.raises(CoinGeckoError, match="redirect") as raised:
            ingest(tmp_path, 10, client=client, snapshot_date=DATE)
    assert len(coingecko.requests) == 1
    assert "secret-key-123" not in str(raised.value)
