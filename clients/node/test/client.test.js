'use strict';
/**
 * End-to-end against a running engine (tests/integration/test_node_client.py starts one and sets
 * ALGOTRENDY_TARGET, ALGOTRENDY_USER, ALGOTRENDY_PASSWORD): log in, subscribe to market data,
 * submit an order and receive that order's fill event from StreamOrderEvents.
 */

const test = require('node:test');
const assert = require('node:assert/strict');
const { AlgoTrendyClient, AlgoTrendyError } = require('../src/client');

const TARGET = process.env.ALGOTRENDY_TARGET;
const USER = process.env.ALGOTRENDY_USER;
const PASSWORD = process.env.ALGOTRENDY_PASSWORD;
const INSTRUMENT = 'SIM:BTC-USD';
const ACCOUNT = 'main';
const skip = TARGET && USER && PASSWORD ? false : 'set ALGOTRENDY_TARGET, ALGOTRENDY_USER and ALGOTRENDY_PASSWORD';

/** Resolves with the first stream message `accept` returns a value for; rejects on error or timeout. */
function firstMatch(stream, accept, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.cancel();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    stream.on('data', (message) => {
      const found = accept(message);
      if (found !== undefined) {
        clearTimeout(timer);
        stream.cancel();
        resolve(found);
      }
    });
    stream.on('error', (error) => {
      if (error.code === 1) return; // CANCELLED: we stopped it ourselves
      clearTimeout(timer);
      reject(error);
    });
  });
}

test('login, market data, submit an order and receive its fill', { skip, timeout: 60_000 }, async () => {
  const client = new AlgoTrendyClient(TARGET);
  try {
    const session = await client.login(USER, PASSWORD);
    assert.equal(session.user, USER);
    const me = await client.whoAmI();
    assert.equal(me.user, USER);
    assert.equal(me.credential, 'CREDENTIAL_KIND_ACCESS_TOKEN');

    // Market data: the best bid and offer of the simulated market.
    const market = await client.streamMarketData({
      instrument_ids: [INSTRUMENT],
      channels: [{ channel: 'MARKET_DATA_CHANNEL_BBO' }, { channel: 'MARKET_DATA_CHANNEL_TRADES' }],
    });
    const bbo = await firstMatch(
      market,
      (message) => message.events.map((e) => e.bbo).find((b) => b && b.ask_price && b.ask_price.value),
      30_000,
      'a best bid/offer',
    );
    assert.equal(bbo.instrument_id, INSTRUMENT);
    assert.match(bbo.ask_price.value, /^\d+(\.\d+)?$/); // an exact decimal string, never a float
    assert.ok(Number(bbo.bid_price.value) < Number(bbo.ask_price.value));

    // A marketable order: a market buy, immediate-or-cancel.
    const clientOrderId = `node-${Date.now()}`;
    const { order } = await client.submitOrder({
      account_id: ACCOUNT,
      client_order_id: clientOrderId,
      instrument_id: INSTRUMENT,
      side: 'SIDE_BUY',
      order_type: 'ORDER_TYPE_MARKET',
      quantity: { value: '0.001' },
      time_in_force: 'TIME_IN_FORCE_IOC',
    });
    assert.equal(order.client_order_id, clientOrderId);
    assert.ok(Number(order.last_sequence) >= 1);

    // Its fill, from the order-event stream: from_sequence replays from the journal, so the fill
    // cannot be missed even if it happened before the stream opened.
    const events = await client.streamOrderEvents({ account_id: ACCOUNT, from_sequence: order.last_sequence });
    const fill = await firstMatch(
      events,
      (message) =>
        message.events.find((e) => e.client_order_id === clientOrderId && e.kind === 'ORDER_EVENT_KIND_FILLED'),
      30_000,
      `the fill of ${clientOrderId}`,
    );
    assert.equal(fill.instrument_id, INSTRUMENT);
    assert.equal(fill.side, 'SIDE_BUY');
    assert.ok(Number(fill.sequence) > Number(order.last_sequence) - 1);
    assert.match(fill.last_price.value, /^\d+(\.\d+)?$/);
    assert.equal(Number(fill.last_quantity.value), 0.001);

    const filled = await client.getOrder(ACCOUNT, clientOrderId);
    assert.equal(filled.order.status, 'ORDER_STATUS_FILLED');
  } finally {
    client.close();
  }
});

test('errors carry the engine reason and field', { skip, timeout: 30_000 }, async () => {
  const client = new AlgoTrendyClient(TARGET);
  try {
    await assert.rejects(client.login(USER, 'wrong password'), (error) => {
      assert.ok(error instanceof AlgoTrendyError);
      assert.equal(error.code, 'UNAUTHENTICATED');
      return true;
    });
    await client.login(USER, PASSWORD);
    await assert.rejects(
      client.submitOrder({
        account_id: ACCOUNT,
        client_order_id: `node-bad-${Date.now()}`,
        instrument_id: INSTRUMENT,
        side: 'SIDE_BUY',
        order_type: 'ORDER_TYPE_LIMIT',
        quantity: { value: '0.001' },
        price: { value: 'not-a-number' },
        time_in_force: 'TIME_IN_FORCE_GTC',
      }),
      (error) => {
        assert.equal(error.code, 'INVALID_ARGUMENT');
        assert.equal(error.field, 'price');
        return true;
      },
    );
  } finally {
    client.close();
  }
});
