"""Property-based checks: hostile values and files get a clear error, never a crash."""

import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from liquidity.dataset import DatasetError, load_snapshots
from liquidity.validation import INPUT_LIMITS, InputError, check_inputs, field_error

anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(), st.none(), st.booleans(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=8),
)


@given(field=st.sampled_from(sorted(INPUT_LIMITS)), value=anything)
def test_field_error_accepts_exactly_the_finite_numbers_within_bounds(field, value):
    reason = field_error(field, value)
    low, high, label = INPUT_LIMITS[field]
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    acceptable = number is not None and math.isfinite(number) and number <= high and (
        number >= low if field == "volume" else number > low)
    assert (reason is None) == acceptable
    if reason is not None:
        assert reason.startswith(label)


@given(volume=anything, mkt_cap=anything, h1=anything, price=anything)
def test_check_inputs_either_returns_floats_or_names_every_bad_field(volume, mkt_cap, h1, price):
    try:
        values = check_inputs(volume, mkt_cap, h1, price)
    except InputError as error:
        assert error.errors and set(error.errors) <= set(INPUT_LIMITS)
    else:
        assert all(isinstance(v, float) and math.isfinite(v) for v in values)


header = "coin,symbol,price,1h,24h,7d,volume,mkt_cap,date\n"
cell = st.one_of(st.text(max_size=12), st.floats().map(repr), st.sampled_from(["", "inf", "-0", "1e400", "NaN"]))
number = st.one_of(st.floats(min_value=-1e3, max_value=1e13).map(repr), cell)
plausible_row = st.tuples(st.sampled_from(["Bitcoin", "Tether", ""]), st.sampled_from(["BTC", "USDT"]),
                          number, number, number, number, number, number,
                          st.sampled_from(["2024-01-01", "2024-01-02", "2024-13-01", ""])).map(",".join)
row = st.one_of(plausible_row, st.lists(cell, max_size=11).map(",".join)).map(lambda line: line.replace("\n", " "))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300),
                         st.lists(row, max_size=6).map(lambda rows: (header + "\n".join(rows)).encode())))
def test_any_file_loads_or_fails_with_a_dataset_error_naming_it(tmp_path, content):
    path = tmp_path / "snapshot.csv"
    path.write_bytes(content)
    try:
        snapshots = load_snapshots(path)
    except DatasetError as error:
        event("rejected")
        assert "snapshot.csv" in str(error)
    else:
        event("loaded")
        frame = snapshots.frame
        assert len(frame) > 0
        assert (frame["mkt_cap"] > 0).all() and (frame["price"] > 0).all() and (frame["volume"] >= 0).all()
        assert frame[["volume", "mkt_cap", "price"]].map(math.isfinite).all().all()
        assert frame["1h"].map(lambda change: math.isnan(change) or math.isfinite(change)).all()  # empty: missing
        assert frame["liquidity_score"].between(0, 1).all()
