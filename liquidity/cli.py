"""Flask CLI commands: `flask --app app train | ingest | report`."""

from pathlib import Path

import click

from liquidity.config import PROJECT_ROOT
from liquidity.ingest import ingest_command
from liquidity.report import report_command
from liquidity.store.importer import import_command


@click.command("train")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path),
              help="snapshot CSV file or folder (repeatable; default DATASET/)")
@click.option("--out", type=click.Path(path_type=Path), default=PROJECT_ROOT, show_default=True,
              help="folder for the pkls and model_card.json")
@click.option("--quick", is_flag=True, help="tiny grid, for a fast look")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="coin-grouped CV folds")
def train_command(data, out, quick, folds):
    """Train the model on snapshot CSVs and write the artifacts."""
    from liquidity.dataset import DatasetError
    from liquidity.modeling.train import DEFAULT_DATA, QUICK_GRID, train

    try:
        out.mkdir(parents=True, exist_ok=True)  # fail on an unusable --out before minutes of training
        train(list(data) or [DEFAULT_DATA], out, grid=QUICK_GRID if quick else None, n_folds=folds,
              progress=click.echo, verbose=0)
    except DatasetError as error:
        raise click.ClickException(str(error)) from None
    except (OSError, ValueError) as error:
        raise click.ClickException(f"{error.__class__.__name__}: {error}") from None


COMMANDS = [train_command, ingest_command, report_command]
COMMANDS.append(import_command)  # issue 11: the market store import; moves into the click group with issue 10


def register_commands(app):
    """Add every command in COMMANDS to app's CLI."""
    for command in COMMANDS:
        app.cli.add_command(command)
