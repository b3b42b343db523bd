"""GET/POST /api/v1/alerts and GET/DELETE /api/v1/alerts/<id>: the alert rules, and the alerts they raised."""

from flask import abort, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from liquidity.alerts import CONDITIONS, UNKNOWN_COIN
from liquidity.web.alerts.store import alert_store, checked_rule, write
from liquidity.web.api.views import MalformedJson, bad_request, bp, parse_body, request_body


def rule_answer(rule):
    """Return a Rule as JSON; the webhook by its host only, since the rest of a webhook URL is often its secret."""
    return {"id": rule.id, "name": rule.name, "coins": None if rule.coins is None else list(rule.coins),
            "horizon": rule.horizon, "condition": rule.condition, "condition_meaning": CONDITIONS[rule.condition],
            "value": rule.value, "webhook": rule.webhook_host(), "description": rule.describe(),
            "created_at": rule.created_at}


@bp.get("/alerts")
def alert_rules():
    """Return every alert rule, newest first, and the newest alerts raised with their delivery."""
    from liquidity.store.alerts import recent_alerts, rules

    store = alert_store()
    kept = [rule_answer(rule) for rule in rules(store)]
    return {"count": len(kept), "rules": kept, "alerts": recent_alerts(store)}


@bp.post("/alerts")
def add_alert_rule():
    """Add an alert rule from a JSON object (name, coins, horizon, condition, value, webhook_url); 201 with it."""
    from liquidity.store.alerts import add_rule

    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the rule as JSON with the header Content-Type: application/json.")
    try:
        body = parse_body(request_body())
    except MalformedJson as error:
        return bad_request("The body is not valid JSON.", [("$", None, str(error))])
    if not isinstance(body, dict):
        return bad_request("Send one JSON object.", [("$", None, "must be an object with name, horizon and condition")])
    duplicates = getattr(body, "duplicate_keys", ())
    if duplicates:
        return bad_request("A field is given twice.", [(name, None, "is given more than once") for name in duplicates])
    rule, errors = checked_rule(body)
    if errors and all(UNKNOWN_COIN in reason for _, reason in errors):
        # A well-formed rule that names coins the store does not hold: what it refers to is not found.
        return bad_request(f"{len(errors)} coin(s) of the watchlist not found; no rule was saved.",
                           [(name, None, reason) for name, reason in errors], status=404)
    if errors:
        return bad_request(f"{len(errors)} invalid field(s); no rule was saved.",
                           [(name, None, reason) for name, reason in errors])
    saved = write(add_rule, rule)
    return rule_answer(saved), 201, {"Location": url_for("api.alert_rule", rule_id=saved.id)}


@bp.get("/alerts/<int:rule_id>")
def alert_rule(rule_id):
    """Return one alert rule and the newest alerts it raised."""
    from liquidity.store.alerts import recent_alerts, rule

    store = alert_store()
    found = rule(store, rule_id)
    if found is None:
        abort(404, description=f"There is no alert rule {rule_id}.")
    return {"rule": rule_answer(found), "alerts": recent_alerts(store, rule_id=rule_id)}


@bp.delete("/alerts/<int:rule_id>")
def delete_alert_rule(rule_id):
    """Delete one alert rule (204); the alerts it raised stay, under its name."""
    from liquidity.store.alerts import delete_rule

    if not write(delete_rule, rule_id):
        abort(404, description=f"There is no alert rule {rule_id}.")
    return "", 204
