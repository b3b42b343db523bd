import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from liquidity.commands.store import import_command
from liquidity.dataset import load_snapshots
from liquidity.settings import DEFAULT_DATABASE, database_url
from liquidity.store import MarketStore, StoreError, migrate, parse_database_url
from liquidity.store.importer import DUPLICATE_REASON, import_snapshots
from liquidity.store.schema import FRAME_COLUMNS
from liquidity.store.store import alembic_config, create_store_engine, current_revision

FIXTURES = Path(__file__).parent / "fixtures"
DAILY = FIXTURES / "history" / "daily.csv"
MIXED = FIXTURES / "store" / "mixed.csv"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Every test on store_url (or the store opened on it) runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.sqlite_and_postgresql


def stored_changes(store, coin_id, date):
    """Read 1h, 24h and 7d of one row straight from the table, bypassing the frame conversion."""
    with store.engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT h1, h24, d7 FROM snapshots WHERE coin_id = :coin_id AND date = :date"),
            {"coin_id": coin_id, "date": date}).one()


# --- import -----------------------------------------------------------------------------------------------------

def test_import_counts_added_rows_and_drops_per_reason_by_the_loaders_rules(store):
    result = import_snapshots(MIXED, store)

    assert result.rows_read == 8
    assert result.added == 4 and result.skipped == 0
    assert result.dropped == {"price not positive": 1, "missing or invalid date": 1, "non-numeric 1h": 1,
                              DUPLICATE_REASON: 1}
    assert store.count() == 4
    summary = result.summary()
    assert "added 4 row(s), skipped 0 already stored" in summary
    assert "dropped 4 row(s):" in summary and "1  non-numeric 1h" in summary


def test_a_second_import_adds_nothing_and_says_so(store):
    import_snapshots(MIXED, store)
    before = store.history()

    again = import_snapshots(MIXED, store)

    assert (again.added, again.skipped) == (0, 4)
    assert "nothing new" in again.summary()
    assert store.history().equals(before)


def test_an_overlapping_import_adds_only_the_new_rows(store, tmp_path):
    import_snapshots(DAILY, store)
    newer = tmp_path / "newer.csv"
    newer.write_text("date,coin_id,coin,symbol,price,volume,mkt_cap\n"
                     "2024-03-02,bitcoin,Bitcoin,BTC,1,1,1\n"  # stored already: the first row wins
                     "2024-03-03,bitcoin,Bitcoin,BTC,63000,29000000000,1240000000000\n")

    result = import_snapshots([newer], store)

    assert (result.added, result.skipped) == (1, 1)
    assert store.snapshot("2024-03-02").set_index("coin_id").loc["bitcoin", "price"] == 62000


