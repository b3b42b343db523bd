"""Feature engineering shared by training and serving.

A row's features are the four card inputs (logged), the coin's liquidity score within its own
snapshot, and history features from the coin's own earlier rows (keyed by coin_id) at calendar-day
lags: a day without a row is missing (NaN), never zero. The forest routes NaN at every split, so a
new coin, or a forecast from the four inputs alone, simply has its history missing.

Two paths give the same bits: `snapshot_features` for a frame of many coins and dates (training,
whole-market forecasts) and `coin_feature_row` for one coin's recent rows (one forecast in well
under a millisecond). Both run `_history_columns` on a day-by-coin grid, so the arithmetic is the
same operation in the same order.
"""

import bisect

import numpy as np

from liquidity.schema import COLUMNS as INPUT_COLUMNS  # the four raw inputs, named as the loaded snapshot columns

CARD_FEATURES = ("log_volume", "log_mkt_cap", "log_turnover", "h1", "log_price")
HISTORY_FEATURES = ("score_lag1", "score_lag7", "score_lag30", "score_mean7", "score_mean30",
                    "price_change_1d", "price_change_7d", "volume_change_1d")
FEATURE_NAMES = (*CARD_FEATURES, "score_today", *HISTORY_FEATURES)
# Calendar days of the coin's past a forecast looks at: the longest lag or window.
LONGEST_LAG = 30

FEATURE_DESCRIPTIONS = {
    "log_volume": "ln(1 + 24h volume in USD)",
    "log_mkt_cap": "ln(market cap in USD)",
    "log_turnover": "ln(1 + 24h volume) - ln(market cap): the log of today's liquidity ratio",
    "h1": "price change over the last hour, as a fraction (0.022 = +2.2 %)",
    "log_price": "ln(price in USD)",
    "score_today": "the coin's liquidity score today: the mid-rank percentile of its volume / market cap "
                   "among all coins of its snapshot (a new coin: ranked against the reference snapshot)",
    "score_lag1": "the coin's liquidity score 1 calendar day earlier (missing if it has no row that day)",
    "score_lag7": "the coin's liquidity score 7 calendar days earlier",
    "score_lag30": "the coin's liquidity score 30 calendar days earlier",
    "score_mean7": "mean of the coin's liquidity scores over the 7 calendar days ending today, days with a row",
    "score_mean30": "mean of the coin's liquidity scores over the 30 calendar days ending today, days with a row",
    "price_change_1d": "ln(price today) - ln(price 1 calendar day earlier)",
    "price_change_7d": "ln(price today) - ln(price 7 calendar days earlier)",
    "volume_change_1d": "ln(1 + volume today) - ln(1 + volume 1 calendar day earlier)",
}


def build_features(volume, mkt_cap, h1, price):
    """Return the (n, 5) float64 matrix of the card-input features for the given raw inputs.

    Accepts scalars or equal-length array-likes. Inputs must already be valid
    (volume >= 0, mkt_cap > 0, price > 0, finite; h1 may be NaN = missing): validation happens at
    the edges (dataset loader, web forms, API), not here.
    """
    volume = np.asarray(volume, dtype=np.float64).reshape(-1)
    mkt_cap = np.asarray(mkt_cap, dtype=np.float64).reshape(-1)
    h1 = np.asarray(h1, dtype=np.float64).reshape(-1)
    price = np.asarray(price, dtype=np.float64).reshape(-1)
    log_volume = np.log1p(volume)
    log_mkt_cap = np.log(mkt_cap)
    return np.column_stack(
        [log_volume, log_mkt_cap, log_volume - log_mkt_cap, h1, np.log(price)]
    )


def feature_row(volume, mkt_cap, h1, price):
    """Return the five card-input features of one row as floats, bit for bit equal to build_features' row.

    numpy's log and log1p on scalars, because the math module's differ from numpy's in the last bit
    for some inputs, and one bit can flip a split.
    """
    log_volume = float(np.log1p(volume))
    log_mkt_cap = float(np.log(mkt_cap))
    return (log_volume, log_mkt_cap, log_volume - log_mkt_cap, float(h1), float(np.log(price)))


def rank_in_reference(ratios, reference):
    """Return the mid-rank percentile each ratio would hold among the sorted reference ratios plus itself.

    The same (rank - 0.5) / n with ties averaged as a snapshot's liquidity score, n = len(reference) + 1.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    below = np.searchsorted(reference, ratios, side="left")
    equal = np.searchsorted(reference, ratios, side="right") - below
    return (below + 0.5 * equal + 0.5) / (len(reference) + 1)


def input_features(volume, mkt_cap, h1, price, reference):
    """Return the (n, features) matrix of the four-input path: today's score ranked in reference, history missing."""
    card = build_features(volume, mkt_cap, h1, price)
    ratio = np.asarray(volume, dtype=np.float64).reshape(-1) / np.asarray(mkt_cap, dtype=np.float64).reshape(-1)
    history = np.full((len(card), len(HISTORY_FEATURES)), np.nan)
    return np.column_stack([card, rank_in_reference(ratio, reference), history])


def rank_one_in_reference(ratio, reference):
    """Return rank_in_reference for one ratio, with bisect instead of numpy calls (the one-row path), same bits."""
    below = bisect.bisect_left(reference, ratio)
    equal = bisect.bisect_right(reference, ratio) - below
    return (below + 0.5 * equal + 0.5) / (len(reference) + 1)


