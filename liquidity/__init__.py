"""Crypto liquidity predictor: data, features, model, and (in liquidity.web) the web app."""

__version__ = "0.1.0"
