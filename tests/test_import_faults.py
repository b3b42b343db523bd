"""Imports that fail part-way (a full disk) and the rows an import refuses: nothing stored without a score, nothing
dropped without its reason counted."""

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from liquidity.commands.store import import_command
from liquidity.dataset import load_snapshots
from liquidity.store import MarketStore
from liquidity.store.importer import import_snapshots

COINS = 400
DATES = 150  # 60,000 rows: three chunks of the import's 20,000


def write_history(path, coins=COINS, dates=DATES, seed=7):
    """Write a daily history of coins x dates with log-normal market caps and turnovers; return the path."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=dates, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({
        "date": np.repeat(days, coins),
        "coin_id": np.tile([f"coin-{i:04d}" for i in range(coins)], dates),
        "coin": np.tile([f"Coin {i}" for i in range(coins)], dates),
        "symbol": np.tile([f"C{i}" for i in range(coins)], dates),
        "price": rng.lognormal(0, 2, coins * dates).round(6),
        "mkt_cap": rng.lognormal(18, 2, coins * dates).round(2),
    })
    frame["volume"] = (frame["mkt_cap"] * rng.lognormal(-3, 1, len(frame))).round(2)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MiB tmpfs mounted for the test: a real file system that runs out of space."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    point = tmp_path / "disk"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(point)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=True)


def fill(folder, leave_bytes):
    """Fill the file system of folder with one file until only about leave_bytes are free; return that file."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as out:
        out.write(b"\0" * max(0, free - leave_bytes))
    return filler


def unscored_and_dates(url):
    with MarketStore(url) as store, store.engine.connect() as connection:
        unscored = connection.execute(sa.text("SELECT COUNT(*) FROM snapshots WHERE liquidity_score IS NULL")).scalar()
        per_date = connection.execute(sa.text("SELECT COUNT(*) FROM snapshots GROUP BY date")).scalars().all()
        return unscored, per_date


def test_an_import_that_fills_the_disk_leaves_no_row_without_a_score_and_a_rerun_completes_it(small_disk, tmp_path):
    history = write_history(tmp_path / "history.csv")
    url = f"sqlite:///{small_disk / 'market.db'}"
    MarketStore(url, migrate=True).close()
    filler = fill(small_disk, leave_bytes=10_000_000)  # the full import needs about 17 MB (file and WAL)

    failed = CliRunner().invoke(import_command, [str(history), "--database-url", url])

    assert failed.exit_code == 1
    assert "database or disk is full" in failed.output
    unscored, per_date = unscored_and_dates(url)
    assert 0 < sum(per_date) < COINS * DATES  # the import did stop part-way
    assert unscored == 0
    assert set(per_date) == {COINS}  # whole dates only

    filler.unlink()
    again = CliRunner().invoke(import_command, [str(history), "--database-url", url])

    assert again.exit_code == 0, again.output
    assert f"added {COINS * DATES - sum(per_date):,} row(s), skipped {sum(per_date):,} already stored" in again.output
    unscored, per_date = unscored_and_dates(url)
    assert unscored == 0 and sum(per_date) == COINS * DATES
    with MarketStore(url) as store:
        stored = store.history().set_index(["date", "coin_id"])["liquidity_score"]
    expected = load_snapshots(history).frame.set_index(["date", "coin_id"])["liquidity_score"]
    assert np.allclose(stored.sort_index(), expected.sort_index(), rtol=0, atol=1e-12)


@pytest.mark.sqlite_and_postgresql
def test_an_import_scores_rows_an_earlier_interrupted_import_left_unscored_and_says_so(store, tmp_path):
    history = write_history(tmp_path / "history.csv", coins=5, dates=4)
    import_snapshots(history, store)
    expected = store.history()["liquidity_score"]
    with store.engine.begin() as connection:  # what an import that committed rows before their scores left behind
        connection.execute(sa.text("UPDATE snapshots SET liquidity_score = NULL WHERE date >= '2024-01-03'"))

    again = import_snapshots(history, store)

    assert (again.repaired.rows, again.repaired.dates) == (10, 2)
    assert "scored 10 row(s) on 2 date(s)" in again.summary()
    assert store.history()["liquidity_score"].tolist() == expected.tolist()
    assert import_snapshots(history, store).repaired.rows == 0


