"""Read the tabular files the project accepts, for training and for batch scoring alike.

CSV text in UTF-8 (a BOM is fine), separated by commas, semicolons or tabs (taken from the header line),
headers matched case-insensitively with their aliases, numbers with unambiguous thousands separators or a
decimal comma. Binary files, Excel workbooks and UTF-16 text are refused with a message saying what they are.
"""

import io
import re
from dataclasses import dataclass

import pandas as pd

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
# "1,234,567.89": comma thousands groups and an optional decimal point (comma-separated files, quoted).
COMMA_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
# "1.234.567,89" or "0,001": the European style, read only in ;- or tab-separated files.
DECIMAL_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d*),\d+")
# "20.476.118.020": two or more dot groups cannot be a decimal point (one dot, "1.234", stays a decimal point).
DOT_GROUPED = re.compile(r"[+-]?\d{1,3}(\.\d{3}){2,}")
# A cell of whitespace only, maybe quoted, searched in "\n" + text (a tab delimiter matches too, which only
# costs a closer look). Starting on a delimiter or newline, not on ^, keeps the search fast on big files.
BLANK_CELL = re.compile(r'[,;\t\n]"?[^\S\r\n]+"?(?=[,;\t\r\n]|$)')


class TableError(ValueError):
    """A file that cannot be read as a table at all, with the reason in a sentence."""


class TooManyRows(TableError):
    """A file with more data rows than the caller accepts."""


@dataclass
class Table:
    """Cells as text under canonical headers, numbered from 1 (the first data row), and the delimiter read."""

    rows: pd.DataFrame
    delimiter: str
    quoted: bool = True  # False: the text has no quote, so no cell holds its delimiter

    def number_cells(self, cells):
        """Return cells of this table as number text (see numbers)."""
        if self.delimiter == "," and not self.quoted:
            return cells  # an unquoted comma file has no comma inside a cell, and only those change there
        return numbers(cells, self.delimiter)

    def numbers(self, column):
        """Return the column's cells stripped, as number text."""
        return self.number_cells(self.rows[column]).str.strip()


def decode(data):
    """Return bytes as text, or raise TableError saying what the file looks like instead."""
    head = data[:8192]
    if head.startswith(b"PK\x03\x04"):
        raise TableError("The file is a zip archive or an Excel workbook, not CSV text. "
                         "Save it as CSV (UTF-8) and upload that.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TableError("The file is not UTF-8 text (it is UTF-16). Export it as CSV (UTF-8) and upload it again.")
    if len(head) >= 8 and max(head[0::2].count(0), head[1::2].count(0)) > len(head) // 4:
        raise TableError("The file is not UTF-8 text (it looks like UTF-16). Export it as CSV (UTF-8) and upload "
                         "it again.")
    if b"\x00" in head:
        raise TableError("The file is binary, not CSV text. Upload a CSV (UTF-8) file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TableError("The file is not UTF-8 text. Export it as CSV (UTF-8) and upload it again.") from None


def detect_delimiter(text):
    """Return the delimiter of the header line: the most frequent of comma, semicolon and tab."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    return max(DELIMITERS, key=header.count)


def number_text(raw, delimiter):
    """Return raw with unambiguous thousands/decimal separators normalised to Python's float syntax.

    In a comma-separated file "1,234,567.89" (quoted) loses its commas. In a ;- or tab-separated file the comma
    is the decimal separator: "0,001" and "1.234.567,89" are read as 0.001 and 1234567.89, and "1.234.567"
    as 1234567 (but "1.234" stays 1.234). Anything else is left as typed, for the caller to judge.
    """
    compact = raw.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if delimiter == "," and COMMA_GROUPED.fullmatch(compact):
        return compact.replace(",", "")
    if delimiter != "," and (DECIMAL_COMMA.fullmatch(compact) or DOT_GROUPED.fullmatch(compact)):
        return compact.replace(".", "").replace(",", ".")
    return raw


def numbers(cells, delimiter):
    """Return text cells with separators normalised to Python's float syntax (see number_text).

    Only a cell with a comma, or two dots outside comma files, can change, so only those are looked at:
    history files hold millions of plain numbers. Other cells keep their spaces; float() ignores them.
    """
    if delimiter == ",":
        candidates = cells.str.contains(",", regex=False)
    else:
        candidates = cells.str.contains(r",|\..*\.", regex=True)
    if not candidates.any():
        return cells
    return cells.where(~candidates, cells[candidates].str.strip().map(lambda raw: number_text(raw, delimiter)))


def normalise_header(name, aliases):
    """Return a header cell lower-cased and stripped (BOM too), mapped through aliases to its canonical name."""
    name = str(name).replace("\ufeff", "").strip().lower()
    return aliases.get(name, name)


def read_table(data, aliases, max_rows=None):
    """Read CSV bytes into a Table; raise TableError when they are not a table, TooManyRows past max_rows.

    Blank lines and rows of empty cells only (spreadsheets export them as ",,,,") are skipped and not counted.
    """
    text = decode(data)
    if not text.strip():
        raise TableError("The file is empty.")
    delimiter = detect_delimiter(text)
    # nrows stops the parser just past the cap: a huge file costs no more than max_rows + 1 rows.
    limit = None if max_rows is None else max_rows + 1
    try:
        rows = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                           skip_blank_lines=True, nrows=limit, engine="c")
    except pd.errors.EmptyDataError:
        raise TableError("The file is empty.") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise TableError(f"The file is not a readable CSV: {error}") from None
    rows.columns = [normalise_header(column, aliases) for column in rows.columns]
    if rows.columns.duplicated().any():
        raise TableError(f"Column {rows.columns[rows.columns.duplicated()][0]!r} appears more than once.")
    if max_rows is not None and len(rows) > max_rows:
        raise TooManyRows(f"The file has more than {max_rows:,} data rows; the limit is {max_rows:,} per upload. "
                          "Split it into smaller files.")
    rows = rows.fillna("")  # a short row's missing cells are empty
    rows = rows.reset_index(drop=True)
    rows.index = rows.index + 1
    filled = rows.ne("")
    # A cell of spaces is empty too. Such cells are rare, so the cells are only tested when the text may hold one.
    if BLANK_CELL.search("\n" + text):
        filled &= ~rows.apply(lambda column: column.str.isspace())
    rows = rows[filled.any(axis=1)]
    return Table(rows=rows, delimiter=delimiter, quoted='"' in text)
