"""Scored batch files kept briefly on disk, so the result page can offer the download without a new upload.

Files go to one folder (LIQUIDITY_BATCH_RESULT_DIR, by default a folder in the system's temp dir) that every
gunicorn worker on the machine sees; the session holds the tokens of its own files, so nobody downloads another
visitor's result by guessing. Several machines need that folder shared, or sticky sessions.
"""

import re
import secrets
import tempfile
import time
from pathlib import Path

from flask import current_app, session

from liquidity.files import write_atomically

TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
SESSION_KEY = "batch_results"
KEPT_PER_SESSION = 5  # the session cookie holds this many {token: file name}; older ones are forgotten


def folder():
    configured = current_app.config.get("BATCH_RESULT_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "liquidity-batch-results"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # scored uploads are private to the app
    return path


def sweep(path, keep_seconds, now=None):
    """Delete kept files older than keep_seconds."""
    now = time.time() if now is None else now
    for old in path.glob("*.csv"):
        try:
            if now - old.stat().st_mtime > keep_seconds:
                old.unlink()
        except FileNotFoundError:  # another worker swept it first
            pass


def keep(data, download_name):
    """Store the CSV bytes, remember their token in the session and return the token."""
    path = folder()
    sweep(path, current_app.config["BATCH_KEEP_SECONDS"])
    token = secrets.token_urlsafe(24)
    write_atomically(path / f"{token}.csv", data)
    kept = dict(session.get(SESSION_KEY, {}))
    kept[token] = download_name
    session[SESSION_KEY] = dict(list(kept.items())[-KEPT_PER_SESSION:])
    return token


def load(token):
    """Return (bytes, download name) of a file this session kept and that has not expired, else None."""
    name = session.get(SESSION_KEY, {}).get(token)
    if name is None or not TOKEN.fullmatch(token):
        return None
    path = folder() / f"{token}.csv"
    try:
        if time.time() - path.stat().st_mtime > current_app.config["BATCH_KEEP_SECONDS"]:
            return None
        return path.read_bytes(), name
    except FileNotFoundError:
        return None
