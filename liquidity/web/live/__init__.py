"""Live market data in the app: fill the home form from CoinGecko."""

from liquidity.web.live.views import bp

__all__ = ["bp"]
