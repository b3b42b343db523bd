"""Rate limits per client address on the JSON API and the form submissions (Flask-Limiter).

Counters live in memory by default (one process: fine for `make run` and one gunicorn worker per client);
LIQUIDITY_RATELIMIT_STORAGE_URL=redis://... shares them between workers and instances. /healthz, static files
and plain page views are not limited.
"""

import time

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# endpoint -> the methods its forms limit counts (each endpoint has its own budget)
LIMITED_FORMS = {
    "home.predict": ("POST",),
    "home.result": ("GET",),
    "batch.scored": ("POST",),
    "batch.download": ("GET",),
    "live.fill": ("GET",),
}


def api_limit():
    """Return the API's limit from the config, read per request."""
    return current_app.config["RATELIMIT_API"]


def forms_limit():
    """Return each form endpoint's limit from the config, read per request."""
    return current_app.config["RATELIMIT_FORMS"]


def init_app(app):
    """Limit the API blueprint and the form endpoints of app; call after the blueprints are registered.

    One Limiter per app rather than one module-level instance: Flask-Limiter keeps its storage and its
    on/off switch on the instance, so a shared one would let the last app created (tests create many)
    decide for all of them.
    """
    limiter = Limiter(key_func=get_remote_address, headers_enabled=True,
                      # A Redis outage must not turn every request into a 500: log it and serve unlimited.
                      swallow_errors=True)
    limiter.init_app(app)
    app.extensions["liquidity_limiter"] = limiter
    limiter.limit(api_limit)(app.blueprints["api"])
    for endpoint, methods in LIMITED_FORMS.items():
        view = app.view_functions[endpoint]  # a KeyError here: an endpoint was renamed and would go unlimited
        app.view_functions[endpoint] = limiter.limit(forms_limit, methods=list(methods))(view)
    return limiter


def retry_after_seconds():
    """Return the seconds until the breached limit of this request resets (at least 1), or None."""
    limiter = current_app.extensions.get("liquidity_limiter")
    current = limiter.current_limit if limiter else None
    if current is None:
        return None
    return max(1, int(current.reset_at - time.time()) + 1)
