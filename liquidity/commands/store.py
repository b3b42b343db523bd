"""Commands on the market store: import snapshot CSVs into it, forecast what it holds."""

import sys
from functools import partial
from pathlib import Path

import click

from liquidity.commands.options import DAY, database_url_option, open_store_for_writing, store_url


@click.command("import")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
@database_url_option("to import into, migrated to the newest schema")
@click.option("--if-empty", is_flag=True, help="Import only into an empty store (how make run builds the demo store).")
def import_command(paths, url, if_empty):
    """Import snapshot CSV files or folders into the market store; rows already stored are skipped."""
    from liquidity.dataset import DatasetError, check_snapshot_header, snapshot_files
    from liquidity.store import StoreError
    from liquidity.store.importer import import_snapshots, quiet_loader

    try:
        database = store_url(url)
        # Bad input (no such file, unreadable, a missing column) stops the command before it touches the store;
        # --if-empty reads the files only when needed.
        for file in [] if if_empty else [file for path in paths for file in snapshot_files(path)]:
            check_snapshot_header(file)
        with open_store_for_writing(database) as store:
            if if_empty and (stored := store.count()):
                click.echo(f"the store already holds {stored:,} row(s); nothing imported (--if-empty)")
                return
            bar = partial(click.progressbar, label="importing", file=sys.stderr)
            with quiet_loader():  # the summary lists the loader's drops once
                result = import_snapshots(paths, store, progress=bar)
    except (DatasetError, StoreError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(result.summary())


@click.command("forecast")
@click.option("--start", type=DAY, default=None, help="first snapshot date to forecast (YYYY-MM-DD)")
@click.option("--end", type=DAY, default=None, help="last snapshot date to forecast, inclusive")
@click.option("--date", "day", type=DAY, default=None,
              help="one snapshot date (instead of --start/--end)  [default: the latest stored date]")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV file to write")
@database_url_option("to read")
@click.option("--log/--no-log", default=True, show_default=True,
              help="log the forecasts in the store's prediction log (source 'forecast command')")
def forecast_command(start, end, day, out, url, log):
    """Forecast every stored coin on each snapshot date in a range: one CSV row per coin per date."""
    from liquidity.artifacts import ArtifactError
    from liquidity.csvsafe import neutralise_frame
    from liquidity.files import write_atomically
    from liquidity.forecasting import FORECAST_COLUMNS, ForecastError, forecast_dates, stored_dates
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.settings import artifact_paths
    from liquidity.store import MarketStore, StoreError

    if day and (start or end):
        raise click.UsageError("give --date, or --start and --end, not both")
    if (start is None) != (end is None):
        raise click.UsageError("--start and --end go together (or give --date for one day)")
    if start and start > end:
        raise click.UsageError(f"--start {start:%Y-%m-%d} is after --end {end:%Y-%m-%d}")
    try:
        model = LiquidityModel.load(artifact_paths())
        with MarketStore(store_url(url)) as store:
            if start is None:
                first = last = f"{day:%Y-%m-%d}" if day else store.latest_date()
                if first is None:
                    raise ForecastError("the market store is empty: import snapshots first "
                                        "(python -m liquidity import DATASET)")
            else:
                first, last = f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"
            dates = stored_dates(store, first, last)
            if not dates:
                raise ForecastError(f"no stored snapshot from {first} to {last}")
            forecasts = forecast_dates(store, model, dates)
            if log:
                log_command_forecasts(store, model, forecasts, dates)
        table = neutralise_frame(forecasts[list(FORECAST_COLUMNS)])
        write_atomically(out, table.to_csv(index=False).encode())
    except (ArtifactError, ForecastError, StoreError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {len(forecasts):,} forecast(s) for {len(dates)} snapshot date(s), {dates[0]} to {dates[-1]}, "
               f"to {out}")


def log_command_forecasts(store, model, forecasts, dates):
    """Log the command's forecasts with their inputs in one transaction and score those whose outcome is stored;
    a store error warns and does not stop the command."""
    from liquidity.store import StoreError
    from liquidity.store.predictions import forecast_rows, log_forecasts, score_outcomes

    try:
        inputs = store.history(start=dates[0], end=dates[-1])
        log_forecasts(store, forecast_rows(forecasts, inputs=inputs), source="forecast command",
                      model_version=model.version)
        score_outcomes(store)  # forecasts of past dates: their next snapshot is stored already
    except StoreError as error:
        click.echo(f"warning: the forecasts were not logged: {error}", err=True)
