"""How old the market data is: the app's today, and the line every page that shows market data opens with."""

from datetime import UTC, date, datetime

from flask import current_app, g


def today(app=None):
    """Return the app's today: the TODAY setting when set (a frozen date), else the UTC calendar's."""
    frozen = (app or current_app).config.get("TODAY")
    if frozen is None:
        return datetime.now(UTC).date()
    return frozen if isinstance(frozen, date) else date.fromisoformat(str(frozen))


def age_text(days):
    """Return an age in days in words: from today, 1 day old, 5 days old."""
    return "from today" if days == 0 else f"{days} day{'s' if days != 1 else ''} old"


def page_freshness():
    """Return the latest snapshot's date, age and whether it is older than STALE_DAYS, for a page that read the
    market this request (None otherwise, or when the store is empty): the page says what its data is as of."""
    state = g.get("market_state")
    if state is None:  # the page showed no market data: asking the store now would only add work
        return None
    fresh = state.freshness(today())
    if fresh is None:
        return None
    return {"latest": fresh.latest, "age_days": fresh.age_days, "age": age_text(fresh.age_days),
            "stale": fresh.age_days > current_app.config["STALE_DAYS"]}


def init_app(app):
    """Give templates `freshness()` (page_freshness), read when base.html asks, after the page's content."""
    app.context_processor(lambda: {"freshness": page_freshness})
