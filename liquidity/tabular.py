"""Read the tabular files the project accepts, for training and for batch scoring alike.

CSV text in UTF-8 (a BOM is fine), separated by commas, semicolons or tabs (taken from the header line),
headers matched case-insensitively with their aliases, numbers with unambiguous thousands separators or a
decimal comma. Binary files, Excel workbooks and UTF-16 text are refused with a message saying what they are.
"""

import codecs
import io
import re
from dataclasses import dataclass

import pandas as pd

DELIMITERS = (",", ";", "\t")
# Text read at once by read_table_chunks: a few times this in memory as parsed cells, whatever the file's size.
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
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


def check_head(head):
    """Raise TableError when the first bytes of a file show it is not UTF-8 CSV text, saying what it is instead."""
    head = head[:8192]
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


NOT_UTF8 = "The file is not UTF-8 text. Export it as CSV (UTF-8) and upload it again."


def decode(data):
    """Return bytes as text, or raise TableError saying what the file looks like instead."""
    check_head(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TableError(NOT_UTF8) from None


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
    return _parse(text, aliases, max_rows)[0]


def read_table_chunks(stream, aliases, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Read a binary stream of CSV text as Tables of about chunk_bytes of text each (None: one Table of it all).

    Each chunk is whole lines under the file's header, read by the rules read_table applies to a whole file, so the
    chunks' rows together are the file's rows, numbered as read_table numbers them; memory follows the chunk, not the
    file. A line break inside a quoted cell never ends a chunk. Raise TableError as read_table does.
    """
    if not chunk_bytes:
        yield read_table(stream.read(), aliases)
        return
    data = stream.read(max(chunk_bytes, 8192))  # enough to tell what the file is
    check_head(data)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending, header, numbered = "", None, 0
    while True:
        final = not data
        try:
            pending += decoder.decode(data, final=final)
        except UnicodeDecodeError:
            raise TableError(NOT_UTF8) from None
        if header is None:
            header = _header_line(pending, final)
            if header is None and final:
                raise TableError("The file is empty.")
            # The first chunk carries the header itself; a break before the header's end cannot end it.
            floor = pending.find(header) + len(header) if header is not None else 0
        while header is not None and pending:
            cut = len(pending) if final else _chunk_end(pending, max(floor, chunk_bytes))
            if not cut:
                break
            text = pending[:cut] if floor else header + "\n" + pending[:cut]
            table, parsed = _parse(text, aliases, None, first_row=numbered + 1)
            numbered, floor, pending = numbered + parsed, 0, pending[cut:]
            yield table
        if final:
            return
        data = stream.read(chunk_bytes)


def _header_line(text, final):
    """Return the first line of text with a non-blank character once it is complete (final: the text ends it)."""
    begin = 0
    while begin < len(text):
        end = text.find("\n", begin)
        if end < 0:
            end = len(text) if final else -1
        if end < 0:
            return None
        line = text[begin:end].rstrip("\r")
        if line.strip():
            return line
        begin = end + 1
    return None


def _chunk_end(text, start):
    """Return the position after the first line break of text at or past start that is outside quotes, else 0."""
    cut = text.find("\n", start)
    # An even number of quotes before a break means it is outside any quoted cell ("" inside a cell counts two).
    quotes = text.count('"', 0, cut) if cut >= 0 else 0
    while cut >= 0 and quotes % 2:
        following = text.find("\n", cut + 1)
        if following >= 0:
            quotes += text.count('"', cut, following)
        cut = following
    return cut + 1 if cut >= 0 else 0


def _parse(text, aliases, max_rows, first_row=1):
    """Parse CSV text under its header into a Table numbered from first_row; return it and the rows parsed."""
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
    parsed = len(rows)
    rows = rows.fillna("")  # a short row's missing cells are empty
    rows = rows.reset_index(drop=True)
    rows.index = rows.index + first_row
    filled = rows.ne("")
    # A cell of spaces is empty too. Such cells are rare, so the cells are only tested when the text may hold one.
    if BLANK_CELL.search("\n" + text):
        filled &= ~rows.apply(lambda column: column.str.isspace())
    rows = rows[filled.any(axis=1)]
    return Table(rows=rows, delimiter=delimiter, quoted='"' in text), parsed
