"""Every command of the project, one click group for `python -m liquidity <cmd>` and `flask --app app <cmd>`.

Add a command with one entry in COMMANDS: its name, "module:object" and its help's first sentence (what command lists
show; tests/test_cli.py checks that it is the command's own).
A command's module is imported only when that command runs or shows its help, so `python -m liquidity ingest`
loads neither scikit-learn nor the report's templates, and the web app (init_app) imports no command module at all.
"""

import functools
import importlib

import click

COMMANDS = {
    "train": ("liquidity.commands.model:train_command", "Train the model on snapshot CSVs and write the artifacts."),
    "verify": ("liquidity.commands.model:verify_command",
               "Check the pkls beside --card against it and retrain its verification run on --data; exit 1 on any "
               "difference."),
    "report": ("liquidity.commands.report:report_command",
               "Build the EDA report (HTML and figures) from snapshot CSVs and the trained model."),
    "ingest": ("liquidity.commands.ingest:ingest_command",
               "Snapshot CoinGecko's top coins into DATASET/coingecko_<date>.csv and the market store."),
    "dataset": ("liquidity.commands.model:dataset_command",
                "Summarise the snapshots at DATA (files or folders): rows, dates, drops and pairs."),
    "predict": ("liquidity.commands.model:predict_command",
                "Print the forecast for one coin: 24h VOLUME (USD), MKT_CAP (USD), H1 (a fraction), PRICE (USD)."),
    "import": ("liquidity.commands.store:import_command",
               "Import snapshot CSV files or folders into the market store; rows already stored are skipped."),
    "forecast": ("liquidity.commands.store:forecast_command",
                 "Forecast every stored coin on each snapshot date in a range: one CSV row per coin per date."),
    "daily": ("liquidity.commands.daily:daily_command",
              "Ingest today's snapshot, score the forecasts it settles, forecast and log every coin, prune the log."),
}


def load_command(name):
    """Import and return the click command registered as name in COMMANDS."""
    module, _, attribute = COMMANDS[name][0].partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyCommand(click.Command):
    """A command that imports its module only when it runs or shows its help; lists show its one-line help."""

    def __init__(self, name):
        # The help text, not short_help: lists shorten it to their width exactly as they do the real command's.
        super().__init__(name, help=COMMANDS[name][1], add_help_option=False)

    @functools.cached_property
    def command(self):
        """The real click command, imported on first use."""
        return load_command(self.name)

    @property
    def params(self):
        return self.command.params

    @params.setter
    def params(self, _value):  # click.Command.__init__ assigns []: the real command's params are the ones that count
        pass

    def make_context(self, info_name, args, parent=None, **extra):
        # The real command parses the arguments and runs; its context is the one the group invokes.
        return self.command.make_context(info_name, args, parent=parent, **extra)

    def get_help(self, ctx):
        return self.command.get_help(ctx)

    def get_usage(self, ctx):
        return self.command.get_usage(ctx)


def lazy_commands():
    """Return {name: LazyCommand} for every command of COMMANDS."""
    return {name: LazyCommand(name) for name in COMMANDS}


def init_app(app):
    """Add every command to app's `flask` CLI, lazily: none of their modules is imported into the web process."""
    for command in lazy_commands().values():
        app.cli.add_command(command)


@click.group("liquidity", commands=lazy_commands())
def cli():
    """Crypto liquidity predictor: train, verify, report, ingest and summarise data."""
