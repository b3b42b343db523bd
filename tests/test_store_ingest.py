import math

import pytest
from click.testing import CliRunner

from liquidity.commands.ingest import ingest_command
from liquidity.dataset import load_snapshots
from liquidity.ingest import IngestError, ingest
from liquidity.store import MarketStore

DATE = "2024-03-16"

pytestmark = pytest.mark.usefixtures("no_coingecko_settings_from_the_machine")


def test_ingest_stores_the_rows_it_writes_to_the_csv(coingecko_client, tmp_path):
    url = f"sqlite:///{tmp_path}/market.db"

    result = ingest(tmp_path / "data", 10, client=coingecko_client, snapshot_date=DATE, database=url)

    with MarketStore(url) as store:
        stored = store.snapshot(DATE).set_index("coin_id")
    written = load_snapshots(result.path).frame.set_index("coin_id")
    assert (result.stored.added, result.stored.skipped) == (6, 0)
    assert sorted(stored.index) == sorted(written.index) == sorted(
        ["bitcoin", "ethereum", "tether", "binancecoin", "newcoin", "solana"])
    same_order = stored.loc[written.index]
    assert same_order[["coin", "symbol"]].values.tolist() == written[["coin", "symbol"]].values.tolist()
    for column in ("price", "volume", "mkt_cap", "1h", "24h", "7d"):
        assert same_order[column].tolist() == pytest.approx(written[column].tolist(), nan_ok=True), column
    assert math.isnan(stored.loc["newcoin", "24h"]) and math.isnan(stored.loc["newcoin", "7d"])
    assert set(stored["source"]) == {f"coingecko_{DATE}.csv"}
    assert "stored 6 row(s) in the market store (0 already there)" in result.summary()


def test_a_store_failure_after_the_csv_keeps_the_csv_and_says_how_to_import_it(coingecko_client, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    url = f"sqlite:///{blocker}/market.db"

    with pytest.raises(IngestError) as error:
        ingest(tmp_path / "data", 10, client=coingecko_client, snapshot_date=DATE, database=url)

    csv = tmp_path / "data" / f"coingecko_{DATE}.csv"
    assert csv.is_file() and len(load_snapshots(csv).frame) == 6
    message = str(error.value)
    assert message.startswith(f"wrote {csv}, but it is not in the market store: DATABASE_URL=")
    assert f"import {csv}" in message and "\n" not in message


def test_the_ingest_command_writes_to_database_url(coingecko, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/cli/market.db"
    monkeypatch.setenv("DATABASE_URL", url)

    result = CliRunner().invoke(ingest_command, ["--base-url", coingecko.base_url, "--out", str(tmp_path / "data"),
                                                 "--date", DATE, "--coins", "10"])

    assert result.exit_code == 0, result.output
    assert "stored 6 row(s) in the market store" in result.stdout
    with MarketStore(url) as store:
        assert store.dates() == [DATE] and store.count() == 6


def test_a_bad_database_url_stops_ingest_before_any_request(coingecko, tmp_path):
    result = CliRunner().invoke(ingest_command, ["--base-url", coingecko.base_url, "--out", str(tmp_path),
                                                 "--date", DATE, "--database-url", "mysql://u@h/db"])

    assert result.exit_code == 1
    assert "DATABASE_URL uses 'mysql'" in result.stderr
    assert coingecko.market_requests() == [] and list(tmp_path.iterdir()) == []
