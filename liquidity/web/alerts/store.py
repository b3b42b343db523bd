"""The alert pages' and API's access to the store: reads, and the writes a read-only store refuses with a 503."""

import logging

from flask import current_app

from liquidity.store import StoreError
from liquidity.web.services import StoreUnavailable, process_store

log = logging.getLogger("liquidity.web")

# Unlike a forecast, a rule is written to the store: a store that refuses writes must say so in these words.
READ_ONLY = ("Alert rules cannot be changed right now: the market store does not accept changes (it may be "
             "read-only or unreachable). The operator can see why in the logs; the rules kept so far still apply.")


def alert_store():
    """Return this process's MarketStore (the one the read model and the prediction log use)."""
    return process_store(current_app).open()


def write(change, *args):
    """Return change(store, *args); a store that refuses the write raises StoreUnavailable (503) with READ_ONLY."""
    try:
        return change(alert_store(), *args)
    except StoreError as error:
        log.error("alert rules not changed: %s", error)
        raise StoreUnavailable(READ_ONLY) from None


def checked_rule(data):
    """Return (Rule, errors) for the mapping data, its watchlist checked against the coins the store holds."""
    from liquidity.alerts import check_rule
    from liquidity.store.alerts import stored_coins

    return check_rule(data, known_coins=lambda coins: stored_coins(alert_store(), coins))
