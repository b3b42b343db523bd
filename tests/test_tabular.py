"""The data layer's table reader: what training and /batch both read."""

import pytest

from liquidity.tabular import TableError, read_table

ALIASES = {"24h_volume": "volume"}


@pytest.mark.parametrize("blank", [" , ", '" ", ', "\t,", ",", " \u00a0,  "])
def test_rows_of_blank_cells_are_skipped_and_rows_keep_their_data_row_numbers(blank):
    table = read_table(f"price,volume\n1,2\n{blank}\n3,4\n".encode(), ALIASES)
    assert table.rows.index.tolist() == [1, 3]
    assert table.rows["price"].tolist() == ["1", "3"]


def test_a_cell_with_spaces_and_text_is_not_blank():
    assert read_table(b"price,coin\n ,a b\n", ALIASES).rows.index.tolist() == [1]


@pytest.mark.parametrize("data, delimiter, volume", [
    (b"price,24h_volume\n1,20476118020\n", ",", "20476118020"),
    (b'price,24h_volume\n1,"20,476,118,020.5"\n', ",", "20476118020.5"),
    (b"\xef\xbb\xbfprice;24h_volume\n1;20.476.118.020\n", ";", "20476118020"),
    (b"price\t24h_volume\n1\t0,001\n", "\t", "0.001"),
])
def test_headers_aliases_delimiters_and_separators_are_read(data, delimiter, volume):
    table = read_table(data, ALIASES)
    assert table.delimiter == delimiter
    assert table.numbers("volume").tolist() == [volume]


def test_utf16_is_refused_with_a_reason():
    with pytest.raises(TableError, match="UTF-16"):
        read_table("price,volume\n1,2\n".encode("utf-16"), ALIASES)
