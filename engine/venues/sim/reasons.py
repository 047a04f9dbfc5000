"""Named reasons for venue rejects and cancels; codes come from the compiled matcher and are stable."""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

from engine.core.events import OrderCancelRejected, OrderModifyRejected, OrderRejected
from engine.core.ids import AccountId, ClientOrderId, InstrumentId
from engine.ext.matching.engine import REASON_NAMES

__all__ = ["REASON_DETAILS", "UNKNOWN_INSTRUMENT", "VenueReason", "rejected"]

#: Instrument id on a reject for an order the venue has never seen (the command names none).
UNKNOWN_INSTRUMENT = InstrumentId("SIM:UNKNOWN")

R = TypeVar("R", OrderRejected, OrderCancelRejected, OrderModifyRejected)

#: Every reason the simulated and paper venues report, by name (``VenueReason.POST_ONLY_WOULD_TAKE``).
VenueReason = IntEnum("VenueReason", {name: code for code, name in sorted(REASON_NAMES.items())})

#: One line per reason for the ``detail`` of rejects.
REASON_DETAILS: dict[str, str] = {
    "NONE": "",
    "INVALID_ORDER_ID": "the order id must be positive",
    "DUPLICATE_ORDER_ID": "an order with this venue order id is already working",
    "INVALID_ACCOUNT": "the account is out of range",
    "INVALID_SIDE": "side must be BUY or SELL",
    "INVALID_ORDER_TYPE": "unknown order type",
    "INVALID_TIME_IN_FORCE": "time in force not valid for this order type",
    "INVALID_QUANTITY": "quantity must be positive and within range",
    "INVALID_PRICE": "price missing, not allowed for this order type, or out of range",
    "INVALID_TRIGGER_PRICE": "trigger price missing, not allowed for this order, or out of range",
    "INVALID_EXPIRE_TIME": "GTD needs an expiry in the future; other TIFs take none",
    "INVALID_FLAGS": "unknown order flags",
    "POST_ONLY_INVALID": "post-only applies to GTC/GTD limit orders only",
    "BELOW_MIN_QUANTITY": "quantity is below the instrument's minimum",
    "ABOVE_MAX_QUANTITY": "quantity is above the instrument's maximum",
    "BELOW_MIN_NOTIONAL": "price x quantity is below the instrument's minimum notional",
    "ABOVE_MAX_NOTIONAL": "price x quantity is above what the venue accepts",
    "NO_LIQUIDITY": "no liquidity on the opposite side",
    "REDUCE_ONLY_WOULD_INCREASE": "reduce-only order but no position to reduce on that side",
    "STOP_WOULD_TRIGGER": "the stop would trigger immediately at the last trade price",
    "POST_ONLY_WOULD_TAKE": "post-only order would take liquidity",
    "UNKNOWN_ORDER": "no working order with this id",
    "AMEND_QUANTITY_BELOW_FILLED": "the new quantity must exceed the quantity already filled",
    "IOC_REMAINDER": "immediate-or-cancel remainder",
    "FOK_CANNOT_FILL": "fill-or-kill order could not fill completely",
    "SELF_TRADE_PREVENTED": "self-trade prevention",
    "REDUCE_ONLY_EXHAUSTED": "nothing left to reduce",
    "GTD_EXPIRED": "good-till-date expiry reached",
    "CANCELED": "canceled on request",
    "PRICE_OFF_TICK": "price is not a multiple of the tick size",
    "SIZE_OFF_INCREMENT": "quantity is not a multiple of the size increment",
    "UNKNOWN_INSTRUMENT": "the venue does not list this instrument",
    "INSTRUMENT_NOT_TRADABLE": "the instrument is not tradable",
    "DUPLICATE_CLIENT_ORDER_ID": "the client order id was already used on this account",
    "UNKNOWN_ACCOUNT": "the venue has no such account",
    "VALUE_OUT_OF_RANGE": "a price or quantity is out of the venue's range",
}


def rejected(
    kind: type[R],
    *,
    ts_event: int,
    ts_init: int,
    account_id: AccountId,
    client_order_id: ClientOrderId,
    instrument_id: InstrumentId | None,
    reason: str,
) -> R:
    """A submit, cancel or amend reject with its one-line ``detail`` (both venues build them here)."""
    return kind(
        ts_event=ts_event,
        ts_init=ts_init,
        account_id=account_id,
        client_order_id=client_order_id,
        instrument_id=instrument_id if instrument_id is not None else UNKNOWN_INSTRUMENT,
        reason=reason,
        detail=REASON_DETAILS[reason],
    )
