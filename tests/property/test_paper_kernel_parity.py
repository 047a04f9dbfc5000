"""The paper venue's compiled order path agrees with a plain-Python reference of its submit rules.

``RefPaper`` is the venue's submit path as it was written in Python before it was compiled (validate
in the venue's order, take the opposite side level by level within the limit, fill with the
integer fee rule, then rest or cancel the remainder), with unbounded ints, the engine's event
constructors and ``Ledger.apply_fill`` for the balances. Hypothesis draws a book (a few levels each
side, some huge), a last trade price, and a sequence of submits of every type, side, time in force
and flag, with sizes and prices on and off the grid, tiny and out of range, repeated client order
ids and an unknown account. After every submit both give the same events (equal, with the same
field types); at the end the same balances (value and precision), positions and order states.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.clock import TestClock
from engine.core.commands import SubmitOrder
from engine.core.enums import InstrumentKind, LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import ValidationError
from engine.core.events import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, TradeTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from engine.core.instruments import Instrument
from engine.marketdata.book import OrderBook
from engine.venues.sim import PaperVenue, PaperVenueConfig
from engine.venues.sim.ledger import Ledger
from engine.venues.sim.reasons import REASON_DETAILS, rejected
from engine.venues.sim.terms import InstrumentTerms

MAIN = AccountId("main")
T0 = 1_700_000_000_000_000_000
MAX = (1 << 53) - 1
BUY = int(Side.BUY)
TAKING = (int(OrderType.MARKET), int(OrderType.STOP_MARKET))


def instrument(kind: InstrumentKind, maker: str, taker: str) -> Instrument:
    spot = kind is InstrumentKind.SPOT
    return Instrument(
        id=InstrumentId("SIM:PAR-USD"),
        kind=kind,
        base="PAR",
        quote="USD",
        settlement="USD",
        price_increment=Price("0.05"),
        size_increment=Quantity("0.001"),
        min_quantity=Quantity("0.002"),
        max_quantity=Quantity("500000"),
        min_notional=Money("0.05", "USD"),
        maker_fee=Decimal(maker),
        taker_fee=Decimal(taker),
        multiplier=Decimal(1) if spot else Decimal("0.01"),
    )


class RefOrder:
    def __init__(self, cmd: SubmitOrder, ts: int) -> None:
        self.account, self.coid, self.iid = cmd.account_id, cmd.client_order_id, cmd.instrument_id
        self.side, self.otype, self.tif = int(cmd.side), int(cmd.order_type), int(cmd.time_in_force)
        self.expire = cmd.expire_at_ns or 0
        self.post_only, self.reduce_only = cmd.post_only, cmd.reduce_only
        self.qty = self.price = self.trigger = self.filled = self.leaves = self.vid = 0
        self.status, self.reason, self.state = OrderStatus.SUBMITTED, None, "taking"
        self.fills: list[tuple] = []
        self.queue_ahead = 0
        self.ts_last = ts


class RefPaper:
    """The submit path in plain Python (see the module docstring)."""

    def __init__(
        self, book: OrderBook, terms: InstrumentTerms, balances: dict[str, Money], last: int
    ) -> None:
        self.l2, self.terms, self.inst = book.l2, terms, terms.instrument
        self.ledger = Ledger()
        self.ledger.open(MAIN, balances)
        self.positions: dict = {}
        self.orders: dict = {}
        self.next_vid = self.next_trade = 1
        self.last = last

    def submit(self, cmd: SubmitOrder, ts: int) -> list:
        out: list = []
        key = (cmd.account_id, cmd.client_order_id)
        if key in self.orders:
            out.append(
                self._reject(
                    ts, cmd.account_id, cmd.client_order_id, cmd.instrument_id, "DUPLICATE_CLIENT_ORDER_ID"
                )
            )
            return out
        o = self.orders[key] = RefOrder(cmd, ts)
        reason = self._validate(cmd, o, ts)
        if reason is not None:
            o.status, o.reason, o.leaves = OrderStatus.REJECTED, reason, 0
            out.append(self._reject(ts, o.account, o.coid, o.iid, reason))
            return out
        o.vid, self.next_vid = self.next_vid, self.next_vid + 1
        o.status = OrderStatus.ACCEPTED
        out.append(
            OrderAccepted(
                ts_event=ts,
                ts_init=ts,
                account_id=o.account,
                client_order_id=o.coid,
                instrument_id=o.iid,
                venue_order_id=VenueOrderId(f"P{o.vid}"),
            )
        )
        if o.otype in (int(OrderType.STOP_MARKET), int(OrderType.STOP_LIMIT)):
            o.state = "stop"
            return out
        self._execute(o, ts, out)
        return out

    def _reject(self, ts: int, account, coid, iid, reason: str) -> OrderRejected:
        return rejected(
            OrderRejected,
            ts_event=ts,
            ts_init=ts,
            account_id=account,
            client_order_id=coid,
            instrument_id=iid,
            reason=reason,
        )

    def _validate(self, cmd: SubmitOrder, o: RefOrder, ts: int) -> str | None:
        if cmd.instrument_id != self.inst.id:
            return "UNKNOWN_INSTRUMENT"
        if not self.ledger.has(cmd.account_id):
            return "UNKNOWN_ACCOUNT"
        try:
            o.qty = o.leaves = self.inst.quantity_to_lots(cmd.quantity)
            o.price = self.inst.price_to_ticks(cmd.price) if cmd.price is not None else 0
            o.trigger = self.inst.price_to_ticks(cmd.trigger_price) if cmd.trigger_price is not None else 0
        except ValidationError as exc:
            return exc.reason if exc.reason in REASON_DETAILS else "VALUE_OUT_OF_RANGE"
        if o.qty > MAX or o.price > MAX or o.trigger > MAX:
            return "VALUE_OUT_OF_RANGE"
        if o.tif == int(TimeInForce.GTD) and o.expire <= ts:
            return "INVALID_EXPIRE_TIME"
        if o.qty < self.terms.min_lots:
            return "BELOW_MIN_QUANTITY"
        if self.terms.max_lots and o.qty > self.terms.max_lots:
            return "ABOVE_MAX_QUANTITY"
        buy = o.side == BUY
        if buy:
            opposite = self.l2.best_ask_ticks() if self.l2.best_ask_lots() else 0
        else:
            opposite = self.l2.best_bid_ticks() if self.l2.best_bid_lots() else 0
        if o.otype == int(OrderType.MARKET) and not opposite:
            return "NO_LIQUIDITY"
        if (o.price or o.trigger or opposite) * o.qty < self.terms.min_notional_units:
            return "BELOW_MIN_NOTIONAL"
        if o.reduce_only and self._reducible(o) == 0:
            return "REDUCE_ONLY_WOULD_INCREASE"
        if o.trigger and self.last > 0 and (self.last >= o.trigger if buy else self.last <= o.trigger):
            return "STOP_WOULD_TRIGGER"
        if o.post_only and opposite and (o.price >= opposite if buy else o.price <= opposite):
            return "POST_ONLY_WOULD_TAKE"
        return None

    def _reducible(self, o: RefOrder) -> int:
        pos = self.positions.get(o.account, 0)
        return max(-pos, 0) if o.side == BUY else max(pos, 0)

    def _levels(self, o: RefOrder) -> list[tuple[int, int]]:
        side = 3 - o.side
        levels = []
        bt, bl = np.zeros(64, dtype=np.int64), np.zeros(64, dtype=np.int64)
        n = self.l2.depth(side, bt, bl, 64)
        for ticks, lots in zip(bt[:n].tolist(), bl[:n].tolist(), strict=True):
            if o.otype not in TAKING and (ticks > o.price if o.side == BUY else ticks < o.price):
                break
            levels.append((ticks, lots))
        return levels

    def _execute(self, o: RefOrder, ts: int, out: list) -> None:
        levels = self._levels(o)
        want = min(o.leaves, self._reducible(o)) if o.reduce_only else o.leaves
        if o.tif == int(TimeInForce.FOK) and (want < o.leaves or sum(q for _, q in levels) < o.leaves):
            self._close(o, ts, "FOK_CANNOT_FILL", out)
            return
        for ticks, shown in levels:
            if o.leaves == 0:
                return
            self._fill(o, ticks, min(o.leaves, shown), ts, out)
        if o.leaves == 0:
            return
        if o.otype in TAKING:
            self._close(o, ts, "NO_LIQUIDITY", out)
        elif o.tif in (int(TimeInForce.IOC), int(TimeInForce.FOK)):
            self._close(o, ts, "IOC_REMAINDER", out)
        else:
            o.state = "resting"
            o.queue_ahead = self.l2.level_lots(o.side, o.price)

    def _fill(self, o: RefOrder, ticks: int, lots: int, ts: int, out: list) -> None:
        if o.reduce_only:
            lots = min(lots, self._reducible(o))
            if lots == 0:
                self._close(o, ts, "REDUCE_ONLY_EXHAUSTED", out)
                return
        units = self.terms.fee_units(ticks, lots, maker=False) if self.terms.taker_fee_num else 0
        commission = self.terms.fee(units)
        trade_id = f"P-PAR-USD-{self.next_trade}"
        self.next_trade += 1
        o.filled += lots
        o.leaves -= lots
        o.fills.append((trade_id, ticks, lots, int(LiquiditySide.TAKER), units, ts))
        o.status = OrderStatus.FILLED if o.leaves == 0 else OrderStatus.PARTIALLY_FILLED
        o.ts_last = ts
        self.positions[o.account] = self.positions.get(o.account, 0) + (lots if o.side == BUY else -lots)
        side = Side(o.side)
        self.ledger.apply_fill(o.account, self.terms, side, ticks, lots, commission)
        out.append(
            OrderFilled(
                ts_event=ts,
                ts_init=ts,
                account_id=o.account,
                client_order_id=o.coid,
                instrument_id=o.iid,
                venue_order_id=VenueOrderId(f"P{o.vid}"),
                trade_id=TradeId(trade_id),
                side=side,
                last_price=self.terms.price(ticks),
                last_quantity=self.terms.quantity(lots),
                liquidity_side=LiquiditySide.TAKER,
                commission=commission,
            )
        )
        if o.leaves == 0:
            o.state = "done"
        elif o.reduce_only and self._reducible(o) == 0:
            self._close(o, ts, "REDUCE_ONLY_EXHAUSTED", out)

    def _close(self, o: RefOrder, ts: int, reason: str, out: list) -> None:
        o.state, o.leaves, o.reason, o.ts_last = "done", 0, reason, ts
        o.status = OrderStatus.CANCELED
        out.append(
            OrderCanceled(
                ts_event=ts, ts_init=ts, account_id=o.account, client_order_id=o.coid, instrument_id=o.iid
            )
        )


def field_types(event: object) -> tuple:
    return tuple(type(getattr(event, name)) for name in type(event).__dataclass_fields__)


prices = st.integers(1000, 1100)  # in ticks of 0.05
levels = st.lists(st.tuples(prices, st.integers(1, 5000)), min_size=1, max_size=4, unique_by=lambda x: x[0])
submits = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.sampled_from(list(OrderType)),
        st.sampled_from(list(TimeInForce)),
        st.integers(1, 6000),  # lots
        st.integers(990, 1110),  # limit price (ticks) around the book
        st.integers(990, 1110),  # trigger (ticks)
        st.booleans(),  # post-only (when the command allows it)
        st.sampled_from([False, False, False, True]),  # reduce-only
        # 0: off-tick price, 1: off-grid size, 2: reused client order id, 3: unknown account, 4 / 5: a
        # whole quantity out of range (1e16 lots: above 2**53; 1e19: beyond 64 bits); else as drawn
        st.integers(0, 29),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from([InstrumentKind.SPOT, InstrumentKind.PERPETUAL]),
    fees=st.sampled_from([("0", "0"), ("0.0002", "0.0005"), ("-0.0001", "0.00037"), ("0", "0.0013")]),
    bids=levels,
    asks=levels,
    last=st.sampled_from([0, 1000, 1050, 1100]),
    orders=submits,
)
def test_paper_kernel_when_any_submits_then_same_events_balances_positions_and_states_as_the_reference(
    kind, fees, bids, asks, last, orders
):
    inst = instrument(kind, *fees)
    bid_levels = [(t, q) for t, q in bids if not asks or t < min(a for a, _ in asks)]
    book = OrderBook(inst)
    book.apply_snapshot(
        [
            (str(Decimal(t) * Decimal("0.05")), str(Decimal(q) / 1000))
            for t, q in sorted(bid_levels, reverse=True)
        ],
        [(str(Decimal(t) * Decimal("0.05")), str(Decimal(q) / 1000)) for t, q in sorted(asks)],
    )
    clock = TestClock(T0)
    venue = PaperVenue(
        {inst.id: book}, clock, PaperVenueConfig(accounts={"main": {"USD": "100000.5", "PAR": "7"}})
    )
    balances = {"USD": Money("100000.5", "USD"), "PAR": Money("7", "PAR")}
    ref = RefPaper(book, InstrumentTerms.of(inst), balances, 0)
    if last:
        tick_price = Price(str(Decimal(last) * Decimal("0.05")))
        venue.apply_trade(
            TradeTick(
                ts_event=T0,
                ts_init=T0,
                instrument_id=inst.id,
                price=tick_price,
                size=Quantity("1"),
                aggressor_side=Side.BUY,
                trade_id=TradeId("x"),
            )
        )
        ref.last = inst.price_to_ticks(tick_price)
    for n, (side, otype, drawn_tif, lots, price, trigger, drawn_post_only, reduce_only, odd) in enumerate(
        orders
    ):
        tif = TimeInForce.GTC if otype is OrderType.MARKET and drawn_tif is TimeInForce.GTD else drawn_tif
        priced = otype in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        triggered = otype in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
        post_only = (
            drawn_post_only and otype is OrderType.LIMIT and tif not in (TimeInForce.IOC, TimeInForce.FOK)
        )
        step = Decimal("0.05")
        price_text = str(Decimal(max(price, 1)) * step + (Decimal("0.01") if odd == 0 else 0))
        if odd in (4, 5):
            qty_text = str(10**13 if odd == 4 else 10**16)  # at precision 0: the venue rescales it
        else:
            qty_text = str(Decimal(lots) / 1000 + (Decimal("0.0001") if odd == 1 else 0))
        ts = T0 + n
        cmd = SubmitOrder(
            ts_init=ts,
            account_id=AccountId("ghost") if odd == 3 else MAIN,
            strategy_id=StrategyId("s"),
            client_order_id=ClientOrderId("c0" if odd == 2 else f"c{n}"),
            instrument_id=inst.id,
            side=side,
            order_type=otype,
            quantity=Quantity(qty_text),
            price=Price(price_text) if priced else None,
            trigger_price=Price(str(Decimal(max(trigger, 1)) * step)) if triggered else None,
            time_in_force=tif,
            # (in the past: rejected; or after the run: the reference has no expiry)
            expire_at_ns=(ts if n % 3 == 0 else ts + 10**9) if tif is TimeInForce.GTD else None,
            post_only=post_only,
            reduce_only=reduce_only,
        )
        got = venue.apply(cmd, ts)
        want = ref.submit(cmd, ts)
        assert got == want
        assert [field_types(e) for e in got] == [field_types(e) for e in want]
    assert venue.balances(MAIN) == ref.ledger.balances(MAIN)
    assert {k: v.precision for k, v in venue.balances(MAIN).items()} == {
        k: v.precision for k, v in ref.ledger.balances(MAIN).items()
    }
    pos = ref.positions.get(MAIN, 0)
    assert venue.position(MAIN, inst.id).quantity == inst.lots_to_quantity(abs(pos))
    for (account, coid), o in ref.orders.items():
        if o.qty > (1 << 63) - 1:
            continue  # (a quantity beyond 64 bits: the venue keeps it clipped, nothing to compare)
        state = venue.order(account, coid)
        assert (state.status, state.reason, state.filled_quantity, state.leaves_quantity) == (
            o.status,
            o.reason,
            inst.lots_to_quantity(o.filled),
            inst.lots_to_quantity(o.leaves),
        )
        assert [(f.trade_id, f.price, f.quantity, f.commission, f.ts_event) for f in state.fills] == [
            (t, inst.ticks_to_price(p), inst.lots_to_quantity(q), InstrumentTerms.of(inst).fee(u), ts)
            for t, p, q, _, u, ts in o.fills
        ]
        if o.state == "resting" and o.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            assert venue.queue_ahead(account, coid) == o.queue_ahead
