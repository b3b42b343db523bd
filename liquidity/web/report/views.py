"""GET /report/: the generated EDA report (EDA_REPORT/report.html) and the files beside it."""

from pathlib import Path

from flask import Blueprint, current_app, render_template, send_from_directory

bp = Blueprint("report", __name__)

REPORT_FILE = "report.html"
# The generated report links report.css and figures/*.png (no inline styles or scripts), so it gets the
# site's strict policy, with no script at all.
REPORT_POLICY = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
                 "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def report_dir():
    return Path(current_app.config["REPORT_DIR"])


@bp.get("/report/")
def index():
    """Serve the report, or say how to build it when it is missing (404)."""
    folder = report_dir()
    if not (folder / REPORT_FILE).is_file():
        return render_template("report/missing.html", folder=folder.name), 404
    response = send_from_directory(folder, REPORT_FILE, max_age=0)
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response


@bp.get("/report/<path:name>")
def asset(name):
    """Serve a file under the report folder (figures); send_from_directory refuses paths that leave it."""
    response = send_from_directory(report_dir(), name, max_age=300)
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response
