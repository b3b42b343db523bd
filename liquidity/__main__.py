"""Run the project's commands: python -m liquidity <train|verify|report|ingest|dataset|predict> ..."""

from liquidity.cli import cli

cli(prog_name="python -m liquidity")
