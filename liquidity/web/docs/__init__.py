"""API docs: the OpenAPI document rendered as a page, server-side (no script, so the CSP stays strict)."""

from liquidity.web.docs.views import bp

__all__ = ["bp"]
