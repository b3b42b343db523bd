import csv
import io

import pytest

from liquidity.web.extensions import models

GOOD = (b"coin,symbol,price,1h,24h,7d,24h_volume,mkt_cap,date\n"
        b"Bitcoin,BTC,40851.38,0.001,0,-0.027,20476118020,776077432316,2022-03-17\n"
        b"Tether,USDT,1,0,0,0,44131404071,80205879149,2022-03-17\n")
MIXED = (b"coin,symbol,price,1h,volume,mkt_cap\n"
         b"Bitcoin,BTC,40851.38,0.001,20476118020,776077432316\n"
         b"Bad,BAD,-1,0.001,abc,100\n"
         b"Tether,USDT,1,0,44131404071,80205879149\n"
         b"Gap,GAP,1,,5,\n")


def upload(client, data, name="snapshot.csv", action="show"):
    form = {"csrf_token": client.csrf_token("/batch"), "action": action}
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.post("/batch", data=form, content_type="multipart/form-data")


def test_upload_page_shows_the_form(client):
    html = client.get("/batch").get_data(as_text=True)
    assert 'type="file"' in html and 'enctype="multipart/form-data"' in html
    assert "Up to 5.0 MB" in html


def test_good_rows_come_back_scored_in_a_table(client, app):
    model = models.get(app)
    response = upload(client, GOOD)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 of 2 row(s) scored" in html
    assert f"{model.predict_one(20476118020, 776077432316, 0.001, 40851.38).score:.3f}" in html
    assert f"{model.predict_one(44131404071, 80205879149, 0, 1).score:.3f}" in html
    assert "Bitcoin" in html and "Tether" in html


def test_bad_rows_are_reported_by_row_and_column_and_good_rows_still_scored(client):
    html = upload(client, MIXED).get_data(as_text=True)
    assert "2 of 4 row(s) scored, 3 problem(s) found" in html
    assert "Row 2, column <code>price</code>: price must be greater than 0" in html
    assert "Row 2, column <code>volume</code>: 24h volume must be a number" in html
    assert "column <code>1h</code>" not in html  # an empty 1h is missing, not an error (issue 20)
    assert "Row 4, column <code>mkt_cap</code>: missing value" in html
    assert "Row 2, column <code>mkt_cap</code>" not in html  # 100 USD is a valid market cap


def test_download_returns_every_row_with_scores_and_errors(client, app):
    model = models.get(app)
    response = upload(client, MIXED, name="my coins.csv", action="download")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    reference = model.card["reference_snapshot"]["date"]  # an empty store: ranked against the card's snapshot
    assert f'filename="my_coins_scored_{reference}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["row"] for row in rows] == ["1", "2", "3", "4"]
    assert float(rows[0]["liquidity_score"]) == pytest.approx(
        model.predict_one(20476118020, 776077432316, 0.001, 40851.38).score)
    assert rows[0]["error"] == "" and rows[1]["liquidity_score"] == ""
    assert "price: price must be greater than 0" in rows[1]["error"]
    assert {"band_low", "band_high", "implied_volume", "out_of_range", "coin"} <= set(rows[0])


def test_a_fixture_snapshot_file_scores_every_row(snapshots_dir, client):
    data = (snapshots_dir / "day1.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(upload(client, data, action="download").get_data(as_text=True))))
    assert len(rows) == data.count(b"\n") - 1
    assert all(row["liquidity_level"] in ("High", "Low") for row in rows)


@pytest.mark.parametrize("data, name, message", [
    (None, "x.csv", "Choose a CSV file to upload."),
    (GOOD, "snapshot.txt", "The file must be a .csv file."),
    (b"", "empty.csv", "The file is empty."),
    (b"coin,price,1h,mkt_cap\nA,1,0,5\n", "x.csv", "Missing required column(s): &#39;volume&#39;"),
    (b"price,1h,volume,mkt_cap\n", "x.csv", "header but no data rows"),
    (b"price,1h,volume,24h_volume,mkt_cap\n1,0,1,1,1\n", "x.csv", "appears more than once"),
    ("price,1h,volume,mkt_cap\n1,0,1,1\n".encode("utf-16"), "x.csv", "not UTF-8"),
])
def test_unusable_files_are_a_400_with_a_message_on_the_form(client, data, name, message):
    response = upload(client, data, name=name)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_upload_without_csrf_token_is_refused(client):
    response = client.post("/batch", data={"file": (io.BytesIO(GOOD), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400


def test_upload_over_the_limit_is_413_with_a_clear_message(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    token = client.csrf_token("/batch")
    big = GOOD + b"Bitcoin,BTC,40851.38,0.001,0,-0.027,20476118020,776077432316,2022-03-17\n" * 40000
    response = client.post("/batch", data={"csrf_token": token, "file": (io.BytesIO(big), "big.csv")},
                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "larger than the 2 MB upload limit" in html
    assert 'class="site-header"' in html
