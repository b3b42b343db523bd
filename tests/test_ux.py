"""What a new user meets: the result URL, what the level means, unit warnings, borderline bands, the batch
download without a second upload, API docs, the 404 page, the report's header and tables on a phone."""

import csv
import io
import os
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from liquidity.hints import borderline, h1_warning, percent_bound
from liquidity.web.extensions import models
from liquidity.web.formatting import TURNOVER_NOTE

BITCOIN_FORM = {"volume": "20476118020", "mkt_cap": "776077432316", "h1": "0.1", "price": "40851.38"}
BITCOIN = {"price": 40851.38, "1h": 0.001, "24h_volume": 20476118020, "mkt_cap": 776077432316}
INJECTED = (b"coin,symbol,price,1h,24h_volume,mkt_cap\n"
            b"\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",@SUM(A1),40851.38,-0.02,20476118020,776077432316\n"
            b"Tether,+USDT,1,0,44131404071,80205879149\n"
            b"Typo,TYP,1,2.2,44131404071,80205879149\n"
            b"Bad,-BAD,-1,0,1,1\n")


def upload(client, data, action="show"):
    form = {"csrf_token": client.csrf_token("/batch"), "action": action, "file": (io.BytesIO(data), "s.csv")}
    return client.post("/batch", data=form, content_type="multipart/form-data")


def text(response):
    return response.get_data(as_text=True)


# The result URL

def test_the_form_redirects_to_a_result_url_that_renders_the_same_forecast(client, app):
    response = client.post("/predict", data={**BITCOIN_FORM, "csrf_token": client.csrf_token()})
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/predict"
    assert {key: values[0] for key, values in parse_qs(location.query).items()} == BITCOIN_FORM
    page = client.get(response.headers["Location"])
    html = text(page)
    assert page.status_code == 200
    score = models.get(app).forecast(20476118020, 776077432316, 0.001, 40851.38).score
    assert f'<output id="score">{score:.3f}</output>' in html
    assert f'id="result-link" href="{response.headers["Location"]}"'.replace("&", "&amp;") in html


def test_the_result_url_works_without_a_session_and_its_page_can_post_again(app):
    fresh = app.test_client()  # another browser: a shared link
    page = fresh.get("/predict", query_string=BITCOIN_FORM)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text(page)).group(1)
    again = fresh.post("/predict", data={**BITCOIN_FORM, "h1": "0.2", "csrf_token": token})
    assert again.status_code == 303 and "h1=0.2" in again.headers["Location"]


def test_a_result_url_with_bad_values_shows_the_form_with_messages(client):
    response = client.get("/predict", query_string={**BITCOIN_FORM, "mkt_cap": "-5", "price": ""})
    html = text(response)
    assert response.status_code == 400
    assert "Market cap must be greater than 0." in html
    # An empty 1h is missing, not an error (issue 20); the price is still required.
    assert "Required: enter the price in USD" in html


def test_a_result_url_without_values_goes_to_the_form(client):
    response = client.get("/predict")
    assert response.status_code == 302 and response.headers["Location"] == "/"


# What the level means

def test_the_level_is_explained_as_a_turnover_rank_wherever_it_is_shown(client):
    result = text(client.get("/predict", query_string=BITCOIN_FORM))
    assert "liquidity (turnover rank)" in result
    assert TURNOVER_NOTE in result
    assert TURNOVER_NOTE in text(client.get("/model"))
    assert TURNOVER_NOTE in text(client.get("/docs/api"))
    assert TURNOVER_NOTE in client.get("/api/v1/openapi.json").get_json()["info"]["description"]
    assert "24h trading volume divided by market cap" in TURNOVER_NOTE


# Percent where a fraction belongs

def test_percent_bound_is_1_or_50_times_the_largest_move_seen():
    assert percent_bound({"min": -0.039, "max": 0.086}) == 1.0
    assert percent_bound({"min": -0.002, "max": 0.004}) == pytest.approx(0.2)
    assert h1_warning(0.3, {"min": -0.002, "max": 0.004}) is not None
    assert h1_warning(0.1, {"min": -0.002, "max": 0.004}) is None
    # A model trained without 1h (the daily history has none): only past |1| looks like a percent.
    assert percent_bound({"min": None, "max": None}) == 1.0
    assert h1_warning(2.2, {"min": None, "max": None}) is not None
    assert h1_warning(0.5, {"min": None, "max": None}) is None


def test_the_api_warns_when_1h_looks_like_a_percent(client):
    percent = client.post("/api/v1/predict", json={**BITCOIN, "1h": 2.2}).get_json()["prediction"]
    fraction = client.post("/api/v1/predict", json={**BITCOIN, "1h": 0.022}).get_json()["prediction"]
    assert fraction["warnings"] == []
    assert len(percent["warnings"]) == 1 and "1h looks like a percent (2.2)" in percent["warnings"][0]
    many = client.post("/api/v1/predict", json=[{**BITCOIN, "1h": 0.022}, {**BITCOIN, "1h": 5}]).get_json()
    assert [len(item["warnings"]) for item in many["predictions"]] == [0, 1]


