"""The JSON API under /api/v1."""

from liquidity.web.api import alerts, coins  # noqa: F401  (add the alert rule, coin and monitor routes to bp)
from liquidity.web.api.views import bp

__all__ = ["bp"]
