"""The report command: build EDA_REPORT/ from snapshot CSVs and the trained model."""

from pathlib import Path

import click

from liquidity.commands.options import data_option
from liquidity.paths import DATASET_DIR, PROJECT_ROOT, REPORT_DIR


@click.command("report", help="Build the EDA report (HTML and figures) from snapshot CSVs and the trained model.")
@data_option
@click.option("--model-dir", type=click.Path(path_type=Path), default=PROJECT_ROOT, show_default="project root",
              help="folder holding model_card.json and cv_predictions.csv.gz")
@click.option("--out", type=click.Path(path_type=Path), default=REPORT_DIR, show_default="EDA_REPORT/",
              help="folder for report.html, report.css and figures/")
def report_command(data, model_dir, out):
    """Build the EDA report and say where it went."""
    from liquidity.dataset import DatasetError
    from liquidity.report import ReportError, build_report

    try:
        built = build_report(list(data) or [DATASET_DIR], model_dir, out)
    except (DatasetError, ReportError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # e.g. an --out that cannot be created
        raise click.ClickException(f"{error.filename or out}: {error.strerror or error}") from None
    click.echo(f"wrote {built.html} with {len(built.figures)} figures")
