"""The Cython risk gate agrees with a small pure-Python reference of its rules.

``RefGate`` follows the numbered rules in ``ext/risk/gate.pyx`` with plain dicts and unbounded ints.
Hypothesis draws limits for two instruments / two accounts / two strategies (plus an index that is
never registered) and a sequence of operations: market updates, new-order checks (opened when
approved), amend checks (applied when approved), fills, closes, stop triggers and trading-state
changes. After every check both gates must give the same reason, and after every operation hold
the same positions, open lots, best resting prices, open-order counts, exposure and tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ext.risk import gate as g
from engine.ext.risk.gate import RiskReason as R

BUY, SELL = 1, 2
MARKET, LIMIT, STOP_MARKET, STOP_LIMIT = 1, 2, 3, 4
ACTIVE, REDUCING, HALTED = 1, 2, 3
TOKEN = g.TOKEN_UNITS
MAX_VALUE = g.MAX_TICKS_OR_LOTS
N_ACC, N_INST, N_STRAT = 2, 2, 2


@dataclass
class RefInst:
    price_step: int
    size_step: int
    factor: int
    min_lots: int
    min_notional: int
    limits: tuple[int, int, int, int, int, int] | None
    last: int = 0
    bid: int = 0
    ask: int = 0
    md_ts: int = -1
    mark2: int = 0

    def ref2(self) -> int:
        ref_kind = self.limits[5] if self.limits else g.REF_MID
        if ref_kind == g.REF_LAST:
            return 2 * self.last if self.last > 0 else 0
        return self.bid + self.ask if self.bid > 0 and self.ask > 0 else 0


@dataclass
class Bucket:
    rate: int
    capacity: int
    tokens: int
    last_ts: int = -1

    def available(self, ts: int) -> int:
        if self.last_ts < 0:
            return self.capacity
        elapsed = ts - self.last_ts
        if elapsed <= 0:
            return self.tokens
        return min(self.capacity, self.tokens + elapsed * self.rate)

    def take(self, available: int, ts: int) -> None:
        self.tokens = available - TOKEN
        self.last_ts = max(self.last_ts, ts)


@dataclass
class RefOrder:
    acc: int
    inst: int
    strat: int
    side: int
    otype: int
    price: int
    trigger: int
    total: int
    leaves: int


@dataclass
class RefGate:
    insts: dict[int, RefInst]
    acc_limits: dict[int, tuple[int, int, int]]  # max_gross, max_net, max_open_orders
    acc_buckets: dict[int, Bucket]
    strat_buckets: dict[int, Bucket]
    state: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(N_ACC), ACTIVE))
    global_state: int = ACTIVE
    positions: dict[tuple[int, int], int] = field(default_factory=dict)
    orders: dict[int, RefOrder] = field(default_factory=dict)
    coids: dict[int, set[str]] = field(default_factory=lambda: {a: set() for a in range(N_ACC)})

    # -- derived state ----------------------------------------------------------------------
    def open_lots(self, acc: int, inst: int, side: int, skip: int | None = None) -> int:
        return sum(
            o.leaves
            for k, o in self.orders.items()
            if k != skip and (o.acc, o.inst, o.side) == (acc, inst, side)
        )

    def best(self, acc: int, inst: int, side: int) -> int:
        prices = [
            o.price
            for o in self.orders.values()
            if (o.acc, o.inst, o.side, o.otype) == (acc, inst, side, LIMIT)
        ]
        if not prices:
            return 0
        return max(prices) if side == BUY else min(prices)

    def open_count(self, acc: int) -> int:
        return sum(1 for o in self.orders.values() if o.acc == acc)

    def contrib(self, acc: int, inst: int, ob: int, os: int) -> tuple[int, int, int]:
        s = self.insts[inst]
        pos = self.positions.get((acc, inst), 0)
        m = s.mark2 * s.factor
        a, b = pos + ob, pos - os
        return max(abs(a), abs(b)) * m, a * m, b * m

    def exposure2(self, acc: int, override: dict[int, tuple[int, int]] | None = None) -> tuple[int, int, int]:
        gross = up = lo = 0
        for inst in self.insts:
            ob = self.open_lots(acc, inst, BUY)
            os = self.open_lots(acc, inst, SELL)
            if override and inst in override:
                ob, os = override[inst]
            c = self.contrib(acc, inst, ob, os)
            gross, up, lo = gross + c[0], up + c[1], lo + c[2]
        return gross, up, lo

    # -- updates ----------------------------------------------------------------------------
    def market(self, inst: int, last: int, bid: int, ask: int, ts: int) -> None:
        s = self.insts[inst]
        s.last, s.bid, s.ask = last, bid, ask
        s.md_ts = max(s.md_ts, ts)
        if s.ref2() > 0:
            s.mark2 = s.ref2()

    def fill(self, key: int, lots: int, price: int) -> None:
        o = self.orders[key]
        o.leaves -= lots
        if o.leaves == 0:
            del self.orders[key]
        k = (o.acc, o.inst)
        self.positions[k] = self.positions.get(k, 0) + (lots if o.side == BUY else -lots)
        s = self.insts[o.inst]
        if s.mark2 == 0:
            s.mark2 = 2 * price

    # -- the checks -------------------------------------------------------------------------
    def check(
        self,
        acc: int,
        inst: int,
        strat: int,
        side: int,
        otype: int,
        price_raw: int,
        trigger_raw: int,
        qty_raw: int,
        reduce_only: bool,
        coid: str | None,
        ts: int,
        replacing: int | None = None,
    ) -> int:
        if acc not in self.acc_limits:
            return R.RISK_UNKNOWN_ACCOUNT if acc not in self.state else R.RISK_NO_LIMITS
        if inst not in self.insts:
            return R.RISK_UNKNOWN_INSTRUMENT
        s = self.insts[inst]
        if s.limits is None:
            return R.RISK_NO_LIMITS
        if strat not in self.strat_buckets:
            return R.RISK_UNKNOWN_STRATEGY
        max_order_lots, max_order_notional, max_pos, band_bps, max_age, _ = s.limits
        has_price = otype in (LIMIT, STOP_LIMIT)
        has_trigger = otype in (STOP_MARKET, STOP_LIMIT)
        if side not in (BUY, SELL) or not 1 <= otype <= 4 or qty_raw <= 0:
            return R.RISK_INVALID_ORDER
        if (
            (price_raw > 0) != has_price
            or (trigger_raw > 0) != has_trigger
            or price_raw < 0
            or trigger_raw < 0
        ):
            return R.RISK_INVALID_ORDER
        if price_raw % s.price_step or trigger_raw % s.price_step:
            return R.RISK_PRICE_OFF_TICK
        if qty_raw % s.size_step:
            return R.RISK_SIZE_OFF_INCREMENT
        price, trigger, lots = price_raw // s.price_step, trigger_raw // s.price_step, qty_raw // s.size_step
        if max(price, trigger, lots) > MAX_VALUE:
            return R.RISK_INVALID_ORDER
        old = self.orders.get(replacing) if replacing is not None else None
        if old is not None:
            leaves = lots - (old.total - old.leaves)
            if leaves <= 0:
                return R.RISK_INVALID_ORDER
        else:
            leaves = lots
            if coid is not None and coid in self.coids[acc]:
                return R.RISK_DUPLICATE_CLIENT_ORDER_ID
        if lots < s.min_lots:
            return R.RISK_BELOW_MIN_QUANTITY
        if lots > max_order_lots:
            return R.RISK_MAX_ORDER_QUANTITY
        if s.md_ts < 0:
            return R.RISK_NO_REFERENCE_PRICE
        if ts - s.md_ts > max_age:
            return R.RISK_STALE_MARKET_DATA
        ref2 = s.ref2()
        if ref2 <= 0:
            return R.RISK_NO_REFERENCE_PRICE
        if has_price and abs(2 * price - ref2) * 10_000 > band_bps * ref2:
            return R.RISK_PRICE_BAND
        px2 = 2 * price if has_price else (2 * trigger if has_trigger else ref2)
        notional2 = lots * px2 * s.factor
        if notional2 < 2 * s.min_notional:
            return R.RISK_BELOW_MIN_NOTIONAL
        if notional2 > 2 * max_order_notional:
            return R.RISK_MAX_ORDER_NOTIONAL
        best_buy, best_sell = self.best(acc, inst, BUY), self.best(acc, inst, SELL)
        if otype == LIMIT:
            if side == BUY and best_sell > 0 and price >= best_sell:
                return R.RISK_SELF_CROSS
            if side == SELL and best_buy > 0 and price <= best_buy:
                return R.RISK_SELF_CROSS
        elif otype == MARKET:
            if side == BUY and best_sell > 0 and (s.ask <= 0 or best_sell <= s.ask):
                return R.RISK_SELF_CROSS
            if side == SELL and best_buy > 0 and (s.bid <= 0 or best_buy >= s.bid):
                return R.RISK_SELF_CROSS
        pos = self.positions.get((acc, inst), 0)
        ob = self.open_lots(acc, inst, BUY, replacing)
        os = self.open_lots(acc, inst, SELL, replacing)
        if side == BUY:
            ob += leaves
            if pos + ob > max_pos:
                return R.RISK_MAX_POSITION
        else:
            os += leaves
            if pos - os < -max_pos:
                return R.RISK_MAX_POSITION
        max_gross, max_net, max_open = self.acc_limits[acc]
        if old is None and self.open_count(acc) + 1 > max_open:
            return R.RISK_MAX_OPEN_ORDERS
        g_old, up_old, lo_old = self.exposure2(acc)
        g_new, up_new, lo_new = self.exposure2(acc, {inst: (ob, os)})
        if g_new > 2 * max_gross and g_new > g_old:
            return R.RISK_MAX_GROSS_EXPOSURE
        net_old, net_new = max(abs(up_old), abs(lo_old)), max(abs(up_new), abs(lo_new))
        if net_new > 2 * max_net and net_new > net_old:
            return R.RISK_MAX_NET_EXPOSURE
        state = max(self.state[acc], self.global_state)
        if state == HALTED:
            return R.TRADING_HALTED
        if state == REDUCING or reduce_only:
            ok = (pos < 0 and ob <= -pos) if side == BUY else (pos > 0 and os <= pos)
            if not ok:
                return R.RISK_REDUCING_ONLY
        a_tok = self.acc_buckets[acc].available(ts)
        if a_tok < TOKEN:
            return R.RISK_THROTTLED_ACCOUNT
        s_tok = self.strat_buckets[strat].available(ts)
        if s_tok < TOKEN:
            return R.RISK_THROTTLED_STRATEGY
        self.acc_buckets[acc].take(a_tok, ts)
        self.strat_buckets[strat].take(s_tok, ts)
        if old is None and coid is not None:
            self.coids[acc].add(coid)
        return R.APPROVED


# -- strategies ------------------------------------------------------------------------------------
inst_config = st.tuples(
    st.sampled_from([1, 5]),  # price_step
    st.sampled_from([1, 10]),  # size_step
    st.sampled_from([1, 3]),  # factor
    st.integers(1, 3),  # min_lots
    st.sampled_from([0, 200]),  # min_notional
    st.tuples(
        st.integers(0, 9),  # 0: no limits
        st.tuples(
            st.integers(4, 40),  # max_order_lots
            st.integers(500, 20_000),  # max_order_notional
            st.integers(5, 30),  # max_position_lots
            st.sampled_from([50, 500, 3000]),  # band_bps
            st.sampled_from([10**9, 10**10, 10**10]),  # max_age_ns
            st.sampled_from([g.REF_LAST, g.REF_MID]),
        ),
    ).map(lambda t: None if t[0] == 0 else t[1]),
)
acc_config = st.tuples(
    st.integers(2_000, 30_000), st.integers(1_000, 20_000), st.integers(1, 6), st.integers(0, 9)
)
bucket_config = st.tuples(st.integers(1, 5), st.integers(1, 8))  # orders per second, burst

price_ticks = st.one_of(st.integers(97, 103), st.integers(97, 103), st.integers(80, 120))
dt = st.sampled_from([0, 0, 0, 1_000, 10**8, 3 * 10**8, 2 * 10**9])
check_op = st.tuples(
    st.just("check"),
    st.sampled_from([0] * 6 + [1] * 6 + [N_ACC]),  # N_ACC = never registered
    st.sampled_from([0] * 6 + [1] * 6 + [N_INST]),
    st.sampled_from([0] * 6 + [1] * 6 + [N_STRAT]),
    st.sampled_from([BUY, SELL]),
    st.sampled_from([MARKET, LIMIT, LIMIT, LIMIT, STOP_MARKET, STOP_LIMIT]),
    price_ticks,
    st.sampled_from([0] * 9 + [1]),  # off-grid nudge
    st.integers(1, 8),  # lots
    st.sampled_from([0] * 9 + [3]),  # size nudge
    st.booleans(),  # reduce_only
    st.integers(0, 30),  # coid number
    dt,
    st.sampled_from([True, True, False]),  # open when approved
)
op = st.one_of(
    check_op,
    check_op,
    check_op,
    check_op,
    st.tuples(
        st.just("market"),
        st.integers(0, N_INST - 1),
        st.sampled_from([0, 98, 99, 100, 100, 101, 102]),
        st.sampled_from([0, 98, 99, 99, 99, 100]),
        st.sampled_from([0, 100, 101, 101, 101, 102]),
        dt,
    ),
    st.tuples(st.just("amend"), st.integers(0, 50), price_ticks, st.integers(0, 8), dt),
    st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 8), price_ticks),
    st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 8), price_ticks),
    st.tuples(st.just("close"), st.integers(0, 50)),
    st.tuples(st.just("trigger"), st.integers(0, 50)),
    st.tuples(
        st.just("state"), st.integers(0, N_ACC - 1), st.sampled_from([ACTIVE] * 4 + [REDUCING, HALTED])
    ),
    st.tuples(st.just("global"), st.sampled_from([ACTIVE] * 6 + [REDUCING, HALTED])),
)


def _build(insts: list, accs: list, acc_buckets: list, strat_buckets: list) -> tuple[g.RiskGate, RefGate]:
    gate = g.RiskGate(N_ACC + 1, N_INST + 1, N_STRAT + 1, 4)
    ref_insts = {}
    for i, (pstep, sstep, factor, min_lots, min_notional, limits) in enumerate(insts):
        gate.register_instrument(i, 2, pstep, 3, sstep, factor, min_lots, min_notional, True)
        if limits is not None:
            gate.set_instrument_limits(i, *limits)
        ref_insts[i] = RefInst(pstep, sstep, factor, min_lots, min_notional, limits)
    acc_limits, ref_acc_buckets, ref_strat_buckets = {}, {}, {}
    for a, ((max_gross, max_net, max_open, flag), (rate, burst)) in enumerate(
        zip(accs, acc_buckets, strict=True)
    ):
        gate.register_account(a)
        if a == 1 and flag == 0:  # sometimes an account without limits
            continue
        gate.set_account_limits(a, max_gross, max_net, max_open, rate, burst)
        acc_limits[a] = (max_gross, max_net, max_open)
        ref_acc_buckets[a] = Bucket(rate, burst * TOKEN, burst * TOKEN)
    for s, (rate, burst) in enumerate(strat_buckets):
        gate.register_strategy(s)
        gate.set_strategy_limits(s, rate, burst)
        ref_strat_buckets[s] = Bucket(rate, burst * TOKEN, burst * TOKEN)
    return gate, RefGate(ref_insts, acc_limits, ref_acc_buckets, ref_strat_buckets)


def _compare(gate: g.RiskGate, ref: RefGate, ts: int) -> None:
    for acc in range(N_ACC):
        assert gate.open_orders(acc) == ref.open_count(acc)
        assert gate.trading_state(acc) == max(ref.state[acc], ref.global_state)
        if acc in ref.acc_limits:
            assert gate.exposure2(acc) == ref.exposure2(acc)
        for inst in range(N_INST):
            assert gate.position(acc, inst) == ref.positions.get((acc, inst), 0)
            for side in (BUY, SELL):
                assert gate.open_lots(acc, inst, side) == ref.open_lots(acc, inst, side)
                assert gate.best_resting(acc, inst, side) == ref.best(acc, inst, side)
        for strat in range(N_STRAT):
            if acc in ref.acc_buckets:
                assert gate.tokens(acc, strat, ts) == (
                    ref.acc_buckets[acc].available(ts),
                    ref.strat_buckets[strat].available(ts),
                )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    insts=st.lists(inst_config, min_size=N_INST, max_size=N_INST),
    accs=st.lists(acc_config, min_size=N_ACC, max_size=N_ACC),
    acc_buckets=st.lists(bucket_config, min_size=N_ACC, max_size=N_ACC),
    strat_buckets=st.lists(bucket_config, min_size=N_STRAT, max_size=N_STRAT),
    ops=st.lists(op, min_size=30, max_size=100),
)
def test_gate_when_random_orders_and_states_then_agrees_with_reference(
    insts: list, accs: list, acc_buckets: list, strat_buckets: list, ops: list
) -> None:
    gate, ref = _build(insts, accs, acc_buckets, strat_buckets)
    ts = 1_000_000_000
    next_key = 1
    for inst in range(N_INST):
        gate.on_market(inst, 100, 99, 101, ts)
        ref.market(inst, 100, 99, 101, ts)
    for item in ops:
        kind = item[0]
        live = sorted(ref.orders)
        if kind == "market":
            _, inst, last, bid, ask, dt = item
            ts += dt
            gate.on_market(inst, last, bid, ask, ts)
            ref.market(inst, last, bid, ask, ts)
        elif kind == "check":
            _, acc, inst, strat, side, otype, px, nudge, lots, qnudge, reduce_only, coid_n, dt, opens = item
            ts += dt
            s = ref.insts.get(inst)
            pstep, sstep = (s.price_step, s.size_step) if s else (1, 1)
            price_raw = px * pstep + nudge if otype in (LIMIT, STOP_LIMIT) else 0
            trigger_raw = (px + 2) * pstep if otype in (STOP_MARKET, STOP_LIMIT) else 0
            qty_raw = lots * sstep + qnudge
            coid = f"c{coid_n}"
            args = (acc, inst, strat, side, otype, price_raw, trigger_raw, qty_raw, reduce_only, coid, ts)
            got = gate.check(*args)
            assert got == ref.check(*args), (item, R(got))
            if got == 0 and opens:
                price = price_raw // pstep
                trigger = trigger_raw // pstep
                qty = qty_raw // sstep
                gate.on_order_opened(next_key, acc, inst, strat, side, otype, price, trigger, qty)
                ref.orders[next_key] = RefOrder(acc, inst, strat, side, otype, price, trigger, qty, qty)
                next_key += 1
        elif kind == "amend" and live:
            _, pick, px, lots, dt = item
            ts += dt
            key = live[pick % len(live)]
            o = ref.orders[key]
            s = ref.insts[o.inst]
            price_raw = px * s.price_step if o.otype in (LIMIT, STOP_LIMIT) else 0
            qty_raw = lots * s.size_step
            got = gate.check_amend(key, price_raw, 0, qty_raw, ts)
            want = ref.check(
                o.acc,
                o.inst,
                o.strat,
                o.side,
                o.otype,
                price_raw or o.price * s.price_step,
                o.trigger * s.price_step,
                qty_raw or o.total * s.size_step,
                False,
                None,
                ts,
                replacing=key,
            )
            assert got == want, (item, R(got))
            if got == 0:
                new_total = lots or o.total
                gate.on_order_amended(key, px if price_raw else 0, 0, new_total)
                o.leaves = new_total - (o.total - o.leaves)
                o.total = new_total
                if price_raw:
                    o.price = px
        elif kind == "fill" and live:
            _, pick, lots, px = item
            key = live[pick % len(live)]
            o = ref.orders[key]
            lots = min(lots, o.leaves)
            gate.on_order_reduced(key, lots)
            gate.on_fill(o.acc, o.inst, o.side, lots, px)
            ref.fill(key, lots, px)
        elif kind == "close" and live:
            key = live[item[1] % len(live)]
            assert gate.on_order_closed(key)
            del ref.orders[key]
        elif kind == "trigger" and live:
            key = live[item[1] % len(live)]
            gate.on_order_triggered(key)
            o = ref.orders[key]
            if o.otype in (STOP_MARKET, STOP_LIMIT):
                o.otype = LIMIT if o.otype == STOP_LIMIT else MARKET
                o.trigger = 0
        elif kind == "state":
            gate.set_trading_state(item[1], item[2])
            ref.state[item[1]] = item[2]
        elif kind == "global":
            gate.set_global_trading_state(item[1])
            ref.global_state = item[1]
        _compare(gate, ref, ts)
    restored = g.RiskGate.from_snapshot(gate.snapshot())
    assert restored.snapshot() == gate.snapshot()
    _compare(restored, ref, ts)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.integers(1, 10**9),
    precision=st.integers(0, 6),
    step=st.sampled_from([1, 5, 25]),
)
def test_check_fixed_when_other_precision_then_same_as_check_at_instrument_precision(
    raw: int, precision: int, step: int
) -> None:
    gate = g.RiskGate(1, 1, 1)
    gate.register_instrument(0, 3, step, 3, step, 1, 1, 0, True)
    gate.set_instrument_limits(0, 10**12, 10**15, 10**12, 1_000_000, 10**18, g.REF_LAST)
    gate.register_account(0)
    gate.set_account_limits(0, 10**15, 10**15, 10, 10, 10)
    gate.register_strategy(0)
    gate.set_strategy_limits(0, 10, 10)
    gate.on_trade(0, 1, 0)
    scaled, exact = divmod(raw * 10**3, 10**precision)
    want = (
        g.RiskReason.RISK_PRICE_OFF_TICK
        if exact or scaled % step
        else gate.check(0, 0, 0, BUY, LIMIT, scaled, 0, step, False, None, 1)
    )
    gate2 = g.RiskGate.from_snapshot(gate.snapshot()) if want == 0 else gate
    got = gate2.check_fixed(0, 0, 0, BUY, LIMIT, raw, precision, 0, 0, step, 3, False, None, 1)
    assert got == want
