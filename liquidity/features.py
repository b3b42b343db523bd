"""Feature engineering shared by training and serving."""

import numpy as np

from liquidity.schema import COLUMNS as INPUT_COLUMNS  # the four raw inputs, named as the loaded snapshot columns

FEATURE_NAMES = ("log_volume", "log_mkt_cap", "log_turnover", "h1", "log_price")

FEATURE_DESCRIPTIONS = {
    "log_volume": "ln(1 + 24h volume in USD)",
    "log_mkt_cap": "ln(market cap in USD)",
    "log_turnover": "ln(1 + 24h volume) - ln(market cap): the log of today's liquidity ratio",
    "h1": "price change over the last hour, as a fraction (0.022 = +2.2 %)",
    "log_price": "ln(price in USD)",
}


def build_features(volume, mkt_cap, h1, price):
    """Return the (n, 5) float64 feature matrix for the given raw inputs.

    Accepts scalars or equal-length array-likes. Inputs must already be valid
    (volume >= 0, mkt_cap > 0, price > 0, all finite): validation happens at the
    edges (dataset loader, web forms, API), not here.
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


def features_from_frame(frame):
    """Return the feature matrix for a DataFrame holding INPUT_COLUMNS."""
    return build_features(*(frame[column].to_numpy() for column in INPUT_COLUMNS))


def feature_row(volume, mkt_cap, h1, price):
    """Return the five features of one row as floats, bit for bit equal to build_features' row.

    The fast one-row path: no arrays. numpy's log and log1p on scalars, because the math module's
    differ from numpy's in the last bit for some inputs, and one bit can flip a split.
    """
    log_volume = float(np.log1p(volume))
    log_mkt_cap = float(np.log(mkt_cap))
    return (log_volume, log_mkt_cap, log_volume - log_mkt_cap, float(h1), float(np.log(price)))
