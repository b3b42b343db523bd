"""Stored times read back alike from every backend."""

from datetime import UTC, datetime


def naive_utc(value):
    """Return a stored time as a naive UTC datetime, or None: SQLite gives naive UTC (or text), PostgreSQL an aware
    time."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)
