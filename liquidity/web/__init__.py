"""The web app: the factory, one blueprint per feature, shared model access, errors, headers and logs."""

from flask import Flask

from liquidity.paths import STATIC_DIR, TEMPLATES_DIR
from liquidity.web.extensions import ModelUnavailable, StoreUnavailable, csrf, models, stores
from liquidity.web.settings import ConfigError, load_settings

__all__ = ["ConfigError", "ModelUnavailable", "StoreUnavailable", "check_model", "create_app", "current_model",
           "current_store"]


def create_app(test_config=None):
    """Create the Flask app: embedded defaults, then the environment, then test_config."""
    from liquidity import commands
    from liquidity.web import errors, formatting, observability, ratelimit

    app = Flask(__name__, template_folder=str(TEMPLATES_DIR), static_folder=str(STATIC_DIR))
    app.config.update(load_settings())
    if test_config:
        app.config.update(test_config)
    if app.config["LIQUIDITY_ENV"] == "production":
        app.debug = False
    observability.init_app(app)
    models.init_app(app)
    stores.init_app(app)
    register_blueprints(app)
    ratelimit.init_app(app)
    errors.init_app(app)
    formatting.init_app(app)
    commands.init_app(app)
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind N TLS-terminating proxies: trust their X-Forwarded-For/-Proto/-Host (and only theirs), so the
        # client address keys the rate limits and url_for builds https:// links.
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    return app


def register_blueprints(app):
    """Register one blueprint per feature, with CSRF on every form and none on the JSON API."""
    from liquidity.web import api, batch, coins, docs, health, home, live, model, monitor, report

    csrf.init_app(app)
    for module in (home, model, batch, api, docs, health, report, live, coins, monitor):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)


def current_store():
    """Return the app's MarketStore (opened on first use in this process), or raise StoreUnavailable."""
    return stores.get()


def current_model():
    """Return the LiquidityModel loaded at start-up, or raise ModelUnavailable with the reason."""
    return models.require()


def check_model(model):
    """Raise ValueError naming what the verified card lacks that the pages and the forecast read.

    Structure only, no scoring: create_app runs in gunicorn's master before it forks, and the fast path
    must not start there (see LiquidityModel._scorer).
    """
    from liquidity.modeling.card import check_card

    wrong = check_card(model.card)
    if wrong:
        raise ValueError(f"the model card lacks or has malformed section(s): {', '.join(wrong)}")
