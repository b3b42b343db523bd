"""The ingest command: snapshot CoinGecko's /coins/markets into a dated CSV and the market store."""

from pathlib import Path

import click

from liquidity.coingecko import PER_PAGE
from liquidity.commands.options import database_url_option, snapshot_date_option, store_url
from liquidity.ingest import DEFAULT_COINS, DEFAULT_OUT


@click.command("ingest")
@click.option("--coins", type=click.IntRange(min=1), default=DEFAULT_COINS, show_default=True,
              help="How many coins to fetch, largest market cap first.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default="DATASET/", help="Folder for the snapshot CSV.")
@click.option("--base-url", default=None,
              help="CoinGecko API base URL (default: COINGECKO_BASE_URL, else CoinGecko's public or pro API).")
@snapshot_date_option("Snapshot date YYYY-MM-DD written into the rows and the file name (default: today, UTC).")
@click.option("--overwrite", is_flag=True, help="Replace an existing snapshot for the same date.")
@click.option("--per-page", type=click.IntRange(1, PER_PAGE), default=PER_PAGE, show_default=True,
              help="Coins per request page.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for each response.")
@click.option("--retries", type=click.IntRange(min=0), default=4, show_default=True,
              help="Retries on connection errors, 5xx and 429.")
@click.option("--max-wait", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Longest pause in seconds between retries (caps Retry-After and backoff).")
@database_url_option("the snapshot also goes into, migrated to the newest schema")
def ingest_command(coins, out, base_url, snapshot_date, overwrite, per_page, timeout, retries, max_wait, url):
    """Snapshot CoinGecko's top coins into DATASET/coingecko_<date>.csv and the market store."""
    from liquidity.coingecko import CoinGeckoClient, CoinGeckoError
    from liquidity.ingest import IngestError, PageProgress, ingest, page_count
    from liquidity.settings import SettingError, coingecko_settings
    from liquidity.store import StoreError

    try:
        coingecko = coingecko_settings()
        # A bad DATABASE_URL stops the command before it spends any API quota.
        database = store_url(url)
    except (SettingError, StoreError) as error:
        raise click.ClickException(str(error)) from None
    client = CoinGeckoClient(base_url or coingecko.base_url, coingecko.api_key, coingecko.plan, read_timeout=timeout,
                             retries=retries, backoff=min(1.0, max_wait), max_wait=max_wait)
    with client:
        progress = PageProgress(pages=page_count(coins, per_page)[1], coins=coins)
        try:
            result = ingest(out, coins, client=client, snapshot_date=snapshot_date, overwrite=overwrite,
                            progress=progress, per_page=per_page, database=database)
        except (CoinGeckoError, IngestError, OSError) as error:
            progress.finish()
            raise click.ClickException(str(error)) from None
    if result.migration is not None and result.migration.changed:
        click.echo(result.migration.describe(), err=True)
    click.echo(result.summary())
