"""Batch scoring of an uploaded snapshot CSV."""

from liquidity.web.batch.views import bp

__all__ = ["bp"]
