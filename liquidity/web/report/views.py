"""GET /report/: the generated EDA report (EDA_REPORT/report.html) and its own files (report.css, figures)."""

import re
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_file

bp = Blueprint("report", __name__)

REPORT_FILE = "report.html"
# What liquidity/report.py writes beside report.html; nothing else in the folder (eda.ipynb, a database someone
# copied there) is part of the report, so nothing else is served.
REPORT_ASSET = re.compile(r"report\.css|figures/[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(png|svg)")
# The generated report links report.css and figures/*.png (no inline styles or scripts), so it gets the
# site's strict policy, with no script at all.
REPORT_POLICY = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
                 "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def report_dir():
    return Path(current_app.config["REPORT_DIR"])


def report_file(name):
    """Return the path of the report's own file name (REPORT_FILE or an allowed asset) when it is a regular file
    reached without a symlink below the report folder, else None (a symlink could point at /etc/passwd or the store).
    """
    if name != REPORT_FILE and not REPORT_ASSET.fullmatch(name):
        return None
    path = report_dir().resolve()
    for part in name.split("/"):
        path = path / part
        if path.is_symlink():
            return None
    return path if path.is_file() else None


@bp.get("/report/")
def index():
    """Serve the report, or say how to build it when it is missing (404)."""
    path = report_file(REPORT_FILE)
    if path is None:
        return render_template("report/missing.html", folder=report_dir().name), 404
    response = send_file(path, max_age=0)
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response


@bp.get("/report/<path:name>")
def asset(name):
    """Serve one of the report's own files (its style sheet, its figures); anything else is a 404."""
    path = report_file(name)
    if path is None:
        abort(404)
    response = send_file(path, max_age=300)
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response
