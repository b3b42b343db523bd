"""Crypto liquidity predictor: data, model and web app."""

import logging

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from liquidity.config import PROJECT_ROOT, load_settings

log = logging.getLogger("liquidity.web")
csrf = CSRFProtect()


def create_app(test_config=None):
    """Create the Flask app: embedded defaults, then the environment, then test_config."""
    from liquidity.cli import register_commands
    from liquidity.web import errors, formatting, observability, ratelimit

    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(load_settings())
    if test_config:
        app.config.update(test_config)
    if app.config["LIQUIDITY_ENV"] == "production":
        app.debug = False
    observability.init_app(app)
    register_model(app)
    register_blueprints(app)
    ratelimit.init_app(app)
    errors.init_app(app)
    formatting.init_app(app)
    register_commands(app)
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind N TLS-terminating proxies: trust their X-Forwarded-For/-Proto/-Host (and only theirs), so the
        # client address keys the rate limits and url_for builds https:// links.
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    return app


def register_model(app):
    """Load the verified model once per process; on failure keep the reason for /healthz and the 503 pages."""
    from liquidity.artifacts import ArtifactError
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.web import check_model

    # A model that fails verification is never unpickled, and the app still starts so /healthz can say why.
    app.extensions["liquidity_model"] = None
    app.extensions["liquidity_model_error"] = None
    paths = app.config["ARTIFACT_PATHS"]
    try:
        model = LiquidityModel.load(paths, app.config["LIQUIDITY_THRESHOLD"])
        check_model(model)
    except ArtifactError as error:
        app.extensions["liquidity_model_error"] = str(error)
    except Exception as error:  # a card that verifies but does not fit the code: any error, and still start
        app.extensions["liquidity_model_error"] = (f"{paths.card}: the model card does not fit this app "
                                                   f"({error.__class__.__name__}: {error})")
    else:
        app.extensions["liquidity_model"] = model
    reason = app.extensions["liquidity_model_error"]
    if reason:
        log.error("model not loaded: %s", reason)
        # /healthz is public: it names the file and the fault, not the folders the app is deployed in.
        for folder in {str(path.parent) for path in (paths.model, paths.scaler, paths.card)}:
            reason = reason.replace(folder.rstrip("/") + "/", "")
        app.extensions["liquidity_model_error"] = reason


def register_blueprints(app):
    """Register one blueprint per feature, with CSRF on every form and none on the JSON API."""
    from liquidity.live import views as live
    from liquidity.web import api, batch, docs, health, home, model, report

    csrf.init_app(app)
    for module in (home, model, batch, api, docs, health, report, live):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)
