"""GET/POST /batch: score an uploaded snapshot CSV, as a table or as a CSV download."""

from flask import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.exceptions import Gone

from liquidity.csvsafe import neutralise_frame
from liquidity.features import INPUT_COLUMNS
from liquidity.web import current_model, reference_ratios
from liquidity.web.basis import HISTORY, batch_bases, market_or_none, model_uses_h1, reference_date
from liquidity.web.batch import results
from liquidity.web.batch.forms import BatchForm
from liquidity.web.extensions import prediction_logs
from liquidity.web.market import coin_log_rows
from liquidity.web.observability import log_prediction
from liquidity.web.scoring import TableError, TooManyRows, frame_log_rows, read_csv_upload, score

bp = Blueprint("batch", __name__)

COLUMN_TITLES = {"volume": "24h volume", "mkt_cap": "Market cap", "1h": "1h change", "price": "Price"}
NAME_COLUMNS = ("coin", "symbol", "coin_id", "date")  # shown together in one "Coin" column
TABLE_ROWS = 500  # rows shown on the page; the CSV download has them all
ERRORS_SHOWN = 200


@bp.get("/batch")
def upload():
    """Show the upload form."""
    current_model()  # 503 at once rather than a form whose every answer would be a 503
    return render_template("batch/upload.html", form=BatchForm())


@bp.post("/batch")
def scored():
    """Score the uploaded rows: good rows scored, bad rows reported by row number and column."""
    model = current_model()
    form = BatchForm()
    if not form.validate():
        return render_template("batch/upload.html", form=form), 400
    try:
        parsed = read_csv_upload(form.file.data.read(), max_rows=current_app.config["BATCH_MAX_ROWS"])
    except TableError as error:
        form.file.errors.append(str(error))
        return render_template("batch/upload.html", form=form), 413 if isinstance(error, TooManyRows) else 400
    market = market_or_none()
    table, coin_forecasts = batch_bases(model, market, parsed, score(model, parsed, reference_ratios()))
    if "1h" not in table.columns:  # the optional column left out: shown, and downloaded, as missing
        table.insert(list(table.columns).index("liquidity_score"), "1h", "")
    from_history = table["basis"].eq(HISTORY)
    log_prediction(source="batch", rows=len(table), scored=len(parsed.valid),
                   errors=len(parsed.errors), model_version=model.version, from_history=int(from_history.sum()))
    from_inputs = parsed.valid.index[~from_history.loc[parsed.valid.index].to_numpy()]
    prediction_logs.log_forecasts(frame_log_rows(parsed.valid.loc[from_inputs], table.loc[from_inputs]), "batch",
                                  model.version)
    for coin_forecast in coin_forecasts:  # as the coin page logs it: its stored row, one log row per horizon
        prediction_logs.log_forecasts(coin_log_rows(coin_forecast), "batch", model.version)
    snapshot_date = reference_date(model, market)
    name = ((form.file.data.filename or "snapshot.csv").rsplit(".", 1)[0] + "_scored"
            + (f"_{snapshot_date}" if snapshot_date else "") + ".csv")
    # ASCII only: gunicorn writes headers in latin-1, and a name like 数据.csv would fail there (a 500).
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in name)
    # People open this file in a spreadsheet: cells like =HYPERLINK(...) from the upload must stay text.
    data = neutralise_frame(table).to_csv(index_label="row").encode("utf-8")
    if request.form.get("action") == "download":
        return csv_download(data, safe)
    token = results.keep(data, safe)
    levels = table["liquidity_level"].value_counts()
    return render_template("batch/result.html", form=BatchForm(), model=model, table=table.head(TABLE_ROWS),
                           numbers=parsed.valid, snapshot_date=snapshot_date, from_history=int(from_history.sum()),
                           repeated=int(table["repeated"].ne("").sum()), uses_h1=model_uses_h1(model),
                           total=len(table), scored=len(parsed.valid), errors=parsed.errors[:ERRORS_SHOWN],
                           error_count=len(parsed.errors),
                           extra_columns=[c for c in NAME_COLUMNS if c in table.columns],
                           input_columns=INPUT_COLUMNS, column_titles=COLUMN_TITLES, high=int(levels.get("High", 0)),
                           low=int(levels.get("Low", 0)), borderline=int(table["borderline"].eq(True).sum()),
                           download_url=url_for("batch.download", token=token), download_name=safe,
                           keep_minutes=current_app.config["BATCH_KEEP_SECONDS"] // 60)


def csv_download(data, name):
    return Response(data, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/batch/download/<token>")
def download(token):
    """Send a scored file this session uploaded a moment ago, without uploading it again."""
    kept = results.load(token)
    if kept is None:
        raise Gone("This scored file is no longer kept (files are kept for "
                   f"{current_app.config['BATCH_KEEP_SECONDS'] // 60} minutes, for the browser that uploaded "
                   "them). Upload the file again on the batch page.")
    return csv_download(*kept)
