"""The daily command: the day's work (ingest, score, forecast, prune) in one run, from cron or a timer."""

from pathlib import Path

import click

from liquidity.alerts import WEBHOOK_RETRIES, WEBHOOK_TIMEOUT_S
from liquidity.commands.options import database_url_option, open_store_for_writing, snapshot_date_option, store_url
from liquidity.ingest import DEFAULT_COINS, DEFAULT_OUT


@click.command("daily")
@click.option("--coins", type=click.IntRange(min=1), default=DEFAULT_COINS, show_default=True,
              help="How many coins to ingest, largest market cap first.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default="DATASET/", help="Folder for the snapshot CSV.")
@click.option("--base-url", default=None, help="CoinGecko API base URL (default: COINGECKO_BASE_URL, else CoinGecko).")
@snapshot_date_option("Snapshot date YYYY-MM-DD (default: today, UTC).")
@click.option("--skip-ingest", is_flag=True, help="Do not fetch: forecast the latest snapshot already stored.")
@click.option("--keep-days", type=click.IntRange(min=1), default=None,
              help="Days the prediction log keeps a row  [default: LIQUIDITY_LOG_KEEP_DAYS, else 365]")
@click.option("--webhook-timeout", type=click.FloatRange(min=0.1, max=60), default=WEBHOOK_TIMEOUT_S,
              show_default=True, help="Seconds an alert's webhook has to answer each attempt.")
@click.option("--webhook-retries", type=click.IntRange(min=0, max=10), default=WEBHOOK_RETRIES, show_default=True,
              help="Attempts after the first when a webhook fails (waiting 1, 2, 4 ... s between them).")
@database_url_option("to run on, migrated to the newest schema")
def daily_command(coins, out, base_url, snapshot_date, skip_ingest, keep_days, webhook_timeout, webhook_retries, url):
    """Ingest today's snapshot, score the forecasts it settles, forecast and log every coin, prune the log.

    After the forecasts, check the alert rules set on /alerts and deliver each new alert once (to the page, and to
    the rule's webhook)."""
    from liquidity.artifacts import ArtifactError
    from liquidity.coingecko import CoinGeckoClient, CoinGeckoError
    from liquidity.daily import forecast_and_score, ingest_today, scored_count
    from liquidity.forecasting import ForecastError
    from liquidity.ingest import IngestError
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.settings import SettingError, artifact_paths, coingecko_settings, log_keep_days
    from liquidity.store import StoreError

    try:
        keep_days = keep_days or log_keep_days()
        database = store_url(url)
        # Load the model first: a bad artifact stops the run before it spends any API quota.
        model = LiquidityModel.load(artifact_paths())
        with open_store_for_writing(database) as store:
            before = scored_count(store)
            if skip_ingest:
                ingested = "ingest skipped (--skip-ingest)"
            else:
                coingecko = coingecko_settings()
                with CoinGeckoClient(base_url or coingecko.base_url, coingecko.api_key, coingecko.plan) as client:
                    ingested = ingest_today(out, coins, client, snapshot_date, database)
            result = forecast_and_score(store, model, ingested, keep_days, scored_before=before,
                                        webhooks={"timeout": webhook_timeout, "retries": webhook_retries})
    except (ArtifactError, CoinGeckoError, ForecastError, IngestError, SettingError, StoreError, OSError,
            ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(result.summary())
