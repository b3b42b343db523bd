"""The intervals' live calibration: conformal tables computed from the outcomes the store knew on a date, kept per
model version so serving draws today's intervals without recomputing them (and without the future)."""

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from liquidity.store.schema import calibrations


def save_calibration(store, calibrated_on, model_version, tables):
    """Store tables ({horizon: table}, liquidity.modeling.conformal's shape) calibrated on outcomes known by
    calibrated_on; return the new row's id."""
    from liquidity.store.predictions import _day, _error

    row = {"created_at": datetime.now(UTC), "calibrated_on": _day(str(calibrated_on)[:10]),
           "model_version": str(model_version),
           "tables": json.dumps({str(horizon): table for horizon, table in tables.items()}, allow_nan=False)}
    try:
        with store.engine.begin() as connection:
            return connection.execute(calibrations.insert().returning(calibrations.c.id), row).scalar_one()
    except sa.exc.DBAPIError as error:
        raise _error(store, "write to", error) from None


def latest_calibration(store, model_version, on_or_before=None):
    """Return {"id", "calibrated_on", "tables"} of the newest calibration of model_version made on or before the
    date given (default: any), or None when there is none."""
    from liquidity.store.predictions import _day, _error

    c = calibrations
    statement = sa.select(c.c.id, sa.cast(c.c.calibrated_on, sa.Text), c.c.tables).where(
        c.c.model_version == str(model_version))
    if on_or_before is not None:
        statement = statement.where(c.c.calibrated_on <= _day(str(on_or_before)[:10]))
    statement = statement.order_by(c.c.calibrated_on.desc(), c.c.id.desc()).limit(1)
    try:
        with store.engine.connect() as connection:
            row = connection.execute(statement).first()
    except sa.exc.DBAPIError as error:
        raise _error(store, "read", error) from None
    if row is None:
        return None
    return {"id": int(row[0]), "calibrated_on": str(row[1])[:10], "tables": json.loads(row[2])}
