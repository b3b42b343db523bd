"""The generated EDA report and its figures."""

from liquidity.web.report.views import bp

__all__ = ["bp"]
