"""The model card for people: data, metrics, hyper-parameters, importances, versions."""

from liquidity.web.model.views import bp

__all__ = ["bp"]
