"""One coin, one answer: a batch row, an API item or the form that names a coin the store knows is forecast from the
coin's stored history (the coin page's path: the read model's coin forecast), any other from its four inputs alone,
and every answer says which (its basis) and why.

A named coin is forecast from its history when the values given are its stored row's (the latest snapshot's, or the
one of the date given): the same day's values get the coin page's answer. Values that differ from the stored row are
other data (a later day, a typo), so they are forecast as given, from the four inputs alone, and the note says so.
"""

import math
from dataclasses import dataclass
from datetime import date as Date

from liquidity.forecasting import ForecastError
from liquidity.schema import BY_COLUMN

HISTORY, INPUTS = "history", "inputs"
INPUTS_NOTE = "from the four inputs alone; the coin's history was not used"
# Values within this relative difference of the stored row's are that row (read off a page, rounded in a spreadsheet).
SAME_VALUE = 0.005
# A 1h change within this (a fraction: 0.05 percentage points) of the stored one is the same.
SAME_H1 = 0.0005
# A batch's distinct coin-and-date pairs on dates other than the latest, each read from the store; past this many the
# other rows are forecast from their inputs (the latest snapshot's coins are in memory and have no such limit).
OTHER_DATES = 200
# Rows a repeated coin's note names; past these it counts the others.
REPEATS_NAMED = 3


@dataclass(frozen=True)
class Basis:
    """What a forecast was made from: "history" (with the coin's forecast) or "inputs", and a note saying so."""

    kind: str
    note: str
    forecast: object = None  # the coin's CoinHorizonsForecast when kind is "history"

    @property
    def from_history(self):
        return self.kind == HISTORY


def inputs_basis(reason=None):
    """Return the Basis of a forecast from the four inputs alone, with the reason a named coin's history was not
    used."""
    return Basis(INPUTS, INPUTS_NOTE if not reason else f"{INPUTS_NOTE}: {reason}")


INPUTS_ONLY = inputs_basis()  # a row that names no coin


def history_basis(forecast):
    """Return the Basis of a coin's forecast from its stored history."""
    return Basis(HISTORY, f"from {forecast.coin}'s stored history (snapshot of {forecast.date})", forecast)


def model_uses_h1(model):
    """Return True when the model's forest splits on the 1h change at all (the current one, trained on the daily
    history that has none, gives it no weight)."""
    return bool(model.card.get("feature_importances", {}).get("h1", 0.0))


def differing(model, values, forecast):
    """Return the labels of the values ({column: number}, 1h NaN when missing) that differ from the coin's stored row
    its forecast carries."""
    stored = {"volume": forecast.volume, "mkt_cap": forecast.mkt_cap, "price": forecast.price}
    labels = [BY_COLUMN[column].label for column, value in stored.items()
              if not math.isclose(values[column], value, rel_tol=SAME_VALUE)]
    if model_uses_h1(model):
        given, kept = values["1h"], forecast.h1
        if (given != given) != (kept is None) or (kept is not None and abs(given - kept) > SAME_H1):
            labels.append(BY_COLUMN["1h"].label)
    return labels


def named(coin_id="", symbol="", name=""):
    """Return how a row names its coin, for messages ('' when it names none)."""
    return coin_id or " ".join(part for part in (name, f"({symbol})" if name and symbol else symbol) if part)


def coin_basis(market, model, values, coin_id="", symbol="", name="", date=None, forecasts=None):
    """Return the Basis of a forecast of values ({column: number}) for a row naming a coin by coin_id, symbol or
    name (each '' when not given) on date (None: the latest stored).

    market: the MarketState, or None when the store cannot be read. forecasts: a dict kept across the rows of one
    batch, {(coin_id, date): CoinHorizonsForecast or None}, so each is looked up once.
    """
    coin_id, symbol, name = (str(text or "").strip() for text in (coin_id, symbol, name))
    if not (coin_id or symbol or name):
        return INPUTS_ONLY
    if market is None:
        return inputs_basis("the market store could not be read")
    if market.latest is None:
        return inputs_basis("the market store is empty")
    return found_basis(market, model, values, market.coin_lookup().find(coin_id, symbol, name),
                       named(coin_id, symbol, name), date, forecasts)


def found_basis(market, model, values, found, text, date=None, forecasts=None):
    """Return coin_basis's Basis once the row's coin is looked up: found, its coin_id in the store (None: none of
    the latest snapshot), text how the row names it; market holds a snapshot."""
    if found is None:
        return inputs_basis(f"no coin of the latest stored snapshot ({market.latest}) is named {text!r}")
    day = None if date is None or date == market.latest else date
    key = (found, day)
    if forecasts is not None and key in forecasts:
        forecast = forecasts[key]
    elif forecasts is not None and day is not None and sum(other is not None for _, other in forecasts) >= OTHER_DATES:
        return inputs_basis(f"only the first {OTHER_DATES} coins and dates before the latest snapshot of one file are "
                            "looked up in the store")
    else:
        try:
            forecast = market.coin_forecast(found, day)
        except ForecastError:
            forecast = None
        if forecasts is not None:
            forecasts[key] = forecast
    if forecast is None:
        return inputs_basis(f"the store holds no snapshot of {text!r} on {day or market.latest}"
                            + ("" if day else " (the latest)"))
    different = differing(model, values, forecast)
    if different:
        return inputs_basis(f"the {_listed(different)} given {'differs' if len(different) == 1 else 'differ'} from "
                            f"{forecast.coin}'s stored snapshot of {forecast.date}")
    return history_basis(forecast)


