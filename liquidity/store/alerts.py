"""Alert rules and raised alerts in the store: keep and delete rules, read the daily forecasts they are checked
against, record each alert once and its webhook delivery.

What a rule means and how alerts are raised and sent: liquidity/alerts.py.
"""

import json
from datetime import UTC, datetime, timedelta
from datetime import date as Date

import sqlalchemy as sa

from liquidity.store.schema import alert_rules, alerts, prediction_log, snapshots
from liquidity.store.times import naive_utc

DAILY_SOURCE = "daily"
WEBHOOK_STATUSES = ("pending", "failed")  # what a run still has to deliver
RECENT_ALERTS = 100
# A failed delivery is tried again by the daily runs of the snapshots up to this many days after its own: later, the
# alert is stale, and a receiver that is down for good must not slow every run.
RETRY_DAYS = 3
# A claim older than this was abandoned (its run was killed while sending): sending one alert takes at most its
# attempts' timeouts and back-offs, well under a minute, so a later run sends it again.
ABANDONED_CLAIM = timedelta(minutes=15)


MAX_ID = 2 ** 63 - 1  # BIGINT's largest: a larger id in an address names no row (and overflows the drivers)


def _stored_id(rule_id):
    return 0 < rule_id <= MAX_ID


def _error(store, action, error):
    return store.error(action, error, what="the alerts")


def _run(store, action, work):
    """Return work(connection) in one transaction, a store failure raised as StoreError."""
    try:
        with store.engine.begin() as connection:
            return work(connection)
    except sa.exc.DBAPIError as error:
        raise _error(store, action, error) from None


def _text_time(value):
    value = naive_utc(value)
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _rule(row):
    from liquidity.alerts import Rule

    return Rule(name=row.name, coins=None if row.coins is None else tuple(json.loads(row.coins)),
                horizon=int(row.horizon), condition=row.condition, value=row.value, webhook_url=row.webhook_url,
                id=int(row.id), created_at=_text_time(row.created_at))


def add_rule(store, rule, now=None):
    """Store a checked Rule (liquidity.alerts.check_rule); return it with its id and creation time."""
    from dataclasses import replace

    created = now or datetime.now(UTC)
    values = {"created_at": created, "name": rule.name,
              "coins": None if rule.coins is None else json.dumps(list(rule.coins)), "horizon": rule.horizon,
              "condition": rule.condition, "value": rule.value, "webhook_url": rule.webhook_url}
    new_id = _run(store, "write to",
                  lambda c: c.execute(alert_rules.insert().returning(alert_rules.c.id), values).scalar_one())
    return replace(rule, id=int(new_id), created_at=_text_time(created))


def rules(store):
    """Return every stored Rule, newest first."""
    statement = sa.select(alert_rules).order_by(alert_rules.c.id.desc())
    return [_rule(row) for row in _run(store, "read", lambda c: c.execute(statement).all())]


def rule(store, rule_id):
    """Return the Rule with rule_id, or None."""
    if not _stored_id(rule_id):
        return None
    statement = sa.select(alert_rules).where(alert_rules.c.id == rule_id)
    row = _run(store, "read", lambda c: c.execute(statement).first())
    return None if row is None else _rule(row)


def delete_rule(store, rule_id):
    """Delete the rule rule_id (its alerts stay, under its name); return False when there was none."""
    if not _stored_id(rule_id):
        return False
    statement = alert_rules.delete().where(alert_rules.c.id == rule_id)
    return _run(store, "write to", lambda c: c.execute(statement).rowcount) > 0


def stored_coins(store, coin_ids):
    """Return the set of coin_ids the store holds a row of (on any date)."""
    coin_ids = list(dict.fromkeys(coin_ids))
    if not coin_ids:
        return set()
    statement = sa.select(snapshots.c.coin_id).where(snapshots.c.coin_id.in_(coin_ids)).distinct()
    return {row[0] for row in _run(store, "read", lambda c: c.execute(statement).all())}


def daily_forecasts(store, date, model_version):
    """Return the forecasts the daily command logged for the snapshot of date by model_version, one mapping per coin
    and horizon, with the coin's name and symbol."""
    log = prediction_log
    day = Date.fromisoformat(str(date)[:10])
    statement = (sa.select(log.c.id, log.c.coin_id, snapshots.c.coin, snapshots.c.symbol, log.c.horizon,
                           sa.cast(log.c.target_date, sa.Text).label("target_date"), log.c.score, log.c.forecast_score,
                           log.c.level, log.c.low80, log.c.high80)
                 .select_from(log.outerjoin(snapshots, sa.and_(snapshots.c.date == log.c.snapshot_date,
                                                               snapshots.c.coin_id == log.c.coin_id)))
                 .where(log.c.source == DAILY_SOURCE, log.c.snapshot_date == day,
                        log.c.model_version == str(model_version), log.c.coin_id.is_not(None))
                 .order_by(log.c.id))
    forecasts = {}
    for row in _run(store, "read", lambda c: c.execute(statement).all()):
        # Two daily runs racing on one date could log a coin twice: its first forecast counts, as on /monitor.
        forecasts.setdefault((row.coin_id, int(row.horizon)), {
            "coin_id": row.coin_id, "coin": row.coin, "symbol": row.symbol, "snapshot_date": day.isoformat(),
            "target_date": None if row.target_date is None else str(row.target_date)[:10],
            "horizon": int(row.horizon), "score": row.score, "forecast_score": row.forecast_score,
            "level": row.level, "low80": row.low80, "high80": row.high80, "model_version": str(model_version)})
    return list(forecasts.values())