def input_feature_row(volume, mkt_cap, h1, price, reference):
    """Return one row of the four-input path as a tuple of floats, equal to input_features' row."""
    score = float(rank_one_in_reference(float(volume / mkt_cap), reference))
    return (*feature_row(volume, mkt_cap, h1, price), score, *([np.nan] * len(HISTORY_FEATURES)))


def _lagged(grid, day, coin, lag):
    """Return grid[day - lag, coin], NaN where that day lies before the grid."""
    back = day - lag
    inside = back >= 0
    return np.where(inside, grid[np.maximum(back, 0), coin], np.nan)


def _window_mean(grid, day, coin, days):
    """Return the mean of grid over days day-days+1 .. day, over the days that hold a value (NaN if none)."""
    total = np.zeros(len(day))
    count = np.zeros(len(day))
    for lag in range(days):  # summed in lag order, the same order for one coin and for a whole frame
        value = _lagged(grid, day, coin, lag)
        present = ~np.isnan(value)
        total = total + np.where(present, value, 0.0)
        count = count + present
    with np.errstate(invalid="ignore"):
        return total / count


def _history_columns(score, log_price, log_volume, day, coin):
    """Return the history features of the rows at (day, coin), each grid holding one row per day and coin."""
    return np.column_stack([
        _lagged(score, day, coin, 1),
        _lagged(score, day, coin, 7),
        _lagged(score, day, coin, 30),
        _window_mean(score, day, coin, 7),
        _window_mean(score, day, coin, 30),
        log_price[day, coin] - _lagged(log_price, day, coin, 1),
        log_price[day, coin] - _lagged(log_price, day, coin, 7),
        log_volume[day, coin] - _lagged(log_volume, day, coin, 1),
    ])


def _day_numbers(dates):
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


def _grids(day, coin, n_days, n_coins, score, log_price, log_volume):
    grids = []
    for values in (score, log_price, log_volume):
        grid = np.full((n_days, n_coins), np.nan)
        grid[day, coin] = values
        grids.append(grid)
    return grids


def snapshot_features(frame, rows=None):
    """Return the (n, features) matrix for snapshot rows: date, coin_id, the four inputs and liquidity_score.

    Every row's history comes from the frame's own earlier rows of the same coin_id, so pass the
    coin's past (at least LONGEST_LAG days before the first date to forecast) with the rows.
    One row per coin and date (the loader resolves duplicates). rows: positions of the rows wanted
    (default all); the others only feed the history.
    """
    rows = np.arange(len(frame)) if rows is None else np.asarray(rows, dtype=np.intp)
    if not len(rows):
        return np.empty((0, len(FEATURE_NAMES)))
    days = _day_numbers(frame["date"].to_numpy())
    day = days - days.min()
    codes, coins = _factorize(frame["coin_id"].to_numpy())
    card = build_features(*(frame[column].to_numpy() for column in INPUT_COLUMNS))
    score = frame["liquidity_score"].to_numpy(dtype=np.float64)
    grids = _grids(day, codes, int(day.max()) + 1, len(coins), score, card[:, 4], card[:, 0])
    return np.column_stack([card[rows], score[rows], _history_columns(*grids, day[rows], codes[rows])])


def _factorize(values):
    uniques, codes = np.unique(values.astype(str), return_inverse=True)
    return codes.reshape(-1), uniques


def coin_feature_row(dates, volume, mkt_cap, h1, price, score):
    """Return the feature row of a coin's latest row from its own rows (arrays, oldest first, one per date).

    Only rows within LONGEST_LAG days of the latest matter; pass at least those. Equal bit for bit to
    snapshot_features' row for that coin and date (a test checks), with no pandas: the one-coin path.
    """
    days = _day_numbers(dates)
    day = days - days[-1] + LONGEST_LAG
    keep = day >= 0
    day = day[keep]
    volume = np.asarray(volume, dtype=np.float64)[keep]
    card = build_features(volume, np.asarray(mkt_cap, dtype=np.float64)[keep],
                          np.asarray(h1, dtype=np.float64)[keep], np.asarray(price, dtype=np.float64)[keep])
    coin = np.zeros(len(day), dtype=np.intp)
    grids = _grids(day, coin, LONGEST_LAG + 1, 1, np.asarray(score, dtype=np.float64)[keep], card[:, 4], card[:, 0])
    last = np.array([LONGEST_LAG]), np.zeros(1, dtype=np.intp)
    history = _history_columns(*grids, *last)
    return np.concatenate([card[-1], [grids[0][LONGEST_LAG, 0]], history[0]])


def with_features(frame):
    """Return frame (snapshot rows of every date, liquidity_score included) with one column per feature."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        features = snapshot_features(frame)
    return frame.assign(**{name: features[:, i] for i, name in enumerate(FEATURE_NAMES)})


def features_from_frame(frame, reference=None):
    """Return the feature matrix of a frame: its feature columns when it has them, else the history path when
    it holds date, coin_id and liquidity_score, else the four-input path, today's score ranked against the
    sorted reference ratios."""
    if set(FEATURE_NAMES) <= set(frame.columns):  # e.g. pairs made from with_features' rows
        return frame[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    if {"date", "coin_id", "liquidity_score"} <= set(frame.columns):
        return snapshot_features(frame)
    if reference is None:
        raise ValueError("rows without date, coin_id and liquidity_score need reference ratios to rank against")
    return input_features(*(frame[column].to_numpy() for column in INPUT_COLUMNS), reference)
