"""An import streamed chunk by chunk into the store: the rows, scores and counts of a whole-file load, whatever the
chunk size, with duplicates across chunks resolved by the loader's rule (the largest market cap, then the first)."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_import_faults import MESSY, write_history

from liquidity.commands.store import import_command
from liquidity.dataset import DatasetError, load_snapshots
from liquidity.store import MarketStore
from liquidity.store.importer import DUPLICATE_REASON, add_loaded, hold_last_date, import_snapshots
from liquidity.store.store import SnapshotImport

HEADER = "date,coin_id,coin,symbol,price,volume,mkt_cap"
VALUE_COLUMNS = ["coin", "symbol", "price", "volume", "mkt_cap", "1h", "24h", "7d", "liquidity_score"]


def stored_rows(store):
    """Return the store's rows by (date, coin_id), with the columns a load gives too and its source as source_file."""
    frame = store.history().rename(columns={"source": "source_file"})
    return frame.set_index(["date", "coin_id"]).sort_index()[[*VALUE_COLUMNS, "source_file"]]


def loaded_rows(paths):
    frame = load_snapshots(paths, chunk_bytes=None).frame
    return frame.set_index(["date", "coin_id"]).sort_index()[[*VALUE_COLUMNS, "source_file"]]


def messy_files(folder):
    path = folder / "messy.csv"
    path.write_text(MESSY)
    other = folder / "semicolons.csv"
    other.write_text("date;coin_id;coin;symbol;price;volume;mkt_cap\n"
                     "2024-01-02;tether;Tether;USDT;1,0001;44.131.404.071;80.205.879.149\n"
                     "2024-01-01;Bitcoin:BTC;Bitcoin;BTC;1;1;900000000000\n"  # the largest Bitcoin: in the next file
                     "2024-01-02;tether;Tether;USDT;1;1;1\n")
    return [path, other]


@pytest.mark.sqlite_and_postgresql
@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 200, None])
def test_an_import_in_tiny_chunks_stores_the_rows_scores_and_counts_of_a_whole_load(store, tmp_path, chunk_bytes):
    files = messy_files(tmp_path)
    whole = load_snapshots(files, chunk_bytes=None)

    result = import_snapshots(files, store, chunk_bytes=chunk_bytes)

    pd.testing.assert_frame_equal(stored_rows(store), loaded_rows(files), check_dtype=False, rtol=0, atol=1e-12)
    assert (result.rows_read, result.added, result.skipped) == (whole.rows_read, len(whole.frame), 0) == (16, 6, 0)
    assert result.dropped == whole.dropped + Counter({DUPLICATE_REASON: whole.duplicates_resolved})
    assert result.dropped[DUPLICATE_REASON] == 5
    assert stored_rows(store).loc[("2024-01-01", "Bitcoin:BTC"), "source_file"] == "semicolons.csv"
    assert stored_rows(store).loc[("2024-01-02", "Ethereum:ETH"), "price"] == 2801  # equal caps: the first read

    again = import_snapshots(files, store, chunk_bytes=chunk_bytes)

    assert (again.added, again.skipped, again.dropped) == (0, 6, result.dropped)  # each key skipped once
    pd.testing.assert_frame_equal(stored_rows(store), loaded_rows(files), check_dtype=False, rtol=0, atol=1e-12)


@pytest.mark.sqlite_and_postgresql
def test_duplicates_across_chunks_keep_the_largest_cap_then_the_first_and_never_replace_a_row_stored_before(
        store, tmp_path):
    before = tmp_path / "before.csv"
    before.write_text(f"{HEADER}\n2024-01-01,bitcoin,Bitcoin,BTC,1,10,100\n")
    import_snapshots(before, store)
    later = tmp_path / "later.csv"
    # Dates alternate, so each row is a chunk of its own (chunk_bytes=1) and no chunk holds a duplicate of its own.
    later.write_text("\n".join([
        HEADER,
        "2024-01-02,eth,Ether,ETH,1,5,50",        # added
        "2024-01-01,bitcoin,Bitcoin,BTC,2,10,500",  # stored before the import: skipped, the stored row stays
        "2024-01-02,eth,Ether,ETH,2,7,70",        # a larger cap than the row added: replaces it
        "2024-01-01,bitcoin,Bitcoin,BTC,3,10,900",  # a duplicate of a skipped row: the stored row stays
        "2024-01-02,eth,Ether,ETH,3,7,70",        # the same cap as the stored one: the first read stays
        "2024-01-01,sol,Solana,SOL,1,30,10",       # added
        "2024-01-02,eth,Ether,ETH,4,6,60",        # a smaller cap: the stored one stays
    ]) + "\n")

    result = import_snapshots(later, store, chunk_bytes=1)

    assert (result.rows_read, result.added, result.skipped, result.dropped) == (7, 2, 1, {DUPLICATE_REASON: 4})
    rows = stored_rows(store)
    assert rows.loc[("2024-01-01", "bitcoin"), ["price", "mkt_cap", "source_file"]].tolist() == [1, 100, "before.csv"]
    assert rows.loc[("2024-01-02", "eth"), ["price", "mkt_cap", "source_file"]].tolist() == [2, 70, "later.csv"]
    # Scores as a load of the stored rows ranks them: bitcoin's ratio 0.1 below sol's 3.
    assert rows["liquidity_score"].tolist() == [0.25, 0.75, 0.5]

    # The counts a whole-file load gives for the same store.
    whole = load_snapshots(later, chunk_bytes=None)
    assert whole.duplicates_resolved == 4 and len(whole.frame) == 3  # bitcoin (skipped), eth, sol


