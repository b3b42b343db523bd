"""CSV uploads as people really send them: BOMs, semicolons, thousands separators, blank lines, junk, huge files."""

import csv
import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquidity.tabular import TableError, TooManyRows, number_text
from liquidity.web.extensions import models
from liquidity.web.scoring import read_csv_upload

HEADER = "coin,symbol,price,1h,24h_volume,mkt_cap\n"
BITCOIN = "Bitcoin,BTC,40851.38,0.001,20476118020,776077432316\n"
TETHER = "Tether,USDT,1,0,44131404071,80205879149\n"


def upload(client, data, name="snapshot.csv", action="download"):
    form = {"csrf_token": client.csrf_token("/batch"), "action": action, "file": (io.BytesIO(data), name)}
    return client.post("/batch", data=form, content_type="multipart/form-data")


def scored_rows(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def expected_score(app, volume, mkt_cap, h1, price):
    return models.get(app).predict_one(volume, mkt_cap, h1, price).score


def test_a_utf8_bom_before_the_header_is_ignored(client, app):
    rows = scored_rows(upload(client, ("\ufeff" + HEADER + BITCOIN).encode()))
    assert rows[0]["liquidity_score"] != ""
    assert float(rows[0]["liquidity_score"]) == pytest.approx(
        expected_score(app, 20476118020, 776077432316, 0.001, 40851.38))


def test_semicolon_separated_files_with_decimal_commas_are_scored(client, app):
    data = (b"coin;symbol;price;1h;24h_volume;mkt_cap\r\n"
            b"Bitcoin;BTC;40851,38;0,001;20.476.118.020;776.077.432.316\r\n"
            b"Tether;USDT;1;0;44131404071;80205879149\r\n")
    rows = scored_rows(upload(client, data))
    assert [row["error"] for row in rows] == ["", ""]
    assert float(rows[0]["liquidity_score"]) == pytest.approx(
        expected_score(app, 20476118020, 776077432316, 0.001, 40851.38))
    assert float(rows[1]["liquidity_score"]) == pytest.approx(expected_score(app, 44131404071, 80205879149, 0, 1))


def test_tab_separated_files_are_scored(client):
    data = HEADER.replace(",", "\t") + BITCOIN.replace(",", "\t")
    assert scored_rows(upload(client, data.encode()))[0]["error"] == ""


def test_quoted_numbers_with_thousands_separators_are_read(client, app):
    data = HEADER + 'Bitcoin,BTC,"40,851.38",0.001,"20,476,118,020","776,077,432,316"\n'
    rows = scored_rows(upload(client, data.encode()))
    assert rows[0]["error"] == ""
    assert float(rows[0]["liquidity_score"]) == pytest.approx(
        expected_score(app, 20476118020, 776077432316, 0.001, 40851.38))


@pytest.mark.parametrize("raw, delimiter, expected", [
    ("1,234,567.89", ",", "1234567.89"),
    ("-1,000", ",", "-1000"),
    ("1,23", ",", "1,23"),             # not thousands groups: left alone, so it is reported
    ("12,34,567", ",", "12,34,567"),   # Indian grouping: ambiguous here, reported
    ("0,001", ";", "0.001"),
    ("1.234.567,89", ";", "1234567.89"),
    ("40851.38", ";", "40851.38"),     # a decimal point in a ;-file stays a decimal point
    ("1.234", ";", "1.234"),
    ("20.476.118.020", ";", "20476118020"),
    ("1,234,567", ";", "1,234,567"),   # two commas cannot be a decimal comma: reported
    ("1 234 567,5", "\t", "1234567.5"),
])
def test_separator_rules_are_unambiguous(raw, delimiter, expected):
    assert number_text(raw, delimiter) == expected


def test_ambiguous_separators_are_a_per_row_error_naming_the_column(client):
    data = HEADER + BITCOIN + 'Odd,ODD,"12,34,567",0,1,1\n'
    rows = scored_rows(upload(client, data.encode()))
    assert rows[0]["error"] == ""
    assert rows[1]["error"] == "price: price must be a number"


def test_blank_lines_and_empty_rows_are_skipped_and_row_numbers_stay_data_rows(client):
    data = HEADER + "\n" + BITCOIN + "\n\n,,,,,\n" + "Bad,BAD,-1,0,1,1\n" + "   \n" + TETHER
    response = upload(client, data.encode(), action="show")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 of 3 row(s) scored, 1 problem(s) found" in html
    assert "Row 3, column <code>price</code>: price must be greater than 0" in html


def test_a_short_row_reports_its_missing_cells(client):
    rows = scored_rows(upload(client, (HEADER + "Short,S,1,0\n" + TETHER).encode()))
    assert rows[0]["error"] == "volume: missing value; mkt_cap: missing value"
    assert rows[1]["error"] == ""


@pytest.mark.parametrize("data, status, message", [
    (b"", 400, "The file is empty."),
    (b"\n\n  \n", 400, "The file is empty."),
    (HEADER.encode(), 400, "header but no data rows"),
    ((HEADER + "\n,,,,,\n").encode(), 400, "header but no data rows"),
    (b"\xef\xbb\xbf" + HEADER.encode(), 400, "header but no data rows"),
    (b"coin;price;1h;mkt_cap\nA;1;0;5\n", 400, "Missing required column(s): &#39;volume&#39;"),
    (b"coin;price;1h;mkt_cap\nA;1;0;5\n", 400, "separated by semicolons"),
    (b"name,value\nBitcoin,1\n", 400, "Missing required column(s): &#39;volume&#39;"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 400, "The file is binary, not CSV text."),
    (b"PK\x03\x04\x14\x00\x06\x00" + os.urandom(64), 400, "Excel workbook"),
    (os.urandom(2048).replace(b"\x00", b"") + b"\x00", 400, "The file is binary"),
    (b"\xc0\xc1price,1h,volume,mkt_cap\n", 400, "not UTF-8"),
    ("price,1h,volume,mkt_cap\n1,0,1,1\n".encode("utf-16-be"), 400, "looks like UTF-16"),
    ("price,1h,volume,mkt_cap\n1,0,1,1\n".encode("utf-16-le"), 400, "looks like UTF-16"),
    (b'price,1h,volume,mkt_cap\n"1,0,1,1\n', 400, "not a readable CSV"),
])
def test_unusable_files_get_a_clear_message_on_the_form(client, data, status, message):
    response = upload(client, data, action="show")
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert message in html
    assert 'type="file"' in html  # the form is shown again


def test_more_rows_than_the_cap_is_413_with_the_limit_named(client, app):
    app.config["BATCH_MAX_ROWS"] = 50
    response = upload(client, (HEADER + TETHER * 51).encode(), action="show")
    assert response.status_code == 413
    assert "more than 50 data rows" in response.get_data(as_text=True)
    assert len(scored_rows(upload(client, (HEADER + TETHER * 50).encode()))) == 50


def test_the_row_cap_stops_the_parser_early():
    with pytest.raises(TooManyRows, match="more than 10 data rows"):
        read_csv_upload((HEADER + TETHER * 200_000).encode(), max_rows=10)


def test_a_million_short_rows_are_over_the_default_upload_limit(client, app):
    data = ("price,1h,volume,mkt_cap\n" + "1,0,1,1\n" * 1_000_000).encode()
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    response = upload(client, data, action="show")
    assert response.status_code == 413
    assert "5 MB upload limit" in response.get_data(as_text=True)


def test_the_row_cap_setting_is_read_from_the_environment():
    from liquidity.web.settings import ConfigError, load_settings

    assert load_settings({})["BATCH_MAX_ROWS"] == 100_000
    assert load_settings({"LIQUIDITY_MAX_BATCH_ROWS": "250"})["BATCH_MAX_ROWS"] == 250
    with pytest.raises(ConfigError, match="LIQUIDITY_MAX_BATCH_ROWS"):
        load_settings({"LIQUIDITY_MAX_BATCH_ROWS": "0"})


cells = st.one_of(st.text(max_size=8), st.floats().map(repr), st.sampled_from(["", '"1,234"', "1.234,5", "nan"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([",", ";", "\t"]), st.lists(st.lists(cells, min_size=0, max_size=7), max_size=5)).map(
        lambda pair: ("\ufeffprice,1h,volume,mkt_cap,coin\n".replace(",", pair[0])
                      + "\n".join(pair[0].join(row) for row in pair[1])).encode())))
def test_any_upload_is_parsed_or_refused_with_an_upload_error(content):
    try:
        parsed = read_csv_upload(content, max_rows=100)
    except TableError as error:
        assert str(error) and error.__class__ in (TableError, TooManyRows)
    else:
        assert len(parsed.valid) + len({row for row, _, _ in parsed.errors}) == len(parsed.rows)
        # 1h is optional (issue 20): missing is NaN, never an infinity; the other inputs are always there.
        assert parsed.valid.drop(columns="1h").notna().all().all()
        assert not np.isinf(parsed.valid["1h"]).any()
        for row, column, reason in parsed.errors:
            assert row in parsed.rows.index and column in ("volume", "mkt_cap", "1h", "price") and reason


def test_scoring_in_chunks_matches_scoring_at_once(fixture_model, monkeypatch):
    from liquidity.web import scoring

    data = (HEADER + BITCOIN + "Bad,BAD,-1,0,1,1\n" + TETHER + BITCOIN.replace("0.001", "0.02") + TETHER).encode()
    whole = scoring.score(fixture_model, read_csv_upload(data))
    monkeypatch.setattr(scoring, "SCORE_CHUNK_ROWS", 2)
    chunked = scoring.score(fixture_model, read_csv_upload(data))
    assert chunked.equals(whole)
    assert whole["liquidity_score"].notna().sum() == 4


# The name ends with the date of the snapshot the rows were ranked against (issue 20): on an empty store, the model
# card's reference snapshot, 2024-01-04 for the fixture model.
@pytest.mark.parametrize("name, sent", [("数据.csv", "___scored_2024-01-04.csv"),
                                        ("my coins (2).csv", "my_coins__2__scored_2024-01-04.csv"),
                                        ("\u202eevil.csv", "_evil_scored_2024-01-04.csv")])
def test_the_download_name_is_plain_ascii_whatever_the_upload_was_called(client, name, sent):
    response = upload(client, (HEADER + TETHER).encode(), name=name)
    disposition = response.headers["Content-Disposition"]
    disposition.encode("latin-1")  # what gunicorn does with every header; a non-latin-1 name would be a 500 there
    assert disposition == f'attachment; filename="{sent}"'
