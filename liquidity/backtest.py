"""Backtest the current model over the stored history: on each stored snapshot date, the forecasts the forecast
command reproduces for that date (the same rows, the same model, the intervals calibrated on what was known by then),
stored apart from the live log and scored against what happened.

No web code: the import command (--backtest) and the monitor page's button both run run_backtest.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class BacktestResult:
    """What one backtest run wrote: forecasts (every coin, date and horizon), how many have an outcome, its dates."""

    model_version: str
    dates: int
    first_date: str | None
    last_date: str | None
    forecasts: int
    scored: int

    def summary(self):
        """Return one line saying what the backtest did."""
        if not self.dates:
            return "backtest: the store holds no snapshot to backtest on"
        return (f"backtest of model {self.model_version}: {self.forecasts:,} forecast(s) from {self.dates} snapshot "
                f"date(s), {self.first_date} to {self.last_date}, {self.scored:,} of them scored against what "
                "happened (stored apart from the live log)")


def run_backtest(store, model, now=None):
    """Forecast every coin of every stored snapshot date at every horizon of model as the forecast command would,
    replace model's earlier backtest with them and score them; return a BacktestResult."""
    from liquidity.forecasting import calibrations_as_of, forecast_dates, horizon_log_rows
    from liquidity.store.backtests import replace_backtest

    dates = store.dates()
    if not dates:
        return BacktestResult(str(model.version), 0, None, None, 0, 0)
    # The live log's outcomes known by each date, as the forecast command draws that date's intervals.
    calibrations = calibrations_as_of(store, model, dates)
    forecasts = forecast_dates(store, model, dates, {day: c.tables for day, c in calibrations.items()})
    rows = horizon_log_rows(model, forecasts)
    written, scored = replace_backtest(store, rows, model.version, now=now)
    return BacktestResult(str(model.version), len(dates), dates[0], dates[-1], written, scored)