def test_rows_no_page_or_json_answer_could_serve_are_dropped_at_import_with_their_reason(store, tmp_path):
    csv = tmp_path / "hostile.csv"
    rows = ["date,coin_id,coin,symbol,price,volume,mkt_cap",
            "2024-03-01,bitcoin,Bitcoin,BTC,61000,30000000000,1200000000000",
            "2024-03-01,overflow,Overflow,OVF,1,1e308,0.5",  # volume / market cap overflows to infinity
            "2024-03-01,a/b,Slash,SLA,1,100,1000",
            f"2024-03-01,{'x' * 201},Long,LNG,1,100,1000",
            "2024-03-01,bell\x07coin,Bell,BEL,1,100,1000",
            f"2024-03-01,{'y' * 200},Long enough,LNE,1,100,1000"]
    csv.write_text("\n".join(rows) + "\n")

    result = import_snapshots(csv, store)

    assert result.dropped == {"volume / market cap not finite": 1, "coin id with a '/' (no page could serve it)": 1,
                              "coin id longer than 200 characters (no page could serve it)": 1,
                              "coin id with a control character (no page could serve it)": 1}
    assert sorted(store.history()["coin_id"]) == ["bitcoin", "y" * 200]
    assert "1  volume / market cap not finite" in result.summary()


# --- reading in chunks: the same rows and drops as a whole read -------------------------------------------------------

MESSY = ('coin,symbol,price,1h,24h,7d,24h_volume,mkt_cap,date\n'
         'Bitcoin,BTC,40000,0.010,0.020,0.050,30000000000,760000000000,2024-01-01\n'
         '\n'
         '"Quoted, with a comma",QWC,"1,234.5",,,,"20,000","1,000,000",2024-01-01\n'
         '"Two\nlines ""quoted""",TWO,3,,,,1000,1000000,2024-01-01\n'
         'Ethereum,ETH,2700,0.012,0.030,0.060,18000000000,320000000000,2024-01-01\n'
         ',,,,,,,,\n'
         'Zero Cap,ZC,1,0,0,0,1000,0,2024-01-01\n'
         'Word Price,WP,abc,0,0,0,1000,1000000,2024-01-01\n'
         'Bitcoin,BTC,40010,,,,31000000000,770000000000,2024-01-01\n'  # a duplicate with a larger cap, chunks later
         'Bitcoin,BTC,40100,,,,30000000000,760000000000,2024-01-02\n'
         'Ethereum,ETH,2801,,,,17000000000,330000000000,2024-01-02\n'  # the same cap as a later row: kept
         '   ,  ,,,,,,,\n'
         'Bad Date,BD,3,0,0,0,1000,1000000,01/02/2024\n'
         'Bitcoin,BTC,40200,,,,30000000000,700000000000,2024-01-02\n'
         'Overflow,OVF,1,,,,1e308,0.5,2024-01-02\n'
         'Ethereum,ETH,2800,,,,17000000000,330000000000,2024-01-02')  # no line break at the end


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 200])
def test_a_file_read_in_tiny_chunks_loads_the_same_rows_drops_and_scores_as_read_whole(tmp_path, chunk_bytes):
    path = tmp_path / "messy.csv"
    path.write_text(MESSY)
    other = tmp_path / "semicolons.csv"
    other.write_text("date;coin_id;coin;symbol;price;volume;mkt_cap\n"
                     "2024-01-02;tether;Tether;USDT;1,0001;44.131.404.071;80.205.879.149\n"
                     "2024-01-02;tether;Tether;USDT;1;1;1\n")  # tether again, later: the smaller cap goes

    whole = load_snapshots([path, other], chunk_bytes=None)
    chunked = load_snapshots([path, other], chunk_bytes=chunk_bytes)

    pd.testing.assert_frame_equal(chunked.frame, whole.frame)
    assert chunked.dropped == whole.dropped
    assert (chunked.rows_read, chunked.duplicates_resolved) == (whole.rows_read, whole.duplicates_resolved) == (15, 4)
    assert whole.dropped == {"market cap not positive": 1, "missing or non-numeric price": 1,
                             "missing or invalid date": 1, "volume / market cap not finite": 1,
                             "coin id with a control character (no page could serve it)": 1}  # the two-line name
    rows = whole.frame.set_index(["date", "coin_id"])
    assert rows.loc[("2024-01-01", "Bitcoin:BTC"), "price"] == 40010  # the larger cap, though read last
    assert rows.loc[("2024-01-01", "Quoted, with a comma:QWC"), "volume"] == 20_000
    assert rows.loc[("2024-01-02", "Ethereum:ETH"), "price"] == 2801  # equal caps: the first in file order
    assert rows.loc[("2024-01-02", "tether"), "mkt_cap"] == 80_205_879_149


def test_a_table_read_in_chunks_numbers_its_rows_as_a_whole_read_does():
    import io

    from liquidity.tabular import read_table, read_table_chunks

    data = MESSY.encode("utf-8-sig")
    whole = read_table(data, {})
    for chunk_bytes in (1, 5, 50):
        chunks = list(read_table_chunks(io.BytesIO(data), {}, chunk_bytes))
        assert len(chunks) > 3
        pd.testing.assert_frame_equal(pd.concat([chunk.rows for chunk in chunks]), whole.rows)
