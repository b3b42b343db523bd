"""The JSON API under /api/v1."""

from liquidity.web.api.views import bp

__all__ = ["bp"]