def test_an_import_holds_a_chunks_last_date_for_the_next_so_a_sorted_file_lands_in_whole_dates():
    frame = pd.DataFrame({"date": ["2024-01-01", "2024-01-02", "2024-01-02"], "mkt_cap": [1.0, 2.0, 3.0]})
    now, held = hold_last_date(frame)
    assert now["date"].tolist() == ["2024-01-01"] and held["date"].tolist() == ["2024-01-02"] * 2
    one_date, nothing = hold_last_date(frame.iloc[1:])
    assert len(one_date) == 2 and nothing is None  # a chunk of one date is written whole


def test_a_sorted_file_streamed_in_small_chunks_is_written_in_whole_dates(store, tmp_path, monkeypatch):
    history = write_history(tmp_path / "history.csv", coins=50, dates=40)
    written = []
    add = SnapshotImport.add

    def recording_add(session, frame, **options):
        written.append(set(Counter(frame["date"]).values()))
        return add(session, frame, **options)

    monkeypatch.setattr(SnapshotImport, "add", recording_add)
    result = import_snapshots(history, store, chunk_bytes=10_000)  # about 160 rows a chunk: 3 dates and a part

    assert len(written) > 10 and all(counts <= {50} for counts in written)  # each add (a transaction): whole dates
    assert result.added == 2000
    pd.testing.assert_frame_equal(stored_rows(store)[VALUE_COLUMNS], loaded_rows(history)[VALUE_COLUMNS],
                                  check_dtype=False, rtol=0, atol=1e-12)


def test_the_streamed_import_and_a_whole_load_added_to_the_store_agree_on_a_history(store_url, tmp_path):
    history = write_history(tmp_path / "history.csv", coins=60, dates=30)
    shuffled = tmp_path / "shuffled.csv"
    frame = pd.read_csv(history, dtype=str)
    duplicates = frame.sample(300, random_state=3).assign(mkt_cap="1")  # smaller caps: never kept
    frame = pd.concat([frame, duplicates]).sample(frac=1, random_state=4)  # dates in no order
    frame.to_csv(shuffled, index=False)
    with MarketStore(store_url, migrate=True) as store:
        streamed = import_snapshots(shuffled, store, chunk_bytes=4096)
        rows = stored_rows(store)
    expected = load_snapshots(shuffled, chunk_bytes=None)

    assert (streamed.added, streamed.skipped, streamed.dropped) == (1800, 0, {DUPLICATE_REASON: 300})
    assert expected.duplicates_resolved == 300
    pd.testing.assert_frame_equal(rows[VALUE_COLUMNS], loaded_rows(shuffled)[VALUE_COLUMNS], check_dtype=False,
                                  rtol=0, atol=1e-12)
    assert np.isfinite(rows["liquidity_score"]).all()


def test_the_whole_load_path_still_adds_a_loaded_frame(store, tmp_path):
    history = write_history(tmp_path / "history.csv", coins=5, dates=3)
    result = add_loaded(load_snapshots(history, compact=True), store)
    assert (result.added, result.skipped) == (15, 0) and store.count() == 15


def test_a_file_missing_a_column_stops_the_import_before_the_store_is_touched(tmp_path, store_url):
    good = tmp_path / "a.csv"
    good.write_text(f"{HEADER}\n2024-01-01,bitcoin,Bitcoin,BTC,1,10,100\n")
    bad = tmp_path / "b.csv"
    bad.write_text("date,coin_id,coin,symbol,price,mkt_cap\n2024-01-01,eth,Ether,ETH,1,100\n")

    result = CliRunner().invoke(import_command, [str(good), str(bad), "--database-url", store_url])

    assert result.exit_code == 1 and "b.csv: missing required column 'volume'" in result.output
    with MarketStore(store_url) as store:
        assert not store.has_schema()  # not even migrated


def test_a_file_without_a_usable_row_stops_the_import_after_the_files_before_it(store, tmp_path):
    good = tmp_path / "a.csv"
    good.write_text(f"{HEADER}\n2024-01-01,bitcoin,Bitcoin,BTC,1,10,100\n")
    empty = tmp_path / "b.csv"
    empty.write_text(f"{HEADER}\n2024-01-01,eth,Ether,ETH,1,10,0\n")

    with pytest.raises(DatasetError, match=r"b.csv: no usable rows \(1 market cap not positive\); the 1 row\(s\) "
                                           r"added before it stay in the store, complete and scored"):
        import_snapshots([good, empty], store)
    assert store.count() == 1 and store.history()["liquidity_score"].notna().all()