def test_a_folder_imports_every_csv_with_its_file_as_source(store, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_bytes(DAILY.read_bytes())
    (folder / "b.csv").write_bytes(MIXED.read_bytes())

    result = import_snapshots(folder, store)

    # daily.csv and mixed.csv share bitcoin on both dates: the loader keeps the larger market cap.
    assert len(result.files) == 2
    assert result.added == store.count() == 8
    assert set(store.history()["source"]) == {"a.csv", "b.csv"}


def test_large_imports_commit_in_chunks_and_count_exactly(store):
    frame = load_snapshots(MIXED).frame
    seen = []

    first = store.add_snapshots(frame.iloc[:3], source="part", chunk_rows=2)
    second = store.add_snapshots(frame, source="all", progress=seen.append, chunk_rows=3)

    assert (first.added, first.skipped) == (3, 0)
    assert (second.added, second.skipped) == (1, 3)
    assert seen == [2, 2]  # a chunk holds whole dates: two of 2 rows do not fit in 3


def test_missing_changes_are_stored_as_null_never_zero(store):
    import_snapshots(MIXED, store)

    assert tuple(stored_changes(store, "ethereum", "2024-03-01")) == (None, 0.03, None)
    assert tuple(stored_changes(store, "bitcoin", "2024-03-02")) == (None, None, None)
    row = store.snapshot("2024-03-01").set_index("coin_id").loc["ethereum"]
    assert math.isnan(row["1h"]) and row["24h"] == 0.03 and math.isnan(row["7d"])


def test_a_frame_without_a_source_is_refused(store):
    frame = load_snapshots(DAILY).frame.drop(columns="source_file")
    with pytest.raises(ValueError, match="source"):
        store.add_snapshots(frame)
    with pytest.raises(ValueError, match="lacks column"):
        store.add_snapshots(frame.drop(columns="mkt_cap"), source="x")


# --- reads ------------------------------------------------------------------------------------------------------

def test_reads_return_the_loaders_columns_and_values(store):
    import_snapshots([DAILY], store)
    loaded = load_snapshots(DAILY).frame

    history = store.history()

    assert list(history.columns) == list(FRAME_COLUMNS)
    assert history["date"].tolist() == sorted(loaded["date"].tolist())
    expected = loaded.sort_values(["date", "coin_id"]).reset_index(drop=True)
    for column in ("coin_id", "coin", "symbol", "price", "volume", "mkt_cap"):
        assert history[column].tolist() == expected[column].tolist(), column
    assert history[["1h", "24h", "7d"]].isna().all().all()
    assert set(history["source"]) == {"daily.csv"}


def test_dates_latest_snapshot_and_coins(store):
    import_snapshots([DAILY], store)
    store.add_snapshots(load_snapshots(MIXED).frame.query("coin_id == 'ethereum'"), source="mixed")

    assert store.dates() == ["2024-03-01", "2024-03-02"]
    assert store.latest_date() == "2024-03-02"
    day = store.snapshot("2024-03-01")
    assert day["coin_id"].tolist() == ["alpha-one", "alpha-two", "bitcoin", "ethereum"]
    assert set(day["date"]) == {"2024-03-01"}
    assert store.snapshot("2030-01-01").empty
    coins = store.coins()
    assert list(coins.columns) == ["coin_id", "coin", "symbol"]
    assert coins.values.tolist() == [["alpha-one", "Alpha", "ALP"], ["alpha-two", "Alpha Two", "ALP"],
                                     ["bitcoin", "Bitcoin", "BTC"], ["ethereum", "Ethereum", "ETH"]]


def test_history_filters_by_coin_and_inclusive_date_range(store):
    import_snapshots([DAILY], store)

    both = store.history(coin_ids=["bitcoin", "alpha-two"])
    assert both[["date", "coin_id"]].values.tolist() == [["2024-03-01", "alpha-two"], ["2024-03-01", "bitcoin"],
                                                        ["2024-03-02", "alpha-two"], ["2024-03-02", "bitcoin"]]
    assert store.history(start="2024-03-02")["date"].unique().tolist() == ["2024-03-02"]
    assert store.history(end="2024-03-01")["date"].unique().tolist() == ["2024-03-01"]
    assert store.history(coin_ids=[]).empty


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_a_history_read_in_chunks_is_the_frame_read_whole(store, snapshots_dir, chunk_rows):
    import_snapshots(snapshots_dir, store)
    whole = store.history()
    chunked = store.history(chunk_rows=chunk_rows)
    assert len(whole) > 3
    pd.testing.assert_frame_equal(chunked, whole)
    assert store.history(start="2030-01-01", chunk_rows=chunk_rows).columns.tolist() == whole.columns.tolist()


def test_coin_history_is_the_coins_last_days_up_to_end(store, tmp_path):
    days = tmp_path / "days.csv"
    lines = ["date,coin_id,coin,symbol,price,volume,mkt_cap"]
    lines += [f"2024-01-{day:02d},bitcoin,Bitcoin,BTC,{day},1000,100000" for day in range(1, 32)]
    lines += ["2024-02-01,bitcoin,Bitcoin,BTC,32,1000,100000", "2024-02-02,other,Other,OTH,1,1,1"]
    days.write_text("\n".join(lines) + "\n")
    import_snapshots(days, store)

    month = store.coin_history("bitcoin")  # ends at the store's latest date, 2024-02-02, which bitcoin lacks
    assert month["date"].tolist() == [f"2024-01-{day:02d}" for day in range(3, 32)] + ["2024-02-01"]
    week = store.coin_history("bitcoin", end="2024-01-10", days=7)
    assert week["date"].tolist() == [f"2024-01-{day:02d}" for day in range(4, 11)]
    assert week["price"].tolist() == [float(day) for day in range(4, 11)]
    assert store.coin_history("nobody").empty
    with pytest.raises(ValueError, match="days"):
        store.coin_history("bitcoin", days=0)


def test_an_empty_store_reads_as_empty(store):
    assert store.count() == 0
    assert store.dates() == [] and store.latest_date() is None
    assert store.coin_history("bitcoin").columns.tolist() == list(FRAME_COLUMNS)
    assert store.coin_history("bitcoin").empty and store.coins().empty and store.history().empty


# --- schema and migrations --------------------------------------------------------------------------------------

def test_a_database_at_the_initial_revision_upgrades_to_head_and_keeps_its_rows(store_url):
    engine = create_store_engine(store_url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO snapshots (date, coin_id, coin, symbol, price, volume, mkt_cap, source) "
            "VALUES ('2024-03-01', 'bitcoin', 'Bitcoin', 'BTC', 1, 2, 3, 'before')"))
    engine.dispose()

    with MarketStore(store_url, migrate=True) as store:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert current_revision(store.engine) == head
        assert store.history()[["coin_id", "source"]].values.tolist() == [["bitcoin", "before"]]
        assert store.history()["liquidity_score"].tolist() == [0.5]  # the upgrade ranks rows stored before it


