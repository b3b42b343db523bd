"""The health check for load balancers and orchestrators."""

from liquidity.web.health.views import bp

__all__ = ["bp"]
