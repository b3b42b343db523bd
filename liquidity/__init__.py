"""Crypto liquidity predictor: data, model and web app."""

from flask import Flask

from liquidity.config import PROJECT_ROOT


def create_app(test_config=None):
    """Create the Flask app: embedded defaults, then the environment, then test_config."""
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    if test_config:
        app.config.update(test_config)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