def test_the_batch_csv_warns_when_1h_looks_like_a_percent(client):
    rows = list(csv.DictReader(io.StringIO(text(upload(client, INJECTED, action="download")))))
    assert [bool(row["warning"]) for row in rows] == [False, False, True, False]
    assert "Divide by 100" in rows[2]["warning"]


def test_the_range_warning_on_the_form_shows_percent(client):
    html = text(client.get("/predict", query_string={**BITCOIN_FORM, "h1": "50"}))
    assert 'id="range-warning"' in html
    match = re.search(r"Price change, last hour: trained on ([^<]+)\.</li>", html)
    assert match and re.fullmatch(r"[+-]\d+\.\d % to [+-]\d+\.\d %", match.group(1))


# Borderline bands

def test_borderline_means_the_band_reaches_both_sides_of_the_threshold():
    assert borderline(0.45, 0.55, 0.5)
    assert not borderline(0.51, 0.6, 0.5)
    assert not borderline(0.3, 0.49, 0.5)
    assert borderline(0.3, 0.5, 0.5)


def test_a_band_across_the_threshold_is_flagged_on_the_page_the_api_and_the_csv(make_app, fixture_model, trained_dir,
                                                                                 report_dir):
    forecast = fixture_model.forecast(20476118020, 776077432316, 0.001, 40851.38)
    assert forecast.band_low < forecast.band_high, "the fixture model's trees disagree on this coin"
    inside = (forecast.band_low + forecast.band_high) / 2
    outside = min(1.0, forecast.band_high + 0.01)
    for threshold, expected in ((inside, True), (outside, False)):
        client = make_app(trained_dir, report_dir, LIQUIDITY_THRESHOLD=threshold).test_client()
        assert client.post("/api/v1/predict", json=BITCOIN).get_json()["prediction"]["borderline"] is expected
        assert ('id="borderline"' in text(client.get("/predict", query_string=BITCOIN_FORM))) is expected
        rows = list(csv.DictReader(io.StringIO(text(upload(client, INJECTED, action="download")))))
        assert rows[0]["borderline"] == str(expected)


# Model page

def test_the_model_page_says_in_words_how_the_forest_compares_with_persistence(client):
    html = text(client.get("/model"))
    match = re.search(r'<p class="comparison">([^<]+)</p>', html)
    assert match, "no comparison next to the metrics table"
    assert "Persistence guesses that tomorrow&#39;s score equals today&#39;s" in match.group(1)
    assert re.search(r"(about as well as|beats|does worse than) persistence", match.group(1))


def test_the_comparison_follows_the_figures():
    from liquidity.web.model.views import compared_with_persistence

    def block(forest_r2, persistence_r2, forest_mae=0.1, persistence_mae=0.1, spread=None):
        forest = {"r2": forest_r2, "mae": forest_mae, "accuracy": 0.9}
        if spread is not None:
            forest["r2_fold_std"] = spread
        return {"models": {"random_forest": forest,
                           "persistence": {"r2": persistence_r2, "mae": persistence_mae, "accuracy": 0.9}}}

    def words(block):
        return compared_with_persistence(block, "its history")

    assert "about as well as" in words(block(0.894, 0.893, spread=0.02))
    assert "beats persistence on both (R² +0.100, MAE -0.0100)" in words(block(0.9, 0.8, 0.09, 0.1))
    assert "worse than persistence on both (R² -0.100, MAE +0.0100)" in words(block(0.7, 0.8, 0.11, 0.1))
    # Higher R² but a larger MAE, as the four-input path has it: not called a win.
    assert "about as well as persistence, better on one figure" in words(block(0.911, 0.910, 0.055, 0.052))
    assert "forecasts from its history" in words(block(0.9, 0.8, 0.09, 0.1))
    assert compared_with_persistence({"models": {"random_forest": {}}}, "its history") is None


# Batch

def test_batch_result_offers_the_download_without_uploading_again(client):
    html = text(upload(client, INJECTED))
    link = re.search(r'id="download" href="([^"]+)"', html).group(1)
    direct = text(upload(client, INJECTED, action="download"))
    again = client.get(link)
    assert again.status_code == 200
    assert again.mimetype == "text/csv"
    assert re.search(r'filename="s_scored_\d{4}-\d\d-\d\d\.csv"', again.headers["Content-Disposition"])
    assert text(again) == direct


