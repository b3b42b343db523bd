"""Monitor: realized accuracy of the logged forecasts against persistence, and input drift, by week."""

from liquidity.web.monitor.views import bp

__all__ = ["bp"]
