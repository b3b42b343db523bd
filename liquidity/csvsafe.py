"""Neutralise spreadsheet formulas in CSV files written for people (OWASP "CSV injection").

A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return before one) as a formula, so an
uploaded coin named =HYPERLINK(...) would become a live link in the download. OWASP's remedy: prefix such text
cells with a single quote, which the spreadsheet shows as text. Numbers are left alone, also when they arrived as
text (a batch upload is read as strings): -0.02 is a number to a spreadsheet, not a formula.

Files read back by the project (ingest snapshots, training data) are data, not reports, and are never altered.
"""

import re

import numpy as np
import pandas as pd

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Sign, digits, thousands/decimal separators and an exponent: a spreadsheet reads it as a number, never a formula.
PLAIN_NUMBER = re.compile(r"[+-]?(\d[\d,.\s]*|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value):
    """Return value with a leading single quote when it is text a spreadsheet would run as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_TRIGGERS):
        return value
    if PLAIN_NUMBER.fullmatch(value.strip()):
        return value
    return "'" + value


def neutralise_frame(frame):
    """Return a copy of frame whose text cells and column names cannot run as spreadsheet formulas.

    Numeric columns are untouched; call it on any frame just before frame.to_csv() for a person to open.
    """
    safe = frame.copy()
    for position in range(safe.shape[1]):
        values = safe.iloc[:, position]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        try:  # vectorised: only cells that start with a trigger are checked for being a plain number
            starts = values.str.startswith(FORMULA_TRIGGERS).eq(True)
            suspects = np.flatnonzero(starts.to_numpy(dtype=bool, na_value=False))
        except AttributeError:  # an object column without any text (booleans and blanks): nothing to run
            continue
        if not len(suspects):
            continue
        texts = values.iloc[suspects]
        numbers = texts.str.strip().str.fullmatch(PLAIN_NUMBER).eq(True)
        formulas = suspects[~numbers.to_numpy(dtype=bool, na_value=False)]
        if len(formulas):
            fixed = values.astype(object)
            fixed.iloc[formulas] = "'" + values.iloc[formulas]
            safe.isetitem(position, fixed)
    safe.columns = [neutralise_cell(str(column)) for column in safe.columns]
    if safe.index.dtype == object:
        safe.index = safe.index.map(neutralise_cell)
    return safe
