"""The Cython matcher: parity with a small pure-Python reference model, and its invariants.

The reference model (``RefMatcher``) is written for clarity, with plain dicts and lists, and follows
the rules stated in ``ext/matching/engine.pyx``. Hypothesis generates op sequences (every order type,
TIF, flag, amend, cancel, cancel-all, time advance) over a narrow price band so orders interact; both
implementations must return the same codes, write the same reports and hold the same book, stops,
positions and counters after every op.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ext.matching import engine as m

BUY, SELL = 1, 2
MARKET, LIMIT, STOP_MARKET, STOP_LIMIT = 1, 2, 3, 4
GTC, IOC, FOK, GTD = 1, 2, 3, 4
POST_ONLY, REDUCE_ONLY = 1, 2
R = m.REASON_CODES
ACCEPTED, REJECTED, FILLED, CANCELED, EXPIRED, UPDATED, TRIGGERED, AMEND_REJECTED, CANCEL_REJECTED = range(
    1, 10
)
NOTIONAL_CAP = 1 << 62
MAX_VALUE = (1 << 53) - 1


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass
class RefOrder:
    id: int
    seq: int
    account: int
    side: int
    type: int
    tif: int
    flags: int
    price: int
    trigger: int
    qty: int
    leaves: int
    expire_ts: int
    ts: int
    state: str = "taking"  # "resting" | "stop" | "taking"


class RefMatcher:
    """Price-time matching with plain containers: levels are dict price -> list (FIFO)."""

    def __init__(
        self,
        *,
        min_lots: int = 1,
        max_lots: int = 0,
        min_notional: int = 0,
        maker: tuple[int, int] = (0, 1),
        taker: tuple[int, int] = (0, 1),
        stp_mode: int = 1,
    ) -> None:
        self.min_lots, self.max_lots, self.min_notional = min_lots, max_lots, min_notional
        self.maker, self.taker, self.stp = maker, taker, stp_mode
        self.max_notional = NOTIONAL_CAP
        for num, den in (maker, taker):
            if num:
                self.max_notional = min(self.max_notional, NOTIONAL_CAP * den // abs(num))
        self.book: dict[int, dict[int, list[RefOrder]]] = {BUY: {}, SELL: {}}
        self.stops: list[RefOrder] = []
        self.live: dict[int, RefOrder] = {}
        self.positions: dict[int, int] = {}
        self.next_trade_id = 1
        self.next_seq = 1
        self.last = 0
        self.now = 0
        self.reports: list[tuple[int, ...]] = []

    # -- helpers ------------------------------------------------------------------------------
    def emit(self, kind, o, price, qty, tid=0, liq=0, fee=0, reason=0, contra=0):
        self.reports.append(
            (
                kind,
                o.id,
                o.account,
                o.side,
                price,
                qty,
                o.leaves,
                tid,
                liq,
                fee,
                self.now,
                reason,
                contra,
                o.trigger,
            )
        )

    def emit_raw(self, kind, oid, account, side, price, qty, trigger, reason):
        self.reports.append((kind, oid, account, side, price, qty, 0, 0, 0, 0, self.now, reason, 0, trigger))

    def best(self, side: int) -> int:
        levels = self.book[side]
        if not levels:
            return 0
        return max(levels) if side == BUY else min(levels)

    def pos(self, account: int) -> int:
        return self.positions.get(account, 0)

    def reducible(self, account: int, side: int, delta: int = 0) -> int:
        p = self.pos(account) + delta
        return max(-p, 0) if side == BUY else max(p, 0)

    def rest(self, o: RefOrder) -> None:
        self.book[o.side].setdefault(o.price, []).append(o)
        o.state = "resting"

    def unrest(self, o: RefOrder) -> None:
        queue = self.book[o.side][o.price]
        queue.remove(o)
        if not queue:
            del self.book[o.side][o.price]
        o.state = "taking"

    def remove_live(self, o: RefOrder, kind: int, reason: int) -> None:
        if o.state == "resting":
            self.unrest(o)
        elif o.state == "stop":
            self.stops.remove(o)
        left, o.leaves = o.leaves, 0
        self.emit(kind, o, o.price, left, reason=reason)
        del self.live[o.id]

    def expire(self, ts: int) -> None:
        due = sorted(
            (o for o in self.live.values() if o.tif == GTD and o.expire_ts <= ts),
            key=lambda o: (o.expire_ts, o.id),
        )
        for o in due:
            self.remove_live(o, EXPIRED, R["GTD_EXPIRED"])

    def would_cross(self, side: int, price: int) -> bool:
        b = self.best(3 - side)
        if not b:
            return False
        return price >= b if side == BUY else price <= b

    def triggers_now(self, side: int, trigger: int) -> bool:
        if self.last <= 0:
            return False
        return self.last >= trigger if side == BUY else self.last <= trigger

    def crosses(self, t: RefOrder, lp: int) -> bool:
        if t.type in (MARKET, STOP_MARKET):
            return True
        return lp <= t.price if t.side == BUY else lp >= t.price

    def opposite_levels(self, t: RefOrder) -> list[int]:
        prices = self.book[3 - t.side]
        return sorted(prices) if t.side == BUY else sorted(prices, reverse=True)

    # -- matching -----------------------------------------------------------------------------
    def fillable(self, t: RefOrder) -> int:
        need, got, sign = t.leaves, 0, 1 if t.side == BUY else -1
        delta: dict[int, int] = {}
        ro = bool(t.flags & REDUCE_ONLY)
        for lp in self.opposite_levels(t):
            if not self.crosses(t, lp):
                break
            for mo in self.book[3 - t.side][lp]:
                if mo.account == t.account and self.stp != 0:
                    if self.stp == 2:
                        continue
                    return got
                q = min(need - got, mo.leaves)
                if ro:
                    r = self.reducible(t.account, t.side, delta.get(t.account, 0))
                    if r == 0:
                        return got
                    q = min(q, r)
                if mo.flags & REDUCE_ONLY:
                    r = self.reducible(mo.account, mo.side, delta.get(mo.account, 0))
                    if r == 0:
                        continue
                    q = min(q, r)
                got += q
                delta[t.account] = delta.get(t.account, 0) + sign * q
                delta[mo.account] = delta.get(mo.account, 0) - sign * q
                if got >= need:
                    return got
        return got

    def cancel_taker(self, t: RefOrder, reason: int) -> None:
        left, t.leaves = t.leaves, 0
        self.emit(CANCELED, t, t.price, left, reason=reason)

    def match(self, t: RefOrder) -> None:
        sign = 1 if t.side == BUY else -1
        ro = bool(t.flags & REDUCE_ONLY)
        opp = 3 - t.side
        while t.leaves > 0 and self.book[opp]:
            lp = self.best(opp)
            if not self.crosses(t, lp):
                return
            for mo in list(self.book[opp][lp]):
                if t.leaves == 0:
                    break
                if mo.account == t.account and self.stp != 0:
                    if self.stp == 2:
                        self.remove_live(mo, CANCELED, R["SELF_TRADE_PREVENTED"])
                        continue
                    if self.stp == 3:
                        self.remove_live(mo, CANCELED, R["SELF_TRADE_PREVENTED"])
                    self.cancel_taker(t, R["SELF_TRADE_PREVENTED"])
                    return
                q = min(t.leaves, mo.leaves)
                if ro:
                    r = self.reducible(t.account, t.side)
                    if r == 0:
                        self.cancel_taker(t, R["REDUCE_ONLY_EXHAUSTED"])
                        return
                    q = min(q, r)
                if mo.flags & REDUCE_ONLY:
                    r = self.reducible(mo.account, mo.side)
                    if r == 0:
                        self.remove_live(mo, CANCELED, R["REDUCE_ONLY_EXHAUSTED"])
                        continue
                    q = min(q, r)
                tid = self.next_trade_id
                self.next_trade_id += 1
                t.leaves -= q
                mo.leaves -= q
                self.positions[t.account] = self.pos(t.account) + sign * q
                self.positions[mo.account] = self.pos(mo.account) - sign * q
                self.last = lp
                self.emit(FILLED, t, lp, q, tid, 2, ceil_div(lp * q * self.taker[0], self.taker[1]), 0, mo.id)
                self.emit(FILLED, mo, lp, q, tid, 1, ceil_div(lp * q * self.maker[0], self.maker[1]), 0, t.id)
                if mo.leaves == 0:
                    self.unrest(mo)
                    del self.live[mo.id]
                elif mo.flags & REDUCE_ONLY and self.reducible(mo.account, mo.side) == 0:
                    self.remove_live(mo, CANCELED, R["REDUCE_ONLY_EXHAUSTED"])
                if ro and t.leaves > 0 and self.reducible(t.account, t.side) == 0:
                    self.cancel_taker(t, R["REDUCE_ONLY_EXHAUSTED"])
                    return

    def execute_taker(self, t: RefOrder) -> None:
        if t.tif == FOK and self.fillable(t) < t.leaves:
            self.cancel_taker(t, R["FOK_CANNOT_FILL"])
        else:
            self.match(t)
        if t.leaves == 0:
            self.live.pop(t.id, None)
            return
        if t.type in (MARKET, STOP_MARKET):
            self.cancel_taker(t, R["NO_LIQUIDITY"])
        elif t.tif in (IOC, FOK):
            self.cancel_taker(t, R["IOC_REMAINDER"])
        else:
            self.rest(t)
            return
        self.live.pop(t.id, None)

    def run_triggers(self) -> None:
        while self.last > 0:
            buys = sorted((o for o in self.stops if o.side == BUY), key=lambda o: (o.trigger, o.seq))
            sells = sorted((o for o in self.stops if o.side == SELL), key=lambda o: (-o.trigger, o.seq))
            chosen = None
            if buys and buys[0].trigger <= self.last:
                chosen = buys[0]
            elif sells and sells[0].trigger >= self.last:
                chosen = sells[0]
            if chosen is None:
                return
            self.stops.remove(chosen)
            chosen.state = "taking"
            chosen.seq = self.next_seq
            self.next_seq += 1
            self.emit(TRIGGERED, chosen, chosen.price, chosen.qty)
            self.execute_taker(chosen)

    # -- commands -----------------------------------------------------------------------------
    def submit(
        self, ts, oid, account, side, otype, tif, qty, price=0, trigger=0, expire_ts=0, flags=0
    ) -> int:
        self.now = ts
        self.expire(ts)
        limit_type = otype in (LIMIT, STOP_LIMIT)
        stop_type = otype in (STOP_MARKET, STOP_LIMIT)
        reason = 0
        if oid <= 0:
            reason = R["INVALID_ORDER_ID"]
        elif oid in self.live:
            reason = R["DUPLICATE_ORDER_ID"]
        elif not 0 <= account < (1 << 20):
            reason = R["INVALID_ACCOUNT"]
        elif side not in (BUY, SELL):
            reason = R["INVALID_SIDE"]
        elif otype not in (1, 2, 3, 4):
            reason = R["INVALID_ORDER_TYPE"]
        elif tif not in (1, 2, 3, 4) or (otype == MARKET and tif == GTD):
            reason = R["INVALID_TIME_IN_FORCE"]
        elif not 0 < qty <= MAX_VALUE:
            reason = R["INVALID_QUANTITY"]
        elif (limit_type and not 0 < price <= MAX_VALUE) or (not limit_type and price != 0):
            reason = R["INVALID_PRICE"]
        elif (stop_type and not 0 < trigger <= MAX_VALUE) or (not stop_type and trigger != 0):
            reason = R["INVALID_TRIGGER_PRICE"]
        elif (tif == GTD and expire_ts <= ts) or (tif != GTD and expire_ts != 0):
            reason = R["INVALID_EXPIRE_TIME"]
        elif flags & ~3:
            reason = R["INVALID_FLAGS"]
        elif flags & POST_ONLY and (otype != LIMIT or tif in (IOC, FOK)):
            reason = R["POST_ONLY_INVALID"]
        elif qty < self.min_lots:
            reason = R["BELOW_MIN_QUANTITY"]
        elif self.max_lots and qty > self.max_lots:
            reason = R["ABOVE_MAX_QUANTITY"]
        if not reason:
            if limit_type:
                ref = price
            elif stop_type:
                ref = trigger
            else:
                ref = self.best(3 - side)
                if not ref:
                    reason = R["NO_LIQUIDITY"]
            if not reason:
                if ref * qty < self.min_notional:
                    reason = R["BELOW_MIN_NOTIONAL"]
                elif limit_type and ref * qty > self.max_notional:
                    reason = R["ABOVE_MAX_NOTIONAL"]
        if not reason:
            if flags & REDUCE_ONLY and self.reducible(account, side) == 0:
                reason = R["REDUCE_ONLY_WOULD_INCREASE"]
            elif stop_type and self.triggers_now(side, trigger):
                reason = R["STOP_WOULD_TRIGGER"]
            elif flags & POST_ONLY and self.would_cross(side, price):
                reason = R["POST_ONLY_WOULD_TAKE"]
        if reason:
            self.emit_raw(REJECTED, oid, account, side, price, qty, trigger, reason)
            return reason
        o = RefOrder(
            oid, self.next_seq, account, side, otype, tif, flags, price, trigger, qty, qty, expire_ts, ts
        )
        self.next_seq += 1
        self.live[oid] = o
        self.emit(ACCEPTED, o, price, qty)
        if stop_type:
            o.state = "stop"
            self.stops.append(o)
            return 0
        self.execute_taker(o)
        self.run_triggers()
        return 0

    def cancel(self, ts: int, oid: int) -> int:
        self.now = ts
        self.expire(ts)
        o = self.live.get(oid)
        if o is None:
            self.emit_raw(CANCEL_REJECTED, oid, -1, 0, 0, 0, 0, R["UNKNOWN_ORDER"])
            return R["UNKNOWN_ORDER"]
        self.remove_live(o, CANCELED, R["CANCELED"])
        return 0

    def cancel_all(self, ts: int, account: int, side: int = 0) -> int:
        self.now = ts
        self.expire(ts)
        for o in sorted((o for o in self.live.values() if o.account == account), key=lambda o: o.seq):
            if side in (0, o.side):
                self.remove_live(o, CANCELED, R["CANCELED"])
        return 0

    def amend(self, ts: int, oid: int, qty: int = 0, price: int = 0, trigger: int = 0) -> int:
        self.now = ts
        self.expire(ts)
        o = self.live.get(oid)
        if o is None:
            self.emit_raw(AMEND_REJECTED, oid, -1, 0, price, qty, trigger, R["UNKNOWN_ORDER"])
            return R["UNKNOWN_ORDER"]
        limit_type = o.type in (LIMIT, STOP_LIMIT)
        filled = o.qty - o.leaves
        nq, np_, nt = qty or o.qty, price or o.price, trigger or o.trigger
        reason = 0
        if not 0 <= qty <= MAX_VALUE:
            reason = R["INVALID_QUANTITY"]
        elif not 0 <= price <= MAX_VALUE or (price and not limit_type):
            reason = R["INVALID_PRICE"]
        elif not 0 <= trigger <= MAX_VALUE or (trigger and o.state != "stop"):
            reason = R["INVALID_TRIGGER_PRICE"]
        elif nq <= filled:
            reason = R["AMEND_QUANTITY_BELOW_FILLED"]
        elif nq < self.min_lots:
            reason = R["BELOW_MIN_QUANTITY"]
        elif self.max_lots and nq > self.max_lots:
            reason = R["ABOVE_MAX_QUANTITY"]
        else:
            ref = np_ if limit_type else nt
            if ref * nq < self.min_notional:
                reason = R["BELOW_MIN_NOTIONAL"]
            elif limit_type and ref * nq > self.max_notional:
                reason = R["ABOVE_MAX_NOTIONAL"]
            elif o.state == "stop" and nt != o.trigger and self.triggers_now(o.side, nt):
                reason = R["STOP_WOULD_TRIGGER"]
            elif (
                o.state == "resting"
                and np_ != o.price
                and o.flags & POST_ONLY
                and self.would_cross(o.side, np_)
            ):
                reason = R["POST_ONLY_WOULD_TAKE"]
        if reason:
            self.emit(AMEND_REJECTED, o, o.price, o.qty, reason=reason)
            return reason
        if o.state == "stop":
            if nt != o.trigger or nq > o.qty:
                o.seq = self.next_seq
                self.next_seq += 1
            o.qty, o.leaves, o.price, o.trigger = nq, nq - filled, np_, nt
            self.emit(UPDATED, o, o.price, o.qty)
            return 0
        if np_ != o.price:
            self.unrest(o)
            o.price, o.qty, o.leaves = np_, nq, nq - filled
            o.seq = self.next_seq
            self.next_seq += 1
            self.emit(UPDATED, o, o.price, o.qty)
            self.execute_taker(o)
            self.run_triggers()
            return 0
        if nq > o.qty:
            self.unrest(o)
            o.qty, o.leaves = nq, nq - filled
            o.seq = self.next_seq
            self.next_seq += 1
            self.rest(o)
        else:
            o.leaves -= o.qty - nq
            o.qty = nq
        self.emit(UPDATED, o, o.price, o.qty)
        return 0

    # -- observation --------------------------------------------------------------------------
    def book_state(self) -> dict:
        out = {}
        for side in (BUY, SELL):
            prices = sorted(self.book[side], reverse=side == BUY)
            out[side] = [
                (p, sum(o.leaves for o in self.book[side][p]), [o.id for o in self.book[side][p]])
                for p in prices
            ]
            stops = [o for o in self.stops if o.side == side]
            key = (lambda o: (o.trigger, o.seq)) if side == BUY else (lambda o: (-o.trigger, o.seq))
            out[f"stops{side}"] = [o.id for o in sorted(stops, key=key)]
        out["positions"] = {a: p for a, p in self.positions.items() if p}
        out["counters"] = (self.next_trade_id, self.last)
        return out


def engine_state(e: m.MatchingEngine) -> dict:
    out = {}
    for side in (BUY, SELL):
        prices, lots, _ = e.depth(side, 10_000)
        out[side] = [
            (int(p), int(q), e.level_order_ids(side, int(p))) for p, q in zip(prices, lots, strict=True)
        ]
        out[f"stops{side}"] = e.stop_order_ids(side)
    out["positions"] = e.positions_dict()
    out["counters"] = (e.next_trade_id, e.last_trade_ticks)
    return out


# -- op generation ---------------------------------------------------------------------------
CONFIGS = st.fixed_dictionaries(
    {
        "min_lots": st.sampled_from([1, 2]),
        "max_lots": st.sampled_from([0, 30]),
        "min_notional": st.sampled_from([0, 250]),
        "maker": st.sampled_from([(0, 1), (1, 1000), (-1, 4000), (3, 7)]),
        "taker": st.sampled_from([(0, 1), (2, 1000), (5, 3)]),
        "stp_mode": st.sampled_from([0, 1, 2, 3]),
    }
)


@st.composite
def op_sequences(draw, max_ops: int = 60):
    n = draw(st.integers(1, max_ops))
    ops = []
    ts = 0
    next_id = 1
    for _ in range(n):
        ts += draw(st.integers(0, 3))
        kind = draw(st.sampled_from(["submit"] * 6 + ["cancel", "amend", "amend", "cancel_all"]))
        if kind == "submit":
            otype = draw(st.sampled_from([LIMIT, LIMIT, LIMIT, MARKET, STOP_MARKET, STOP_LIMIT]))
            tif = draw(st.sampled_from([GTC, GTC, IOC, FOK, GTD]))
            if otype == MARKET and tif == GTD:
                tif = IOC
            price = draw(st.integers(97, 103)) if otype in (LIMIT, STOP_LIMIT) else 0
            trigger = draw(st.integers(97, 103)) if otype in (STOP_MARKET, STOP_LIMIT) else 0
            expire = ts + draw(st.integers(1, 12)) if tif == GTD else 0
            bad = draw(st.integers(0, 30))
            if (otype == LIMIT and tif in (GTC, GTD)) or bad == 3:
                flags = draw(st.sampled_from([0, 0, 0, POST_ONLY, REDUCE_ONLY]))
            else:
                flags = draw(st.sampled_from([0, 0, 0, 0, REDUCE_ONLY]))
            qty = draw(st.integers(1, 12))
            if bad == 0:  # an occasional malformed field exercises validation
                qty = 0
            elif bad == 1:
                price = -1
            oid = next_id if bad != 2 else draw(st.integers(0, next_id))
            next_id += 1
            account = draw(st.integers(0, 3))
            ops.append(
                (
                    "submit",
                    ts,
                    oid,
                    account,
                    draw(st.sampled_from([BUY, SELL])),
                    otype,
                    tif,
                    qty,
                    price,
                    trigger,
                    expire,
                    flags,
                )
            )
        elif kind == "cancel":
            ops.append(("cancel", ts, draw(st.integers(max(1, next_id - 6), next_id))))
        elif kind == "amend":
            ops.append(
                (
                    "amend",
                    ts,
                    draw(st.integers(max(1, next_id - 6), next_id)),
                    draw(st.sampled_from([0, 0, 1, 3, 8, 15])),
                    draw(st.sampled_from([0, 0, 97, 100, 103])),
                    draw(st.sampled_from([0, 0, 0, 99, 101])),
                )
            )
        else:
            ops.append(("cancel_all", ts, draw(st.integers(0, 3)), draw(st.sampled_from([0, BUY, SELL]))))
    return ops


def apply(target, op) -> int:
    name, *args = op
    return getattr(target, name)(*args)


def engine_for(config: dict) -> m.MatchingEngine:
    return m.MatchingEngine(
        min_lots=config["min_lots"],
        max_lots=config["max_lots"],
        min_notional=config["min_notional"],
        maker_fee_num=config["maker"][0],
        maker_fee_den=config["maker"][1],
        taker_fee_num=config["taker"][0],
        taker_fee_den=config["taker"][1],
        stp_mode=config["stp_mode"],
        capacity=16,
    )


def seed_positions(e: m.MatchingEngine, ref: RefMatcher, positions: list[int]) -> None:
    for account, lots in enumerate(positions):
        e.set_position(account, lots)
        ref.positions[account] = lots


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=CONFIGS, ops=op_sequences(), positions=st.lists(st.integers(-10, 10), min_size=4, max_size=4))
def test_matcher_when_driven_like_reference_then_reports_and_book_are_identical(config, ops, positions):
    e = engine_for(config)
    ref = RefMatcher(**config)
    seed_positions(e, ref, positions)
    for op in ops:
        ref.reports = []
        code = apply(e, op)
        ref_code = apply(ref, op)
        assert code == ref_code, op
        assert [tuple(r) for r in e.report_rows()] == ref.reports, op
        assert engine_state(e) == ref.book_state(), op
        e.check_invariants()


@settings(max_examples=100, deadline=None)
@given(config=CONFIGS, ops=op_sequences(max_ops=40), cut=st.integers(0, 40))
def test_matcher_when_restored_from_snapshot_then_continues_identically(config, ops, cut):
    original = engine_for(config)
    for op in ops[:cut]:
        apply(original, op)
    restored = engine_for(config)
    for row in original.orders_array().tolist():
        restored.restore_order(*row)
    restored.restore_state(**original.state_dict())
    for account, lots in original.positions_dict().items():
        restored.set_position(account, lots)
    restored.check_invariants()
    assert engine_state(restored) == engine_state(original)
    assert restored.orders_array().tolist() == original.orders_array().tolist()
    for op in ops[cut:]:
        assert apply(restored, op) == apply(original, op)
        assert restored.report_rows() == original.report_rows()
    assert engine_state(restored) == engine_state(original)


@settings(max_examples=60, deadline=None)
@given(config=CONFIGS, ops=op_sequences(max_ops=80))
def test_matcher_batch_process_when_same_ops_then_same_reports_as_per_call(config, ops):
    import numpy as np

    per_call = engine_for(config)
    rows = []
    codes = {"submit": m.OP_SUBMIT, "cancel": m.OP_CANCEL, "amend": m.OP_AMEND, "cancel_all": m.OP_CANCEL_ALL}
    expected = []
    for op in ops:
        apply(per_call, op)
        expected.extend(per_call.report_rows())
        row = [0] * len(m.BATCH_COLUMNS)
        row[0] = codes[op[0]]
        row[1] = op[1]
        if op[0] == "submit":
            row[2:12] = op[2:12]
        elif op[0] == "cancel":
            row[2] = op[2]
        elif op[0] == "amend":
            row[2], row[7], row[8], row[9] = op[2], op[3], op[4], op[5]
        else:
            row[3], row[4] = op[2], op[3]
        rows.append(row)
    batched = engine_for(config)
    n = batched.process(np.array(rows, dtype=np.int64))
    assert n == len(expected)
    assert batched.report_rows() == expected
    assert engine_state(batched) == engine_state(per_call)


# -- invariants, checked on the compiled matcher alone ------------------------------------------
def _queues(e: m.MatchingEngine) -> dict[tuple[int, int], list[int]]:
    out = {}
    for side in (BUY, SELL):
        prices, _, _ = e.depth(side, 10_000)
        for p in prices.tolist():
            out[(side, p)] = e.level_order_ids(side, p)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=CONFIGS, ops=op_sequences(), positions=st.lists(st.integers(-10, 10), min_size=4, max_size=4))
def test_matcher_when_random_ops_then_conservation_priority_and_order_rules_hold(config, ops, positions):
    e = engine_for(config)
    pos = dict(enumerate(positions))
    for account, lots in pos.items():
        e.set_position(account, lots)
    records: dict[int, dict] = {}  # live order id -> {qty, filled, closed, flags, tif}

    def check_closed(rec: dict) -> None:
        # quantity conservation: filled + canceled/expired = the order's (latest) quantity
        assert rec["filled"] + rec["closed"] == rec["qty"], rec
        if rec["tif"] == FOK:  # all or nothing
            assert rec["filled"] in (0, rec["qty"]), rec

    for op in ops:
        queues = _queues(e)
        apply(e, op)
        rows = e.report_rows()
        trades: dict[int, list[list[int]]] = {}
        touched: dict[tuple[int, int], list[int]] = {}
        for r in rows:
            kind, oid = r[0], r[1]
            if kind == ACCEPTED:
                assert oid not in records
                records[oid] = {"qty": r[5], "filled": 0, "closed": 0, "flags": 0, "tif": 0, "side": r[3]}
                o = e.order(oid)
                submitted = op[0] == "submit" and op[2] == oid
                if submitted:
                    records[oid]["flags"], records[oid]["tif"] = op[11], op[6]
                assert o is not None or submitted
            elif kind == UPDATED:
                records[oid]["qty"] = r[5]
            elif kind == FILLED:
                rec = records[oid]
                rec["filled"] += r[5]
                trades.setdefault(r[7], []).append(r)
                before = pos.get(r[2], 0)
                after = before + (r[5] if r[3] == BUY else -r[5])
                pos[r[2]] = after
                if rec["flags"] & REDUCE_ONLY:  # reduce-only caps: never grows or flips the position
                    assert abs(after) < abs(before) and before * after >= 0, (r, before, after)
                if rec["flags"] & POST_ONLY:
                    assert r[8] == m.MAKER
                if r[8] == m.MAKER:
                    touched.setdefault((r[3], r[4]), []).append(oid)
                if r[6] == 0:
                    check_closed(records.pop(oid))
            elif kind in (CANCELED, EXPIRED):
                if (
                    r[11] in (R["SELF_TRADE_PREVENTED"], R["REDUCE_ONLY_EXHAUSTED"])
                    and (r[3], r[4]) in queues
                ):
                    touched.setdefault((r[3], r[4]), []).append(oid)
                rec = records.pop(oid)
                rec["closed"] += r[5]
                check_closed(rec)
        for tid, pair in trades.items():
            taker, maker = pair
            assert taker[8] == m.TAKER and maker[8] == m.MAKER, tid
            assert taker[4] == maker[4] and taker[5] == maker[5] > 0 and taker[3] != maker[3]
            if config["stp_mode"] != 0:
                assert taker[2] != maker[2], "self-trade despite STP"
        # FIFO: makers of a level that were queued before the op are reached in queue order
        for key, ids_seen in touched.items():
            ids = list(dict.fromkeys(ids_seen))  # a maker may fill and then be canceled (reduce-only)
            queue = [i for i in queues.get(key, []) if i in ids]
            assert [i for i in ids if i in queue] == queue, (key, ids, queues.get(key))
        e.check_invariants()  # never crossed, totals = sum of leaves, links and maps consistent
        assert {a: p for a, p in pos.items() if p} == e.positions_dict()
    for oid, rec in records.items():
        o = e.order(oid)
        assert o is not None
        assert rec["filled"] + o["leaves"] == rec["qty"]


def test_matcher_amend_when_size_down_then_keeps_priority_and_when_size_up_or_reprice_then_loses_it():
    e = m.MatchingEngine()
    for oid in (1, 2, 3):
        e.submit(0, oid, oid, BUY, LIMIT, GTC, 10, 100)
    assert e.amend(1, 1, qty=5) == 0
    assert e.level_order_ids(BUY, 100) == [1, 2, 3]
    assert e.amend(2, 1, qty=20) == 0
    assert e.level_order_ids(BUY, 100) == [2, 3, 1]
    assert e.amend(3, 2, price=99) == 0 and e.amend(4, 2, price=100) == 0
    assert e.level_order_ids(BUY, 100) == [3, 1, 2]
    e.submit(5, 9, 9, SELL, MARKET, IOC, 12)
    fills = [r[1] for r in e.report_rows() if r[0] == FILLED and r[8] == m.MAKER]
    assert fills == [3, 1]


def test_matcher_stp_modes_when_account_meets_itself_then_mode_decides_who_is_canceled():
    outcomes = {}
    for name, mode in m.STP_MODES.items():
        e = m.MatchingEngine(stp_mode=mode)
        e.submit(0, 1, 7, SELL, LIMIT, GTC, 5, 100)
        e.submit(0, 2, 8, SELL, LIMIT, GTC, 5, 100)
        e.submit(1, 3, 7, BUY, LIMIT, GTC, 8, 100)
        rows = e.report_rows()
        outcomes[name] = (
            [(r[1], r[5]) for r in rows if r[0] == FILLED and r[8] == m.TAKER],
            [r[1] for r in rows if r[0] == CANCELED],
        )
    assert outcomes["NONE"] == ([(3, 5), (3, 3)], [])
    assert outcomes["CANCEL_TAKER"] == ([], [3])
    assert outcomes["CANCEL_MAKER"] == ([(3, 5)], [1])
    assert outcomes["CANCEL_BOTH"] == ([], [1, 3])
