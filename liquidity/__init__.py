"""Crypto liquidity predictor: data, model and web app."""

import logging

from flask import Flask

from liquidity.config import PROJECT_ROOT, load_settings

log = logging.getLogger("liquidity.web")


def create_app(test_config=None):
    """Create the Flask app: embedded defaults, then the environment, then test_config."""
    from flask_wtf.csrf import CSRFProtect

    from liquidity.artifacts import ArtifactError
    from liquidity.cli import register_commands
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.web import api, batch, errors, formatting, health, home, model, observability, report

    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(load_settings())
    if test_config:
        app.config.update(test_config)
    if app.config["LIQUIDITY_ENV"] == "production":
        app.debug = False
    observability.init_app(app)

    # Loaded once per process; a model that fails verification is never unpickled, and the app still
    # starts so /healthz can say why.
    app.extensions["liquidity_model"] = None
    app.extensions["liquidity_model_error"] = None
    try:
        app.extensions["liquidity_model"] = LiquidityModel.load(app.config["ARTIFACT_PATHS"],
                                                                app.config["LIQUIDITY_THRESHOLD"])
    except ArtifactError as error:
        app.extensions["liquidity_model_error"] = str(error)
        log.error("model not loaded: %s", error)

    csrf = CSRFProtect(app)
    for module in (home, model, batch, api, health, report):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)
    errors.init_app(app)
    formatting.init_app(app)
    register_commands(app)
    return app
