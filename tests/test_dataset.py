import pandas as pd
import pytest

from liquidity.dataset import DatasetError, add_liquidity_score, load_snapshots, make_pairs


def test_loads_every_file_in_a_folder(snapshots_dir):
    snapshots = load_snapshots(snapshots_dir)
    assert snapshots.dates == ["2024-01-01", "2024-01-02", "2024-01-04"]
    assert len(snapshots.frame) == 12 + 13 + 12
    assert snapshots.rows_read == 37
    assert not snapshots.dropped


def test_messy_file_drops_rows_with_a_count_per_reason_and_resolves_duplicates(broken_dir):
    snapshots = load_snapshots(broken_dir / "messy.csv")  # spells volume as 24h_volume
    assert snapshots.dropped == {
        "missing or non-numeric volume": 1,
        "market cap not positive": 1,
        "price not positive": 1,
        "volume negative": 1,
        "non-finite volume": 1,
        "missing or non-numeric price": 1,
        "missing or invalid date": 1,
        "non-numeric 1h": 1,
    }
    assert snapshots.duplicates_resolved == 1
    kept = snapshots.frame.set_index("symbol")
    assert sorted(kept.index) == ["BTC", "ETH", "QT"]
    assert kept.loc["BTC", "mkt_cap"] == 760000000000  # the larger of the two Bitcoin rows
    # Blank changes are missing, not zero and not a reason to drop the coin.
    assert kept.loc["QT", ["1h", "24h", "7d"]].isna().all()
    assert kept.loc["BTC", "coin_id"] == "Bitcoin:BTC"  # no coin_id column: keyed by coin + symbol


def test_a_source_without_changes_keys_coins_by_coin_id(history_dir):
    snapshots = load_snapshots(history_dir)
    frame = snapshots.frame
    assert not snapshots.dropped
    assert frame[["1h", "24h", "7d"]].isna().all().all()
    # Two coins share the symbol ALP on each date; coin_id keeps them apart.
    assert sorted(frame.loc[frame["date"] == "2024-03-01", "coin_id"]) == ["alpha-one", "alpha-two", "bitcoin"]
    pairs = make_pairs(frame).set_index("coin_id")
    assert len(pairs) == 3
    day2 = frame[frame["date"] == "2024-03-02"].set_index("coin_id")
    assert pairs.loc["alpha-two", "next_liquidity_score"] == day2.loc["alpha-two", "liquidity_score"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing_mkt_cap.csv", "missing_mkt_cap.csv: missing required column 'mkt_cap'"),
        ("header_only.csv", "header_only.csv: no usable rows"),
        ("all_bad_rows.csv", "all_bad_rows.csv: no usable rows (1 market cap not positive, 1 price"),
        ("nope", "nope: no such file or folder"),
    ],
)
def test_unusable_input_is_an_error_naming_the_file(broken_dir, name, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_snapshots(broken_dir / name)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="no .csv snapshot files"):
        load_snapshots(tmp_path)


def test_liquidity_score_is_the_mid_rank_percentile_within_each_date():
    frame = pd.DataFrame({
        "date": ["d1"] * 4 + ["d2"] * 2,
        "volume": [1.0, 4.0, 2.0, 2.0, 50.0, 10.0],
        "mkt_cap": [10.0] * 4 + [100.0, 100.0],
    })
    scored = add_liquidity_score(frame)
    assert scored["liquidity_ratio"].tolist() == [0.1, 0.4, 0.2, 0.2, 0.5, 0.1]
    # d1 ranks: 0.1 -> 1, 0.2 -> 2.5 (tie), 0.4 -> 4; score = (rank - 0.5) / 4
    assert scored["liquidity_score"].tolist() == [0.125, 0.875, 0.5, 0.5, 0.75, 0.25]


def test_pairs_join_each_date_with_the_next_available_one(snapshots_dir):
    pairs = make_pairs(load_snapshots(snapshots_dir).frame)
    assert sorted(set(zip(pairs["date"], pairs["next_date"], pairs["gap_days"]))) == [
        ("2024-01-01", "2024-01-02", 1), ("2024-01-02", "2024-01-04", 2)]
    first = pairs[pairs["date"] == "2024-01-01"]
    # Newcomer is absent on day 1; Frenzy is absent on day 4.
    assert len(first) == 12 and "NEW" not in set(first["symbol"])
    assert len(pairs[pairs["date"] == "2024-01-02"]) == 12
    day2 = load_snapshots(snapshots_dir).frame.query("date == '2024-01-02'").set_index("symbol")
    btc = first.set_index("symbol").loc["BTC"]
    assert btc["next_liquidity_score"] == day2.loc["BTC", "liquidity_score"]


def test_a_single_date_has_no_pairs_to_learn_from(snapshots_dir):
    with pytest.raises(DatasetError, match="at least two snapshot dates"):
        make_pairs(load_snapshots(snapshots_dir / "day1.csv").frame)


def test_a_semicolon_decimal_comma_file_loads_as_its_comma_twin(snapshots_dir, tmp_path):
    comma = (snapshots_dir / "day1.csv").read_text(encoding="utf-8")
    european = "\ufeff" + "\n".join(";".join(cell.replace(".", ",") for cell in line.split(","))
                                     for line in comma.splitlines()) + "\n"
    (tmp_path / "day1.csv").write_text(european, encoding="utf-8")
    twin = load_snapshots(snapshots_dir / "day1.csv").frame.drop(columns="source_file")
    loaded = load_snapshots(tmp_path / "day1.csv").frame.drop(columns="source_file")
    assert ";" in european and "," in european.splitlines()[1]
    pd.testing.assert_frame_equal(loaded, twin)
