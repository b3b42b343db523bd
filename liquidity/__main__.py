"""Run the project's commands: python -m liquidity <train|verify|report|ingest|dataset|predict|import|...> ..."""

from liquidity.commands import cli

cli(prog_name="python -m liquidity")
