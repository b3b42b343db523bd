"""GET /alerts (the rules and the alerts raised), POST /alerts (add a rule), POST /alerts/<id>/delete."""

from flask import Blueprint, abort, redirect, render_template, request, url_for

from liquidity.alerts import CONDITIONS, HORIZONS, RULE_FIELDS, coin_list
from liquidity.web.alerts.store import alert_store, checked_rule, write

bp = Blueprint("alerts", __name__)

CONDITION_CHOICES = (
    ("turns_low", "The forecast level turns Low", "High today, Low at the horizon. Leave the number empty."),
    ("drop", "The forecast score drops by more than X",
     "X is a score difference, above 0 and at most 1: 0.2 means a fall of 20 places in 100 in the coins' ranking."),
    ("upper_below", "Even the top of the 80 % interval is below Y",
     "Y is a score, above 0 and at most 1: 0.3 means the coin is likely to rank in the bottom 30 % of coins."),
)
# Delivery status -> what it means to the reader
STATUS_WORDS = {"shown": "Shown here (the rule has no webhook)", "pending": "Waiting to be sent",
                "sending": "Being sent", "delivered": "Sent to the webhook", "failed": "Not delivered"}


def render(form=None, errors=(), status=200, notice=None):
    """Render the alerts page: the rule form (with what was typed and each field's error), the rules, the alerts."""
    from liquidity.store.alerts import recent_alerts, rules

    store = alert_store()
    field_errors = {}
    for name, reason in errors:
        field_errors.setdefault(name.split("[", 1)[0], []).append(f"{name} {reason}" if "[" in name else reason)
    return render_template("alerts/index.html", form=form or {"horizon": "1", "condition": "turns_low"},
                           field_errors=field_errors, rules=rules(store), alerts=recent_alerts(store),
                           conditions=CONDITION_CHOICES, horizons=HORIZONS, status_words=STATUS_WORDS,
                           notice=notice), status


@bp.get("/alerts")
def index():
    """Show the alert rules, the form to add one, and the alerts raised, newest first, with their delivery."""
    from liquidity.store.alerts import rule

    # The notice names the rule from the store, never text from the address: a link cannot make the page say things.
    notice = None
    saved = request.args.get("saved", "")
    found = rule(alert_store(), int(saved)) if saved.isascii() and saved.isdigit() and len(saved) < 19 else None
    if found is not None:
        notice = f"Rule \u201c{found.name}\u201d saved: the daily run checks it from now on."
    elif request.args.get("deleted"):
        notice = "The rule was deleted; the alerts it raised stay listed below."
    return render(notice=notice)


@bp.post("/alerts")
def create():
    """Add the rule the form describes, or show the form again with each field's error (400)."""
    from liquidity.store.alerts import add_rule

    form = {name: request.form.get(name, "") for name in RULE_FIELDS}
    if form["condition"] not in CONDITIONS or form["condition"] == "turns_low":
        form["value"] = ""  # the number box belongs to the other conditions: a stale number is not an error
    fields = {name: value for name, value in form.items() if value.strip()}
    if "coins" in fields:
        fields["coins"] = coin_list(fields["coins"])
    rule, errors = checked_rule(fields)
    if errors:
        return render(form=form, errors=errors, status=400)
    saved = write(add_rule, rule)
    return redirect(url_for("alerts.index", saved=saved.id, _anchor=f"rule-{saved.id}"), code=303)


@bp.post("/alerts/<int:rule_id>/delete")
def delete(rule_id):
    """Delete a rule (its alerts stay listed)."""
    from liquidity.store.alerts import delete_rule, rule

    found = rule(alert_store(), rule_id)
    if found is None or not write(delete_rule, rule_id):
        abort(404, description=f"There is no alert rule {rule_id}: it may have been deleted already.")
    return redirect(url_for("alerts.index", deleted=1), code=303)
