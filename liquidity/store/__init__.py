"""Market store: daily snapshots in SQLite (embedded default) or PostgreSQL (DATABASE_URL), no web layer."""

from liquidity.store.store import (
    MarketStore,
    StoreError,
    create_store_engine,
    database_url,
    migrate,
    parse_database_url,
)

__all__ = ["MarketStore", "StoreError", "create_store_engine", "database_url", "migrate", "parse_database_url"]
