"""Entry point for `flask --app app run` and `gunicorn app:app`."""

from liquidity.web import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    # A bad setting stops start-up with one line naming the variable, not a traceback.
    raise SystemExit(f"configuration error: {error}") from None
