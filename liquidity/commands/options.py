"""The options and helpers several commands share, defined once."""

import logging
from datetime import date
from pathlib import Path

import click

from liquidity.dataset import DatasetError

DAY = click.DateTime(formats=["%Y-%m-%d"])

data_option = click.option("--data", "data", multiple=True, type=click.Path(path_type=Path),
                           help="snapshot CSV file or folder (repeatable; default DATASET/)")


def database_url_option(purpose):
    """Return the --database-url option (parameter `url`) of a command that uses the market store for purpose."""
    return click.option("--database-url", "url", default=None,
                        help=f"Market store {purpose} (default: DATABASE_URL, else the embedded instance/market.db).")


def iso_date(_ctx, _param, value):
    """Return a YYYY-MM-DD option value as that text, or None; a click.BadParameter for anything else."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-16") from None


def snapshot_date_option(text):
    """Return the --date option (parameter `snapshot_date`, YYYY-MM-DD text) of a command that writes a snapshot."""
    return click.option("--date", "snapshot_date", default=None, callback=iso_date, help=text)


def log_to_stderr():
    """Show the commands' progress logs (INFO and above) on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")


def fail(error):
    """Raise a one-line ClickException for error, naming its type unless it is a DatasetError."""
    if isinstance(error, DatasetError):
        raise click.ClickException(str(error)) from None
    raise click.ClickException(f"{error.__class__.__name__}: {error}") from None


def store_url(url):
    """Return the market store's URL, parsed: url as given, else DATABASE_URL, else the embedded file.

    Raises StoreError naming DATABASE_URL when it is not a URL the store supports.
    """
    from liquidity.settings import database_url
    from liquidity.store import parse_database_url

    return parse_database_url(url or database_url())


def open_store_for_writing(url):
    """Open the market store at url, migrated to the newest schema; say on stderr when the migration changed it."""
    from liquidity.store import MarketStore

    store = MarketStore(url, migrate=True)
    if store.migration.changed:
        click.echo(store.migration.describe(), err=True)
    return store
