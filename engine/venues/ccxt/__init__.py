"""Live execution through ccxt: ``CcxtVenue`` (the OMS's ``VenuePort`` over ccxt REST + ccxt.pro
websockets), the one ccxt error table (``errors``) and exact conversions from ccxt (``convert``).

On the loop::

    exchange = ccxt.pro.binance({"apiKey": key, "secret": secret})   # credentials stay in here
    instruments = await load_instruments(exchange, "binance", ["BTC/USDT"])
    venue = CcxtVenue(exchange, instruments, clock, CcxtVenueConfig(account_id=AccountId("main")),
                      on_event=oms.on_order_event)
    await venue.start(open_orders)            # adopt, connect, reconcile by client order id
    venue.send(SubmitOrder(...))              # events arrive later through on_event
    await venue.stop()
"""

from engine.venues.ccxt.convert import decimal_of, instrument_from_market, instrument_id, money_of
from engine.venues.ccxt.errors import Action, VenueError, classify, redact, to_domain
from engine.venues.ccxt.exchange import build_exchange, load_credentials
from engine.venues.ccxt.venue import (
    NOT_RECEIVED,
    CcxtFill,
    CcxtVenue,
    CcxtVenueConfig,
    VenueOrderSnapshot,
    VenuePosition,
    load_instruments,
)

__all__ = [
    "NOT_RECEIVED",
    "Action",
    "CcxtFill",
    "CcxtVenue",
    "CcxtVenueConfig",
    "VenueError",
    "VenueOrderSnapshot",
    "VenuePosition",
    "build_exchange",
    "classify",
    "decimal_of",
    "instrument_from_market",
    "instrument_id",
    "load_credentials",
    "load_instruments",
    "money_of",
    "redact",
    "to_domain",
]
