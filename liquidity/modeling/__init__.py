"""Training and prediction for the next-snapshot liquidity score."""