def test_stored_scores_equal_the_loaders_bit_for_bit(store, snapshots_dir, history_dir):
    for folder in (snapshots_dir, history_dir):
        import_snapshots(folder, store)
        loaded = load_snapshots(folder).frame.set_index(["date", "coin_id"])["liquidity_score"]
        stored = store.history().set_index(["date", "coin_id"])["liquidity_score"]
        assert stored.loc[loaded.index].tolist() == loaded.tolist()  # exact: the same doubles, ties averaged


def test_a_coin_added_to_a_stored_date_re_ranks_that_date_only(store, history_dir, tmp_path):
    import_snapshots(history_dir, store)
    before = store.history().set_index(["date", "coin_id"])["liquidity_score"]
    late = tmp_path / "late.csv"
    # The most liquid coin of 2024-03-02 arrives late: every other coin of that day drops one rank.
    late.write_text("date,coin_id,coin,symbol,price,volume,mkt_cap\n2024-03-02,late-coin,Late,LATE,1,9000000,1000000\n")
    import_snapshots(late, store)
    after = store.history().set_index(["date", "coin_id"])["liquidity_score"]
    assert after.loc["2024-03-01"].tolist() == before.loc["2024-03-01"].tolist()
    assert after.loc[("2024-03-02", "late-coin")] == (4 - 0.5) / 4
    assert after.loc[("2024-03-02", "bitcoin")] == (before.loc[("2024-03-02", "bitcoin")] * 3 + 0.5) / 4 - 0.5 / 4


def test_the_schema_enforces_one_row_per_coin_per_date_and_its_indexes(store):
    inspector = sa.inspect(store.engine)
    unique = [set(c["column_names"]) for c in inspector.get_unique_constraints("snapshots")]
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("snapshots")}
    assert {"date", "coin_id"} in unique
    assert indexes["ix_snapshots_coin_id_date"] == ["coin_id", "date"]
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        for _ in range(2):
            connection.execute(sa.text(
                "INSERT INTO snapshots (date, coin_id, coin, symbol, price, volume, mkt_cap, source) "
                "VALUES ('2024-03-01', 'bitcoin', 'Bitcoin', 'BTC', 1, 2, 3, 'x')"))


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path):
    with MarketStore(f"sqlite:///{tmp_path}/new/folder/market.db") as store:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "new" / "folder" / "market.db").is_file()


