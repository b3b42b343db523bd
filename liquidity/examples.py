"""One-click example coins for the home form, copied by hand from the 2022-03-17 CoinGecko snapshot."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ExampleCoin:
    """A real coin's inputs on 2022-03-17; h1 in percent as the form shows it."""

    name: str
    kind: str
    volume: float
    mkt_cap: float
    h1_percent: float
    price: float

    def query(self):
        """Return the home page query parameters that pre-fill the form with this coin."""
        return {"volume": f"{self.volume:.0f}", "mkt_cap": f"{self.mkt_cap:.0f}",
                "h1": f"{self.h1_percent:g}", "price": f"{self.price:g}"}


# A few numbers from /work/shared/data/coingecko/coin_gecko_2022-03-17.csv, not a data copy.
EXAMPLE_COINS = (
    ExampleCoin("Bitcoin (BTC)", "large cap", 20_476_118_020, 776_077_432_316, 0.1, 40_851.38),
    ExampleCoin("Tether (USDT)", "stablecoin", 44_131_404_071, 80_205_879_149, 0.0, 1.0),
    ExampleCoin("MaidSafeCoin (MAID)", "thin small cap", 7_810.13, 133_599_281, 0.1, 0.295224),
)
