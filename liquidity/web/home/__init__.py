"""Home: the single-coin form and its result."""

from liquidity.web.home.views import bp

__all__ = ["bp"]