def test_batch_result_shows_input_columns_and_level_counts(client):
    html = text(upload(client, INJECTED))
    header = re.search(r'<table id="scores".*?</thead>', html, re.S).group(0)
    for column in ("Price", "1h change", "24h volume", "Market cap"):  # in words since issue 20
        assert f"<th>{column}</th>" in header
    levels = re.findall(r'class="level level-(high|low)"', html.split('id="scores"')[1])
    assert int(re.search(r'id="count-high">(\d+)<', html).group(1)) == levels.count("high")
    assert int(re.search(r'id="count-low">(\d+)<', html).group(1)) == levels.count("low")
    assert len(levels) == 3
    assert 'data-label="Score"' in html and 'class="stack"' in html


def test_another_browser_cannot_fetch_a_kept_result(client, app):
    link = re.search(r'id="download" href="([^"]+)"', text(upload(client, INJECTED))).group(1)
    response = app.test_client().get(link)
    assert response.status_code == 410
    assert "Upload the file again" in text(response)


def test_a_kept_result_expires_and_old_files_are_swept(make_app, trained_dir, report_dir, tmp_path):
    folder = tmp_path / "kept"
    app = make_app(trained_dir, report_dir, BATCH_RESULT_DIR=folder, BATCH_KEEP_SECONDS=60)
    client = app.test_client()
    link = re.search(r'id="download" href="([^"]+)"', text(upload(client, INJECTED))).group(1)
    kept = list(folder.glob("*.csv"))
    assert len(kept) == 1 and client.get(link).status_code == 200
    old = time.time() - 120
    os.utime(kept[0], (old, old))
    assert client.get(link).status_code == 410
    upload(client, INJECTED)  # the next upload sweeps the expired file
    assert kept[0] not in list(folder.glob("*.csv")) and len(list(folder.glob("*.csv"))) == 1


def test_a_forged_token_is_not_found(client):
    assert client.get("/batch/download/..%2F..%2Fetc%2Fpasswd").status_code in (404, 410)
    assert client.get("/batch/download/" + "A" * 32).status_code == 410


def test_the_batch_download_neutralises_formulas_and_keeps_numbers(client):
    for data in (text(upload(client, INJECTED, action="download")),
                 text(client.get(re.search(r'id="download" href="([^"]+)"',
                                           text(upload(client, INJECTED))).group(1)))):
        rows = list(csv.DictReader(io.StringIO(data)))
        assert rows[0]["coin"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
        assert rows[0]["symbol"] == "'@SUM(A1)"
        assert rows[1]["symbol"] == "'+USDT"
        assert rows[3]["symbol"] == "'-BAD"
        assert rows[0]["1h"] == "-0.02", "a negative number stays a number"
        assert rows[3]["price"] == "-1"
        assert float(rows[0]["liquidity_score"]) > 0
        assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values()
                       if not re.fullmatch(r"[+-]?[\d.eE+-]+", cell))


# API docs, 404, report

def test_api_docs_is_a_page_built_from_the_openapi_document(client):
    response = client.get("/docs/api")
    html = text(response)
    assert response.status_code == 200
    assert "<script" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'id="openapi-json" href="/api/v1/openapi.json"' in html
    document = client.get("/api/v1/openapi.json").get_json()
    for path, methods in document["paths"].items():
        for method in methods:
            assert f"<code>{method.upper()} {path}</code>" in html
    for name, schema in document["components"]["schemas"].items():
        assert f'id="schema-{name}"' in html
        for field in schema.get("properties", {}):
            assert f"<code>{field}</code>" in html
    assert "&gt; -1" in html and "&lt;= 10" in html  # the bounds of 1h
    assert 'href="/docs/api" aria-current="page">API docs</a>' in html


def test_the_404_page_says_what_exists(client):
    response = client.get("/no-such-page")
    html = text(response)
    assert response.status_code == 404
    site_map = re.search(r'<ul class="site-map" id="site-map">(.*?)</ul>', html, re.S).group(1)
    for path in ("/", "/batch", "/model", "/report/", "/docs/api"):
        assert f'<a href="{path}">' in site_map
    answer = client.get("/api/v1/nothing").get_json()
    assert "POST /api/v1/predict" in answer["endpoints"]


def test_the_report_carries_the_site_header_and_a_way_back():
    from liquidity.report import DEFAULT_OUT

    html = (DEFAULT_OUT / "report.html").read_text(encoding="utf-8")
    assert '<header class="site-header">' in html
    assert '<a href="/">&larr; Back to the forecast form</a>' in html
    for path in ("/batch", "/model", "/docs/api"):
        assert f'<a href="{path}">' in html
    assert 'class="scroll-hint"' in html


def test_wide_tables_say_they_scroll_on_a_phone(client):
    assert text(client.get("/model")).count('class="scroll-hint help"') >= 2
    css = text(client.get("/static/style.css"))
    assert re.search(r"@media \(max-width: 40rem\) \{\s*\.scroll-hint \{ display: block; \}", css)
    assert "table.stack td::before { content: attr(data-label)" in css
