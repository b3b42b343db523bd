"""The web app: the factory, one blueprint per feature, shared model and read-model access, errors, headers, logs."""

from flask import Flask, g

from liquidity.paths import STATIC_DIR, TEMPLATES_DIR
from liquidity.web.extensions import csrf, models, prediction_logs, read_models
from liquidity.web.jsonprovider import StrictJSONProvider
from liquidity.web.services import ModelUnavailable, StoreUnavailable, migrate_store
from liquidity.web.settings import ConfigError, load_settings

__all__ = ["ConfigError", "ModelUnavailable", "StoreUnavailable", "create_app", "current_market", "current_model",
           "reference_ratios"]


def create_app(test_config=None):
    """Create the Flask app: embedded defaults, then the environment, then test_config."""
    from liquidity import commands
    from liquidity.web import caching, errors, formatting, freshness, observability, ratelimit

    app = Flask(__name__, template_folder=str(TEMPLATES_DIR), static_folder=str(STATIC_DIR))
    app.json = StrictJSONProvider(app)
    app.config.update(load_settings())
    if test_config:
        app.config.update(test_config)
    if app.config["LIQUIDITY_ENV"] == "production":
        app.debug = False
    check_batch_folder(app)
    observability.init_app(app)
    if serving():
        migrate_store(app.config["DATABASE_URL"])
    models.init_app(app)
    prediction_logs.init_app(app)
    read_models.init_app(app, models.get(app))
    register_blueprints(app)
    ratelimit.init_app(app)
    caching.init_app(app)
    errors.init_app(app)
    formatting.init_app(app)
    freshness.init_app(app)
    commands.init_app(app)
    register_proxy_fix(app)
    return app


def check_batch_folder(app):
    """Create the folder of kept batch results, private to the app's user, or raise ConfigError saying why not."""
    from liquidity.web.batch.results import private_folder

    folder = app.config["BATCH_RESULT_DIR"]
    try:
        private_folder(folder)
    except OSError as error:
        raise ConfigError(f"LIQUIDITY_BATCH_RESULT_DIR={folder}: {error.strerror or error}") from None


def serving():
    """Return False when the app is created for a command (flask --app app import ...), True to serve it.

    The commands that write to the store migrate it themselves and report their own errors; `flask run` serves.
    """
    import click

    context = click.get_current_context(silent=True)
    return context is None or context.command.name == "run"


def register_blueprints(app):
    """Register one blueprint per feature, with CSRF on every form and none on the JSON API."""
    from liquidity.web import alerts, api, batch, coins, docs, health, home, live, model, monitor, report

    csrf.init_app(app)
    for module in (home, model, batch, api, docs, health, report, live, coins, monitor, alerts):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)


def register_proxy_fix(app):
    """Behind PROXY_COUNT TLS-terminating proxies, trust their X-Forwarded-For/-Proto/-Host (and only theirs), so
    the client address keys the rate limits and url_for builds https:// links."""
    count = app.config["PROXY_COUNT"]
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def current_model():
    """Return the LiquidityModel loaded at start-up, or raise ModelUnavailable with the reason."""
    return models.require()


def current_market():
    """Return the MarketState this request is served from: one per request, however often asked.

    Raises liquidity.store.StoreError when the store cannot be read (the error handler answers 503).
    """
    state = g.get("market_state")
    if state is None:
        state = g.market_state = read_models.get().current()
    return state


def reference_ratios():
    """Return the ratios a coin given by its four inputs is ranked against: the latest stored snapshot's, or None
    (the model card's reference snapshot) while the store is empty or cannot be read."""
    state = g.get("market_state")
    return state.reference_ratios() if state is not None else read_models.get().reference_ratios()
