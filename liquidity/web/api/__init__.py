"""The JSON API under /api/v1."""

from liquidity.web.api import coins  # noqa: F401  (adds the coin and monitor routes to bp)
from liquidity.web.api.views import bp

__all__ = ["bp"]
