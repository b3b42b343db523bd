"""Coins: the latest stored market with each coin's forecast, one page per coin, and the home form's coin picker."""

from liquidity.web.coins.views import bp

__all__ = ["bp"]
