"""GET/POST /batch: score an uploaded snapshot CSV, as a table or as a CSV download."""

from flask import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.exceptions import Gone

from liquidity.csvsafe import neutralise_frame
from liquidity.features import INPUT_COLUMNS
from liquidity.web import current_model, reference_ratios
from liquidity.web.batch import results
from liquidity.web.batch.forms import BatchForm
from liquidity.web.extensions import prediction_logs
from liquidity.web.observability import log_prediction
from liquidity.web.scoring import TableError, TooManyRows, frame_log_rows, read_csv_upload, score

bp = Blueprint("batch", __name__)

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
    table = score(model, parsed, reference_ratios())
    log_prediction(source="batch", rows=len(table), scored=len(parsed.valid),
                   errors=len(parsed.errors), model_version=model.version)
    prediction_logs.log_forecasts(frame_log_rows(parsed.valid, table.loc[parsed.valid.index]), "batch", model.version)
    name = (form.file.data.filename or "snapshot.csv").rsplit(".", 1)[0] + "_scored.csv"
    # ASCII only: gunicorn writes headers in latin-1, and a name like 数据.csv would fail there (a 500).
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in name)
    # People open this file in a spreadsheet: cells like =HYPERLINK(...) from the upload must stay text.
    data = neutralise_frame(table).to_csv(index_label="row").encode("utf-8")
    if request.form.get("action") == "download":
        return csv_download(data, safe)
    token = results.keep(data, safe)
    levels = table["liquidity_level"].value_counts()
    return render_template("batch/result.html", form=BatchForm(), model=model, table=table.head(TABLE_ROWS),
                           total=len(table), scored=len(parsed.valid), errors=parsed.errors[:ERRORS_SHOWN],
                           error_count=len(parsed.errors), extra_columns=[c for c in ("coin", "symbol", "date")
                                                                          if c in table.columns],
                           input_columns=INPUT_COLUMNS, high=int(levels.get("High", 0)),
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
