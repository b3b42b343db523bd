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
@click.option("--backtest", is_flag=True,
              help="Then backtest the current model over the whole stored history: what it would have forecast on "
                   "each date, scored against what happened, kept apart from the live log (shown on /monitor).")
def import_command(paths, url, if_empty, backtest):
    """Import snapshot CSV files or folders into the market store; rows already stored are skipped."""
    from liquidity.artifacts import ArtifactError
    from liquidity.dataset import DatasetError, check_snapshot_header, snapshot_files
    from liquidity.forecasting import ForecastError
    from liquidity.store import StoreError
    from liquidity.store.backtests import score_backtests
    from liquidity.store.importer import import_snapshots, quiet_loader

    try:
        database = store_url(url)
        # Load the model first: a bad artifact stops a backtest's import before it writes anything.
        model = _load_model() if backtest else None
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
            score_backtests(store)  # a backtest's forecasts whose outcome these rows bring
            click.echo(result.summary())
            if model is not None:
                from liquidity.backtest import run_backtest

                click.echo(run_backtest(store, model).summary())
    except (ArtifactError, DatasetError, ForecastError, StoreError) as error:
        raise click.ClickException(str(error)) from None


def _load_model():
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.settings import artifact_paths

    return LiquidityModel.load(artifact_paths())


def parse_horizons(context, parameter, value):
    """Return --horizon's days ahead as a tuple of whole numbers ("1,7,30"), or None for the model's."""
    if value is None:
        return None
    try:
        horizons = tuple(dict.fromkeys(int(part) for part in value.split(",")))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of days, e.g. 1,7,30") from None
    return horizons


@click.command("forecast")
@click.option("--start", type=DAY, default=None, help="first snapshot date to forecast (YYYY-MM-DD)")
@click.option("--end", type=DAY, default=None, help="last snapshot date to forecast, inclusive")
@click.option("--date", "day", type=DAY, default=None,
              help="one snapshot date (instead of --start/--end)  [default: the latest stored date]")
@click.option("--horizon", "horizons", callback=parse_horizons, metavar="DAYS",
              help="days ahead, comma-separated, each a column set of the CSV  [default: every horizon of the model, "
                   "e.g. 1,7,30]")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), required=True,
              help="CSV file to write ('-': standard output)")
@database_url_option("to read")
@click.option("--log/--no-log", default=True, show_default=True,
              help="log the forecasts, every horizon of the model, in the store's prediction log (source "
                   "'forecast command')")
def forecast_command(start, end, day, horizons, out, url, log):
    """Forecast every stored coin on each snapshot date in a range: one CSV row per coin per date.

    Each date's intervals are calibrated only on the outcomes known by then, as the daily command drew them.
    """
    from liquidity.artifacts import ArtifactError
    from liquidity.csvsafe import neutralise_frame
    from liquidity.files import write_atomically
    from liquidity.forecasting import (
        FORECAST_COLUMNS,
        ForecastError,
        calibrations_as_of,
        forecast_dates,
        horizon_columns,
        stored_dates,
    )
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
        horizons = horizons or model.horizons
        unknown = [h for h in horizons if h not in model.horizons]
        if unknown:
            raise click.UsageError(f"--horizon {unknown[0]}: the model forecasts "
                                   f"{', '.join(map(str, model.horizons))} day(s) ahead")
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
            # Read from the log before this run logs anything: each date sees the outcomes known by then.
            calibrations = calibrations_as_of(store, model, dates)
            forecasts = forecast_dates(store, model, dates, {d: c.tables for d, c in calibrations.items()})
            if log:
                log_command_forecasts(store, model, forecasts, dates)
        columns = [*FORECAST_COLUMNS, *(column for h in horizons for column in horizon_columns(h))]
        text = neutralise_frame(forecasts[columns]).to_csv(index=False)
        if str(out) == "-":
            click.echo(text, nl=False)
        else:
            write_atomically(out, text.encode())
    except (ArtifactError, ForecastError, StoreError, OSError) as error:
        raise click.ClickException(str(error)) from None
    recalibrated = sum(bool(c.recalibrated) for c in calibrations.values())
    click.echo(f"wrote {len(forecasts):,} forecast(s) for {len(dates)} snapshot date(s), {dates[0]} to {dates[-1]}, "
               f"{'/'.join(map(str, horizons))} day(s) ahead, to {'standard output' if str(out) == '-' else out}; "
               f"intervals recalibrated on logged outcomes on {recalibrated} date(s) (one horizon or more), the model "
               "card's otherwise",
               err=str(out) == "-")


def log_command_forecasts(store, model, forecasts, dates):
    """Log the command's forecasts at every horizon with their inputs in one transaction and score those whose outcome
    is stored; a store error warns and does not stop the command."""
    from liquidity.forecasting import horizon_log_rows
    from liquidity.store import StoreError
    from liquidity.store.predictions import log_forecasts, score_outcomes

    try:
        inputs = store.history(start=dates[0], end=dates[-1])
        log_forecasts(store, horizon_log_rows(model, forecasts, inputs=inputs), source="forecast command",
                      model_version=model.version)
        score_outcomes(store)  # forecasts of past dates: their outcome is stored already
    except StoreError as error:
        click.echo(f"warning: the forecasts were not logged: {error}", err=True)
