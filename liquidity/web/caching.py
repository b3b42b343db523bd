"""Freshness and conditional GETs: the `as_of`, `age_days` and `generated_at` of answers with market data, and
ETag, Last-Modified and Cache-Control on the JSON API's GET answers and the market pages, with 304 Not Modified
answered before the view runs when If-None-Match names the current tag.

A tag is made of what the answer follows: the store's version (the snapshots and the intervals' calibration; the
prediction log too for the monitor), the model's version, the UTC day (an answer's `age_days` counts from it), a
digest of the app's code and templates (a deploy changes the pages and the OpenAPI document, not the model) and a
digest of the path and query: a client that sends one URL's tag with another (a bot keeping "the last ETag") gets
that URL's answer, never a 304 for an answer it does not hold, nor for one that would be an error. Tags are weak
(W/"..."): two workers answer the same data with their own `generated_at`. If-Modified-Since is not read: the tag
says more, and every answer carries one.

The coin forecast follows the snapshots, not the log: serving it logs it, so a tag with the log in it would change
with every answer and never revalidate. A 304 is not logged: the client keeps the forecast it was served (and
logged) before.

Pages are public: the market pages carry no form token or other per-session content. Any answer that does (a page
whose form holds this session's CSRF token) and every answer to a POST is `no-store`.
"""

import hashlib
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

from flask import current_app, g, request

from liquidity.paths import TEMPLATES_DIR

# endpoint -> what its answer follows: "market" (the snapshots, their calibration, the model), "log" (those and
# every logged forecast), "model" (the model alone), "code" (the app's code alone: served with no model loaded).
CONDITIONAL = {
    "api.coins": "market",
    "api.coin": "market",
    "api.coin_forecast": "market",
    "api.monitor": "log",
    "api.model_card": "model",
    "api.openapi": "code",
    "coins.index": "market",
    "coins.coin": "market",
    "monitor.index": "log",
    "model.card": "model",
}
# The model and the code change only with a restart: the card and the API document may be reused this long.
MODEL_MAX_AGE = 60
PACKAGE_DIR = Path(__file__).resolve().parent.parent


def utc_now():
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def freshness(as_of):
    """Return the freshness fields of an answer from the snapshot dated as_of ('YYYY-MM-DD' or None): as_of, its
    age in whole days (UTC) and when the answer was generated (UTC, ISO 8601)."""
    now = utc_now()
    age = None if as_of is None else (now.date() - datetime.fromisoformat(as_of).date()).days
    return {"as_of": as_of, "age_days": age, "generated_at": now.isoformat(timespec="seconds")}


def code_digest(app):
    """Return a short digest of this app's code and templates, computed once per app: a deploy changes it."""
    digest = app.extensions.get("liquidity_code_digest")
    if digest is None:
        hashed = hashlib.sha256()
        for folder, pattern in ((PACKAGE_DIR, "*.py"), (Path(TEMPLATES_DIR), "*.html")):
            for path in sorted(folder.rglob(pattern)):
                hashed.update(str(path.relative_to(folder)).encode())
                hashed.update(path.read_bytes())
        digest = app.extensions["liquidity_code_digest"] = hashed.hexdigest()[:12]
    return digest


def validators(kind):
    """Return (tag, last modified as a POSIX time or None, max-age in seconds) of this request's answer."""
    from liquidity.web import current_market, current_model
    from liquidity.web.extensions import read_models

    code = f"{code_digest(current_app)}.{hashlib.blake2s(request.full_path.encode(), digest_size=6).hexdigest()}"
    if kind == "code":
        return f"code-{current_app.config['API_MAX_ITEMS']}.{code}", None, MODEL_MAX_AGE
    model = current_model()  # a 503 first when the model is not loaded, as the views do
    if kind == "model":
        created = model.card.get("created_at")
        try:
            modified = datetime.fromisoformat(created).timestamp() if created else None
        except (TypeError, ValueError):
            modified = None
        return f"model-{model.version}.{code}", modified, MODEL_MAX_AGE
    state = current_market()  # pinned for the request (g): the view answers from the state the tag names
    version = state.version
    if kind == "log":
        data, modified = version.tag, state.built_at
    else:
        latest, row, calibration = version.market
        data, modified = f"{latest or 'empty'}.{row or 0}.{calibration or 0}", state.market.built_at
    tag = f"{data}.model-{model.version}.{utc_now().date().isoformat()}.{code}"
    return tag, modified, read_models.get().next_check_in()


def _set_validators(response, tag, modified, max_age):
    response.set_etag(tag, weak=True)
    if modified is not None:
        response.headers["Last-Modified"] = formatdate(int(modified), usegmt=True)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"


def not_modified():
    """Answer 304 before the view when If-None-Match names the current tag of a conditional endpoint's answer."""
    kind = CONDITIONAL.get(request.endpoint)
    if kind is None or request.method not in ("GET", "HEAD"):
        return None
    tag, modified, max_age = g.cache_validators = validators(kind)
    # Only a tag this server gave (never "*"): a tag exists for a URL only once it answered 200, so a URL with a bad
    # query, which has none, still reaches its view and gets its 400.
    if not request.if_none_match.star_tag and request.if_none_match.contains_weak(tag):
        response = current_app.response_class(status=304)
        _set_validators(response, tag, modified, max_age)
        return response
    return None


def add_cache_headers(response):
    """Give a conditional endpoint's 200 its validators; make POST answers and pages with this session's form
    token no-store."""
    if "Cache-Control" in response.headers:
        return response
    validators_ = g.get("cache_validators")
    if validators_ is not None and response.status_code == 200:
        _set_validators(response, *validators_)
    elif request.method not in ("GET", "HEAD") or g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    """Register the 304 check and the headers; call after the rate limiter, so a 304 still counts against it."""
    app.before_request(not_modified)
    app.after_request(add_cache_headers)
