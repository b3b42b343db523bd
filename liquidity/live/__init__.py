"""Live market data in the app: fill the home form from CoinGecko."""
