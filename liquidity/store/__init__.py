"""Market store: daily snapshots in SQLite (embedded default) or PostgreSQL (DATABASE_URL), no web layer."""

from liquidity.store.store import (
    MarketStore,
    Migration,
    StoreError,
    create_store_engine,
    migrate,
    parse_database_url,
)

__all__ = ["MarketStore", "Migration", "StoreError", "create_store_engine", "migrate", "parse_database_url"]