def _insert(store):
    if store.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(alerts)


def record_alerts(store, raised, now=None):
    """Record each (rule, forecast, message, payload) not recorded before (same rule, coin, date and horizon);
    return how many are new."""
    if not raised:
        return 0
    stamp = now or datetime.now(UTC)
    rows = [{"rule_id": rule.id, "rule_name": rule.name, "coin_id": forecast["coin_id"],
             "snapshot_date": Date.fromisoformat(forecast["snapshot_date"]), "horizon": rule.horizon,
             "raised_at": stamp, "message": message, "payload": json.dumps(payload, allow_nan=False),
             "status": "pending" if rule.webhook_url else "shown", "attempts": 0}
            for rule, forecast, message, payload in raised]
    statement = _insert(store).on_conflict_do_nothing(
        index_elements=["rule_id", "coin_id", "snapshot_date", "horizon"])
    count = sa.select(sa.func.count()).select_from(alerts)

    def write(connection):
        # Counted around the insert, in its transaction: executemany's row count is not exact on every driver.
        before = connection.execute(count).scalar_one()
        connection.execute(statement, rows)
        return connection.execute(count).scalar_one() - before

    return _run(store, "write to", write)


def _to_send(now):
    """Return the condition of an alert a run may send: pending, failed before, or claimed by a run long gone."""
    abandoned = sa.and_(alerts.c.status == "sending",
                        sa.or_(alerts.c.claimed_at.is_(None), alerts.c.claimed_at < now - ABANDONED_CLAIM))
    return sa.or_(alerts.c.status.in_(WEBHOOK_STATUSES), abandoned)


def undelivered(store, date, now=None):
    """Return (alert id, webhook URL, payload) of every alert still to be sent (pending, failed before, or left
    claimed by a run that was killed while sending) to its rule's webhook, of date or of the RETRY_DAYS days before
    it."""
    day = Date.fromisoformat(str(date)[:10])
    statement = (sa.select(alerts.c.id, alert_rules.c.webhook_url, alerts.c.payload)
                 .select_from(alerts.join(alert_rules, alert_rules.c.id == alerts.c.rule_id))
                 .where(alerts.c.snapshot_date.between(day - timedelta(days=RETRY_DAYS), day),
                        _to_send(now or datetime.now(UTC)), alert_rules.c.webhook_url.is_not(None))
                 .order_by(alerts.c.id))
    return [(int(row.id), row.webhook_url, {"alert_id": int(row.id), **json.loads(row.payload)})
            for row in _run(store, "read", lambda c: c.execute(statement).all())]


def claim_alert(store, alert_id, now=None):
    """Mark the alert as being sent; return False when another run claimed (or delivered) it first."""
    now = now or datetime.now(UTC)
    statement = (alerts.update().where(alerts.c.id == alert_id, _to_send(now))
                 .values(status="sending", claimed_at=now))
    return _run(store, "write to", lambda c: c.execute(statement).rowcount) == 1


def finish_delivery(store, alert_id, delivery, now=None):
    """Record how the delivery of a claimed alert went (a liquidity.alerts.Delivery)."""
    values = {"status": "delivered" if delivery.delivered else "failed",
              "attempts": alerts.c.attempts + delivery.attempts, "last_error": delivery.error}
    if delivery.delivered:
        values["delivered_at"] = now or datetime.now(UTC)
    _run(store, "write to", lambda c: c.execute(alerts.update().where(alerts.c.id == alert_id).values(**values)))


def recent_alerts(store, rule_id=None, limit=RECENT_ALERTS):
    """Return the newest alerts (of one rule, or of all), newest first, as mappings ready for a page or JSON."""
    statement = sa.select(alerts.c.id, alerts.c.rule_id, alerts.c.rule_name, alerts.c.coin_id,
                          sa.cast(alerts.c.snapshot_date, sa.Text).label("snapshot_date"), alerts.c.horizon,
                          alerts.c.raised_at, alerts.c.message, alerts.c.status, alerts.c.attempts,
                          alerts.c.last_error, alerts.c.delivered_at)
    if rule_id is not None:
        statement = statement.where(alerts.c.rule_id == rule_id)
    statement = statement.order_by(alerts.c.id.desc()).limit(limit)
    return [{"id": int(row.id), "rule_id": None if row.rule_id is None else int(row.rule_id),
             "rule_name": row.rule_name, "coin_id": row.coin_id, "snapshot_date": str(row.snapshot_date)[:10],
             "horizon": int(row.horizon), "raised_at": _text_time(row.raised_at), "message": row.message,
             "status": row.status, "attempts": int(row.attempts), "last_error": row.last_error,
             "delivered_at": _text_time(row.delivered_at)}
            for row in _run(store, "read", lambda c: c.execute(statement).all())]