def _listed(parts):
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def as_forecast(model, coin_forecast):
    """Return a coin's 1-day forecast from its history as the four-input path's Forecast (implied volume at its
    stored market cap), for the pages and answers that show either."""
    from liquidity.modeling.predict import Forecast

    ratio = model.ratio_for_one_score(float(coin_forecast.forecast_score))
    h1 = math.nan if coin_forecast.h1 is None else coin_forecast.h1
    return Forecast(coin_forecast.forecast_score, coin_forecast.level, coin_forecast.band_low,
                    coin_forecast.band_high, ratio, ratio * coin_forecast.mkt_cap,
                    model.out_of_range(coin_forecast.volume, coin_forecast.mkt_cap, h1, coin_forecast.price))


def market_or_none():
    """Return the request's MarketState, or None when the store cannot be read (a forecast from the inputs still
    can be made)."""
    from liquidity.store import StoreError
    from liquidity.web import current_market

    try:
        return current_market()
    except StoreError:
        return None


def reference_date(model, market):
    """Return the date of the snapshot a coin given by its four inputs is ranked against: the latest stored, else the
    model card's reference snapshot's."""
    if market is not None and market.reference_ratios() is not None:
        return market.latest
    return model.card.get("reference_snapshot", {}).get("date")


def _text(rows, column):
    """Return a text column of the uploaded rows as {row number: stripped text} ('' where absent)."""
    if column not in rows.columns:
        return {}
    return {number: "" if value is None or value != value else str(value).strip()
            for number, value in rows[column].items()}


def _row_date(text):
    """Return (ISO date or None, reason it is not a date or None) of a row's date cell."""
    if not text:
        return None, None
    try:
        return Date.fromisoformat(text[:10]).isoformat(), None
    except ValueError:
        return None, f"its date {text[:40]!r} is not a date like 2024-03-16"


def batch_bases(model, market, parsed, table):
    """Return (the scored batch table with each row's basis, the coin forecasts from history it used, once each).

    Rows naming a stored coin (a coin_id, symbol or coin column) with its stored values take the coin's forecast from
    its history; every row gets basis, basis_note, snapshot_date (the stored snapshot it was forecast from or ranked
    against) and repeated (the other rows naming the same coin and date, '' when none)."""
    rows = parsed.rows
    ids, symbols, names = _text(rows, "coin_id"), _text(rows, "symbol"), _text(rows, "coin")
    dates = _text(rows, "date")
    lookup = market.coin_lookup() if market is not None and market.latest is not None else None
    position = {number: index for index, number in enumerate(parsed.valid.index)}
    columns = {column: parsed.valid[column].to_numpy() for column in parsed.valid.columns}
    ranked_on = reference_date(model, market)
    forecasts, day_of = {}, {}
    kind, note, snapshot, repeated = {}, {}, {}, {}
    history = {}
    seen = {}
    for number in rows.index:
        coin_id, symbol, name = ids.get(number, ""), symbols.get(number, ""), names.get(number, "")
        if not (coin_id or symbol or name):
            if number in position:
                kind[number], note[number], snapshot[number] = INPUTS, INPUTS_NOTE, ranked_on
            continue
        date_text = dates.get(number, "")
        found = lookup.find(coin_id, symbol, name) if lookup is not None else None
        seen.setdefault((found or named(coin_id, symbol.lower(), name.lower()), date_text), []).append(number)
        if number not in position:
            continue
        if date_text not in day_of:
            day_of[date_text] = _row_date(date_text)
        day, bad_date = day_of[date_text]
        values = {column: float(array[position[number]]) for column, array in columns.items()}
        if bad_date:
            basis = inputs_basis(bad_date)
        elif lookup is None:
            basis = coin_basis(market, model, values, coin_id, symbol, name, day, forecasts)
        else:
            basis = found_basis(market, model, values, found, named(coin_id, symbol, name), day, forecasts)
        kind[number], note[number] = basis.kind, basis.note
        if basis.from_history:
            history[number] = basis.forecast
            snapshot[number] = basis.forecast.date
        else:
            snapshot[number] = ranked_on
    same = f"the same coin{' and date' if dates else ''} as row"
    for numbers in seen.values():
        if len(numbers) > 1:
            first = numbers[:REPEATS_NAMED + 1]  # a coin named on every row of a big file: name a few, count the rest
            for number in numbers:
                others = [str(other) for other in first if other != number][:REPEATS_NAMED]
                more = len(numbers) - 1 - len(others)
                repeated[number] = f"{same} {_listed(others + ([f'{more:,} more'] if more else []))}"
    table = table.copy()
    if history:
        numbers = list(history)
        scores = [history[n].forecast_score for n in numbers]
        ratios = model.ratio_for_score(scores)
        table.loc[numbers, "liquidity_score"] = scores
        table.loc[numbers, "liquidity_level"] = [history[n].level for n in numbers]
        table.loc[numbers, "band_low"] = [history[n].band_low for n in numbers]
        table.loc[numbers, "band_high"] = [history[n].band_high for n in numbers]
        table.loc[numbers, "borderline"] = [bool(history[n].band_low < model.threshold <= history[n].band_high)
                                            for n in numbers]
        table.loc[numbers, "implied_ratio"] = ratios
        table.loc[numbers, "implied_volume"] = ratios * parsed.valid.loc[numbers, "mkt_cap"].to_numpy()
        table.loc[numbers, "out_of_range"] = [" ".join(as_forecast(model, history[n]).out_of_range) for n in numbers]
    for column, values in (("basis", kind), ("basis_note", note), ("snapshot_date", snapshot),
                           ("repeated", repeated)):
        table[column] = [values.get(number, "") for number in table.index]
    return table, list({id(forecast): forecast for forecast in history.values()}.values())