# --- opening never migrates -------------------------------------------------------------------------------------

def tables(url):
    engine = create_store_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_opening_and_reading_a_store_without_its_schema_migrates_nothing_and_says_to_import(store_url):
    with MarketStore(store_url) as store:
        assert store.migration is None and not store.has_schema()
        for read in (store.count, store.latest_date, store.dates, lambda: store.snapshot("2024-03-01")):
            with pytest.raises(StoreError, match="has no schema yet: run `python -m liquidity import") as error:
                read()
            assert "\n" not in str(error.value) and "DATABASE_URL=" in str(error.value)
        with pytest.raises(StoreError, match="has no schema yet"):
            import_snapshots(DAILY, store)
    assert not tables(store_url) & {"snapshots", "alembic_version", "prediction_log"}


def test_migrate_true_creates_the_schema_and_reports_the_revisions(store_url):
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with MarketStore(store_url, migrate=True) as store:
        assert (store.migration.before, store.migration.after) == (None, head) and store.migration.changed
        assert store.migration.describe() == f"created the market store's schema at revision {head}"
    with MarketStore(store_url, migrate=True) as store:
        assert not store.migration.changed
    engine = create_store_engine(store_url)
    migrate(engine, "0003")  # a no-op on a database at head: alembic only upgrades
    engine.dispose()


