"""GET /healthz: the model, the market store and the prediction log, with one status a load balancer acts on.

- 200 "ok": the model is loaded, the store answers and takes writes, and the prediction log's last write succeeded.
- 503 "degraded": the model is loaded (forecasts from four inputs are served) but something is wrong now: "reasons"
  lists it (the store unreachable or read-only, the log's last write failed, the store file deleted or replaced in
  the last INCIDENT_SECONDS, the latest snapshot older than DEGRADED_DAYS). It turns "ok" again by itself once the
  fault is gone.
- 503 "unavailable": the model did not load; "reason" says why.

A degraded instance answers 503 so a load balancer that checks /healthz sends its traffic to a healthy one; the
reasons never name a host, a password or a deploy folder. "prediction_log" counts every worker's written, failed
and lost rows since the server started (liquidity/web/logcounts.py): a monitor alerts on those rising.
"""

import logging
import os
import threading
import time
from datetime import date, datetime

from flask import Blueprint, current_app

from liquidity.web.caching import freshness
from liquidity.web.extensions import models, prediction_logs
from liquidity.web.freshness import today

log = logging.getLogger("liquidity.web")

bp = Blueprint("health", __name__)

# How long a deleted or replaced store file keeps /healthz degraded: rows were lost, and an operator must look.
INCIDENT_SECONDS = 300
# /healthz asks the store at most this often per process: a load balancer polling it must not load the store.
PROBE_SECONDS = 1.0

_probe_lock = threading.Lock()


@bp.get("/healthz")
def healthz():
    """Say whether the model is loaded, the store answers and takes writes, and the log loses nothing."""
    state = models.state()
    model = state.model
    log_totals = prediction_logs.totals()
    log_state = {**log_totals, "scope": "every worker of this server since it started",
                 "this_worker": prediction_logs.log_state()}
    config = current_app.config
    store = {**store_state(), "stale_after_days": config["STALE_DAYS"], "degraded_after_days": config["DEGRADED_DAYS"]}
    if model is None:
        reason = state.error or "the model is not loaded"
        return {"status": "unavailable", "reason": reason, **freshness(store["latest_date"]), "store": store,
                "prediction_log": log_state}, 503
    reasons = degraded_reasons(store, log_totals)
    body = {"status": "degraded" if reasons else "ok", "model_version": model.version, "backend": model.backend,
            "backend_reason": model.backend_reason, **freshness(store["latest_date"]), "store": store,
            "prediction_log": log_state}
    if reasons:
        body["reasons"] = reasons
    return body, 503 if reasons else 200


def degraded_reasons(store, log_totals):
    """Return what keeps this server from "ok" (empty when nothing does): a fault that is still on, or a store file
    that went away (the rows in it are lost) in the last INCIDENT_SECONDS."""
    reasons = []
    if not store["reachable"]:
        reasons.append("the market store cannot be read")
    elif not store["writable"] and log_totals["enabled"]:
        reasons.append("the market store does not take writes: forecasts are not logged")
    if log_totals["failing"]:
        reasons.append(f"the prediction log's last write failed at {log_totals['last_failure_at']} "
                       f"({log_totals['failed']} forecast(s) not logged and {log_totals['lost']} lost since start)")
    incident = store.get("incident")
    if incident and datetime.fromisoformat(incident["at"]).timestamp() >= time.time() - INCIDENT_SECONDS:
        reasons.append(f"{incident['what']} at {incident['at']}")
    age, limit = store.get("age_days"), current_app.config["DEGRADED_DAYS"]
    if age is not None and age > limit:
        reasons.append(f"the latest snapshot ({store['latest_date']}) is {age} days old, more than "
                       f"LIQUIDITY_DEGRADED_DAYS={limit}: the daily import may have stopped")
    return reasons


def store_state():
    """Return the store's state, asked at most every PROBE_SECONDS in this process."""
    extensions = current_app.extensions
    cached = extensions.get("liquidity_store_probe")
    if cached is not None and time.monotonic() - cached[0] < PROBE_SECONDS:
        return cached[1]
    with _probe_lock:
        state = probe_store()
        extensions["liquidity_store_probe"] = (time.monotonic(), state)
    return state


def probe_store():
    """Ask the store whether it answers and takes writes, and its latest snapshot date and that date's age."""
    from liquidity.store import StoreError
    from liquidity.web.services import process_store

    process = process_store(current_app)
    state = {"reachable": False, "writable": False, "latest_date": None, "age_days": None}
    try:
        store = process.open()
        latest, _ = store.latest_signature()
        state["reachable"] = True
        state["writable"] = writable(store, process.path)
    except StoreError as error:
        log.warning("healthz: market store unreachable: %s", error)
        process.reset()
        latest = None
    if latest is not None:
        state["latest_date"] = latest
        state["age_days"] = max(0, (today() - date.fromisoformat(latest)).days)
    if process.incident is not None:
        state["incident"] = {"at": process.incident[0], "what": process.incident[1]}
    return state


def writable(store, path):
    """Return True when the store takes writes: the SQLite file (and its -wal, -shm) writable by this process, or a
    PostgreSQL server that is not a read-only standby."""
    import sqlalchemy as sa

    if path is not None:
        sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        return os.access(path, os.W_OK) and all(os.access(f, os.W_OK) for f in sidecars if f.exists())
    try:
        with store.engine.connect() as connection:
            read_only = connection.execute(sa.text("SELECT pg_is_in_recovery() OR "
                                                   "current_setting('transaction_read_only') = 'on'")).scalar_one()
    except sa.exc.DBAPIError:
        return False
    return not read_only
