"""Entry point for `flask --app app run` and `gunicorn app:app`."""

from liquidity import create_app

app = create_app()