def test_a_store_at_an_older_revision_is_migrated_by_import_and_the_command_says_so(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    engine = create_store_engine(url)
    migrate(engine, "0003")
    engine.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    result = CliRunner().invoke(import_command, [str(DAILY), "--database-url", url])

    assert result.exit_code == 0, result.output
    assert f"migrated the market store from 0003 to {head}" in result.stderr
    assert "migrated" not in result.stdout
    again = CliRunner().invoke(import_command, [str(DAILY), "--database-url", url])
    assert again.exit_code == 0 and "migrated" not in again.stderr  # nothing to say when nothing changed


def test_a_read_only_store_reads_and_refuses_to_write_or_to_be_created(store_url, tmp_path):
    with MarketStore(store_url, migrate=True) as store:
        import_snapshots(DAILY, store)
    with MarketStore(store_url, read_only=True) as store:
        assert store.latest_date() == "2024-03-02"
        with pytest.raises(StoreError, match="cannot write to the store"):
            import_snapshots(MIXED, store)
        assert store.count() == 6
    odd = tmp_path / "a folder #1" / "market.db"  # characters a URI filename must escape
    with MarketStore(f"sqlite:///{odd}", migrate=True) as store:
        import_snapshots(DAILY, store)
    with MarketStore(f"sqlite:///{odd}", read_only=True) as store:
        assert store.count() == 6
    assert sorted(path.name for path in odd.parent.iterdir() if path.suffix == ".db") == ["market.db"]
    absent = tmp_path / "absent" / "market.db"
    with pytest.raises(StoreError, match="there is no store at"):
        MarketStore(f"sqlite:///{absent}", read_only=True)
    assert not absent.parent.exists()


# --- settings ---------------------------------------------------------------------------------------------------

def test_database_url_comes_from_the_environment_else_the_embedded_file():
    assert database_url({}) == f"sqlite:///{DEFAULT_DATABASE}"
    assert DEFAULT_DATABASE == PROJECT_ROOT / "instance" / "market.db"
    assert database_url({"DATABASE_URL": " postgresql://u@h/db "}) == "postgresql://u@h/db"


def test_postgresql_urls_use_psycopg_3():
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("sqlite:///x.db").drivername == "sqlite"


@pytest.mark.parametrize(("url", "words"), [
    ("not a url", "DATABASE_URL is not a database URL"),
    ("mysql://u@h/db", "DATABASE_URL uses 'mysql'"),
])
def test_a_bad_database_url_is_named_in_one_line(url, words):
    with pytest.raises(StoreError, match=words) as error:
        MarketStore(url)
    assert "\n" not in str(error.value)


def test_an_unreachable_server_is_one_line_without_the_password():
    with pytest.raises(StoreError) as error:
        MarketStore(migrate=True, url="postgresql://user:hunter2@127.0.0.1:1/db?connect_timeout=2")
    message = str(error.value)
    assert message.startswith("cannot open the database at DATABASE_URL=postgresql+psycopg://user:***@127.0.0.1:1/db?")
    assert "hunter2" not in message and "\n" not in message


# --- the command ------------------------------------------------------------------------------------------------

def test_the_command_imports_shows_progress_and_summarises(store_url):
    runner = CliRunner()
    result = runner.invoke(import_command, [str(MIXED), str(DAILY), "--database-url", store_url])

    assert result.exit_code == 0, result.output
    assert "importing" in result.stderr
    assert "read 14 row(s) from 2 file(s)" in result.stdout
    assert "dropped 6 row(s):" in result.stdout and "3  same coin twice on one date" in result.stdout

    again = runner.invoke(import_command, [str(DAILY), "--database-url", store_url])
    assert "added 0 row(s), skipped 6 already stored" in again.stdout and "nothing new" in again.stdout


def test_if_empty_imports_only_into_an_empty_store(store_url):
    runner = CliRunner()
    first = runner.invoke(import_command, ["--if-empty", str(DAILY), "--database-url", store_url])
    second = runner.invoke(import_command, ["--if-empty", str(MIXED), "--database-url", store_url])

    assert first.exit_code == second.exit_code == 0
    assert "added 6 row(s)" in first.stdout
    assert "already holds 6 row(s); nothing imported" in second.stdout
    with MarketStore(store_url) as store:
        assert store.count() == 6


def test_the_command_reads_database_url_from_the_environment(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/env/market.db"
    monkeypatch.setenv("DATABASE_URL", url)

    result = CliRunner().invoke(import_command, [str(DAILY)])

    assert result.exit_code == 0, result.output
    with MarketStore(url) as store:
        assert store.count() == 6


def run_cli(*args, env=None):
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=PROJECT_ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "env", "words"), [
    (["import", "no/such/folder"], {}, "no/such/folder: no such file or folder"),
    (["import", str(DAILY)], {"DATABASE_URL": "mysql://u:secret@h/db"}, "DATABASE_URL uses 'mysql'"),
    (["import", str(DAILY)], {"DATABASE_URL": "::nonsense::"}, "DATABASE_URL is not a database URL"),
])
def test_command_errors_are_one_line_and_non_zero(args, env, words):
    result = run_cli(*args, env=env)

    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr and "secret" not in result.stderr


def test_the_store_package_imports_no_web_code():
    import ast

    imported = set()
    for path in (PROJECT_ROOT / "liquidity" / "store").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert "sqlalchemy" in imported and "alembic" in imported  # the walk saw the package
    assert not {name for name in imported if name.split(".")[0] in ("flask", "flask_wtf", "werkzeug")
                or name.startswith("liquidity.web")}


def test_the_latest_signature_changes_with_every_write_and_only_then(store, tmp_path):
    assert store.latest_signature() == (None, None)
    import_snapshots(DAILY, store)
    latest, newest = store.latest_signature()
    assert latest == "2024-03-02" and newest is not None
    import_snapshots(DAILY, store)  # every row stored already: nothing written, nothing changed
    assert store.latest_signature() == (latest, newest)
    for name, row in (("late.csv", "2024-03-02,late-coin,Late,LATE,1,2,3"),  # a late coin on the latest date
                      ("old.csv", "2024-02-01,old-coin,Old,OLD,1,2,3")):  # and one on an older date change it too
        (tmp_path / name).write_text(f"date,coin_id,coin,symbol,price,volume,mkt_cap\n{row}\n")
        import_snapshots(tmp_path / name, store)
        latest, later = store.latest_signature()
        assert latest == "2024-03-02" and later > newest
        newest = later
