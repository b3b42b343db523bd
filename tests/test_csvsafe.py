"""Spreadsheet formula injection: text cells are neutralised, numbers are not."""

import io

import pandas as pd
import pytest

from liquidity.csvsafe import neutralise_cell, neutralise_frame


@pytest.mark.parametrize("cell, expected", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("-", "'-"),
    ("Bitcoin", "Bitcoin"),
    ("a=b", "a=b"),
    ("", ""),
    ("-0.02", "-0.02"),
    ("+2.5", "+2.5"),
    ("-1,234.5", "-1,234.5"),
    ("-1.5e-3", "-1.5e-3"),
    ("-.5", "-.5"),
    (-0.02, -0.02),
    (None, None),
])
def test_cells_that_a_spreadsheet_would_run_get_a_quote_and_numbers_stay(cell, expected):
    assert neutralise_cell(cell) == expected


def test_a_frame_keeps_numeric_columns_and_neutralises_text_and_headers():
    frame = pd.DataFrame({"coin": ["=1+1", "Bitcoin"], "1h": ["-0.02", "@x"], "score": [-0.5, 0.25],
                          "=bad header": ["ok", "ok"]})
    safe = neutralise_frame(frame)
    assert safe["coin"].tolist() == ["'=1+1", "Bitcoin"]
    assert safe["1h"].tolist() == ["-0.02", "'@x"]
    assert safe["score"].tolist() == [-0.5, 0.25]
    assert list(safe.columns) == ["coin", "1h", "score", "'=bad header"]
    assert frame["coin"].tolist() == ["=1+1", "Bitcoin"], "the caller's frame is not changed"
    written = pd.read_csv(io.StringIO(safe.to_csv(index=False)))
    assert written["score"].tolist() == [-0.5, 0.25]


def test_string_dtypes_duplicate_labels_and_columns_without_text():
    frame = pd.DataFrame({"name": pd.array(["=x", "y", "-3"], dtype="string"),
                          "flag": pd.array([True, None, False], dtype=object)}, index=[7, 7, 8])
    safe = neutralise_frame(frame)
    assert safe["name"].tolist() == ["'=x", "y", "-3"]
    assert safe["flag"].tolist() == [True, None, False]
    assert list(safe.index) == [7, 7, 8]
