"""The project's commands, one click group for `python -m liquidity <cmd>` and `flask --app app <cmd>`.

Add a command with one line in COMMANDS (its name and "module:object"); create_app adds every command of
`cli` to the app's CLI. A command's module is imported only when that command runs (or the app starts), so
`python -m liquidity ingest` loads neither scikit-learn nor the report's templates.
"""

import importlib
import logging
from pathlib import Path

import click

from liquidity.dataset import DatasetError
from liquidity.paths import DATASET_DIR, PROJECT_ROOT

COMMANDS = {
    "train": "liquidity.cli:train_command",
    "verify": "liquidity.cli:verify_command",
    "report": "liquidity.report:report_command",
    "ingest": "liquidity.ingest:ingest_command",
    "dataset": "liquidity.cli:dataset_command",
    "predict": "liquidity.cli:predict_command",
    "import": "liquidity.store.importer:import_command",
    "forecast": "liquidity.cli:forecast_command",
    "daily": "liquidity.daily:daily_command",
}


def log_to_stderr():
    """Show the commands' progress logs (INFO and above) on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")


def fail(error):
    """Raise a one-line ClickException for error, naming its type unless it is a DatasetError."""
    if isinstance(error, DatasetError):
        raise click.ClickException(str(error)) from None
    raise click.ClickException(f"{error.__class__.__name__}: {error}") from None


data_option = click.option("--data", "data", multiple=True, type=click.Path(path_type=Path),
                           help="snapshot CSV file or folder (repeatable; default DATASET/)")


@click.command("train")
@data_option
@click.option("--out", type=click.Path(path_type=Path), default=PROJECT_ROOT, show_default="project root",
              help="folder for the pkls and model_card.json")
@click.option("--quick", is_flag=True, help="tiny grid, for a fast look")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="coin-grouped CV folds")
@click.option("--seed", type=int, default=None, help="random seed of the forest  [default: train()'s, 42]")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="score at or above which the level is High  [default: train()'s, 0.5]")
@click.option("--jobs", type=int, default=-1, show_default=True, help="parallel jobs for the grid search")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="first pair date trained on (earlier rows still feed the history features)")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="last pair date trained on")
@click.option("--max-rows", type=click.IntRange(100, 10_000_000), default=None,
              help="rows sampled (seeded) for each fit  [default: TrainingConfig's, 60000]")
def train_command(data, out, quick, folds, seed, threshold, jobs, since, until, max_rows):
    """Train the model on snapshot CSVs and write the artifacts."""
    from liquidity.modeling.train import QUICK_GRID, TrainingConfig, train

    log_to_stderr()
    # Unset options keep train()'s and TrainingConfig's own defaults, so they are defined once, there.
    chosen = {name: value for name, value in (("seed", seed), ("threshold", threshold)) if value is not None}
    window = {name: f"{value:%Y-%m-%d}" for name, value in (("since", since), ("until", until)) if value is not None}
    config = TrainingConfig(**window, **({"max_rows": max_rows} if max_rows else {}))
    try:
        out.mkdir(parents=True, exist_ok=True)  # fail on an unusable --out before minutes of training
        train(list(data) or [DATASET_DIR], out, grid=QUICK_GRID if quick else None, n_folds=folds, n_jobs=jobs,
              progress=click.echo, verbose=0, config=config, **chosen)
    except (DatasetError, OSError, ValueError) as error:
        fail(error)


@click.command("verify")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(path_type=Path),
              help="the snapshot files or folders the committed model was trained on (repeatable)")
@click.option("--card", type=click.Path(path_type=Path), default=None, show_default="the committed model card",
              help="model card to check")
def verify_command(data, card):
    """Check the pkls beside --card against it and retrain its verification run on --data; exit 1 on any difference."""
    from liquidity.artifacts import ArtifactError, default_artifact_paths
    from liquidity.modeling.verify import verify

    try:
        differences = verify(list(data), card)
    except (ArtifactError, DatasetError, OSError) as error:
        raise click.ClickException(str(error)) from None
    if differences:
        raise click.ClickException("\n  ".join(["the model differs from its model card:", *differences]))
    click.echo(f"probe scores and the retrained verification figures match {card or default_artifact_paths().card}")


@click.command("dataset")
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
def dataset_command(data):
    """Summarise the snapshots at DATA (files or folders): rows, dates, drops and pairs."""
    from liquidity.dataset import load_snapshots, make_pairs

    log_to_stderr()
    try:
        snapshots = load_snapshots(list(data))
        pairs = make_pairs(snapshots.frame)
    except DatasetError as error:
        fail(error)
    click.echo(f"files: {len(snapshots.files)}  rows read: {snapshots.rows_read}  kept: {len(snapshots.frame)}")
    click.echo(f"dates: {', '.join(snapshots.dates)}  next-snapshot pairs: {len(pairs)}")
    for text, count in snapshots.dropped.most_common():
        click.echo(f"dropped {count:>5}  {text}")


@click.command("predict")
@click.argument("volume")
@click.argument("mkt_cap")
@click.argument("h1")
@click.argument("price")
def predict_command(volume, mkt_cap, h1, price):
    """Print the forecast for one coin: 24h VOLUME (USD), MKT_CAP (USD), H1 (a fraction), PRICE (USD)."""
    from liquidity.artifacts import ArtifactError
    from liquidity.modeling.predict import predict_liquidity

    try:
        prediction = predict_liquidity(volume, mkt_cap, h1, price)
    except (ValueError, ArtifactError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"liquidity score {prediction.score:.3f}  level {prediction.level}")


day_option = click.DateTime(formats=["%Y-%m-%d"])


@click.command("forecast")
@click.option("--start", type=day_option, default=None, help="first snapshot date to forecast (YYYY-MM-DD)")
@click.option("--end", type=day_option, default=None, help="last snapshot date to forecast, inclusive")
@click.option("--date", "day", type=day_option, default=None,
              help="one snapshot date (instead of --start/--end)  [default: the latest stored date]")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV file to write")
@click.option("--database-url", "url", default=None,
              help="market store to read (default: DATABASE_URL, else the embedded instance/market.db)")
@click.option("--log/--no-log", default=True, show_default=True,
              help="log the forecasts in the store's prediction log (source 'forecast command')")
def forecast_command(start, end, day, out, url, log):
    """Forecast every stored coin on each snapshot date in a range: one CSV row per coin per date."""
    from liquidity.artifacts import ArtifactError, default_artifact_paths
    from liquidity.csvsafe import neutralise_frame
    from liquidity.files import write_atomically
    from liquidity.forecasting import FORECAST_COLUMNS, ForecastError, forecast_dates, stored_dates
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.store import MarketStore, StoreError

    if day and (start or end):
        raise click.UsageError("give --date, or --start and --end, not both")
    if (start is None) != (end is None):
        raise click.UsageError("--start and --end go together (or give --date for one day)")
    if start and start > end:
        raise click.UsageError(f"--start {start:%Y-%m-%d} is after --end {end:%Y-%m-%d}")
    try:
        model = LiquidityModel.load(default_artifact_paths())
        with MarketStore(url) as store:
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


class LazyGroup(click.Group):
    """A click group whose commands (COMMANDS) are imported when they are asked for."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx, name):
        if name in COMMANDS and name not in self.commands:
            module, _, attribute = COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def all_commands(self):
        """Return {name: command} for every command, importing each."""
        return {name: self.get_command(None, name) for name in self.list_commands(None)}


@click.group("liquidity", cls=LazyGroup)
def cli():
    """Crypto liquidity predictor: train, verify, report, ingest and summarise data."""
