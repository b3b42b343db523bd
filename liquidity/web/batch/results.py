"""Scored batch files kept briefly on disk, so the result page can offer the download without a new upload.

Files go to one folder (LIQUIDITY_BATCH_RESULT_DIR, by default instance/batch-results) that every gunicorn worker
on the machine sees; the session holds the tokens of its own files, so nobody downloads another visitor's result by
guessing. The folder is the app user's alone (0700, files 0600): start-up refuses one another user owns or can open,
since they could read or replace the results. Several machines need that folder shared, or sticky sessions.
"""

import os
import re
import secrets
import stat
import time
from pathlib import Path

from flask import current_app, session

from liquidity.files import write_atomically

TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
SESSION_KEY = "batch_results"
KEPT_PER_SESSION = 5  # the session cookie holds this many {token: file name}; older ones are forgotten


def private_folder(path):
    """Create path as a folder only this user can open (0700), or check that an existing one is; return it.

    Raise PermissionError with the reason when the folder is not a plain folder this user owns with no access for
    anyone else (create_app turns it into a start-up error naming LIQUIDITY_BATCH_RESULT_DIR).
    """
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    else:
        return path
    info = os.lstat(path)  # lstat: a symlink planted at the path is refused, not followed
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{path} is not a folder (a symlink or a file)")
    if info.st_uid != os.geteuid():
        raise PermissionError(f"{path} belongs to user id {info.st_uid}, not to the app's user ({os.geteuid()}), "
                              "who could read or replace the results")
    if info.st_mode & 0o077:
        raise PermissionError(f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: other users could read or replace "
                              "the results; make it 0700 (chmod 700) or use another folder")
    return path


def folder():
    path = Path(current_app.config["BATCH_RESULT_DIR"])
    if not path.is_dir():  # removed while the app runs: create it again, as private as at start-up
        private_folder(path)
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
    write_atomically(path / f"{token}.csv", data, mode=0o600)
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
