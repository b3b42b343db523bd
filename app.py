"""Entry point for `flask --app app run` and `gunicorn app:app`."""

from liquidity import create_app
from liquidity.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # A bad setting stops start-up with one line naming the variable, not a traceback.
    raise SystemExit(f"configuration error: {error}") from None
