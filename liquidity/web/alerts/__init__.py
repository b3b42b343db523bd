"""Alerts: the rules a risk desk keeps and the alerts the daily command raised from them."""

from liquidity.web.alerts.views import bp

__all__ = ["bp"]
