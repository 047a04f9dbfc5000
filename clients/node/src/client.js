'use strict';
/**
 * A small Node.js client for the AlgoTrendy engine, on @grpc/grpc-js.
 *
 * The .proto files are loaded at runtime from the repository's proto/ folder (nothing is
 * generated or copied), so this client always speaks the engine's current API. Prices,
 * quantities and money travel as decimal strings ({ value: "65000.10" }) and stay strings here:
 * never convert them to Number for trading.
 *
 *   const { AlgoTrendyClient } = require('./src/client');
 *   const client = new AlgoTrendyClient('127.0.0.1:50051');
 *   await client.login('alice', 'secret password');       // or { apiKey } in the constructor
 *   const { order } = await client.submitOrder({ instrument_id: 'SIM:BTC-USD', side: 'SIDE_BUY', ... });
 *   const stream = client.streamOrderEvents({ from_sequence: order.last_sequence });
 *   stream.on('data', (msg) => ...);
 *
 * Errors reject with an AlgoTrendyError carrying the gRPC status code name and the engine's
 * machine-readable details from the trailing metadata (reason, field, retryAfterMs).
 */

const path = require('node:path');
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = process.env.ALGOTRENDY_PROTO_ROOT || path.resolve(__dirname, '..', '..', '..', 'proto');
/** Refresh the access token when less than this fraction of its lifetime (at most 30 s) is left. */
const REFRESH_FRACTION = 0.2;
const MAX_REFRESH_MARGIN_MS = 30_000;

class AlgoTrendyError extends Error {
  constructor(error, method) {
    const metadata = error.metadata ? error.metadata.getMap() : {};
    const code = grpc.status[error.code] || String(error.code);
    const reason = String(metadata['algotrendy-reason'] || code);
    super(`${method}: ${code} ${reason}: ${error.details || error.message}`);
    this.name = 'AlgoTrendyError';
    this.code = code;
    this.reason = reason;
    this.field = metadata['algotrendy-field'] ? String(metadata['algotrendy-field']) : '';
    this.retryAfterMs = metadata['retry-after-ms'] ? Number(metadata['retry-after-ms']) : 0;
    this.details = error.details || '';
  }
}

function loadApi(protoRoot = PROTO_ROOT) {
  const dir = path.join(protoRoot, 'algotrendy', 'v1');
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.proto'))
    .map((f) => path.join('algotrendy', 'v1', f));
  const definition = protoLoader.loadSync(files, {
    includeDirs: [protoRoot],
    keepCase: true, // field names exactly as in the .proto (snake_case)
    longs: String, // int64/uint64 as strings: nanosecond timestamps do not fit a double
    enums: String, // enum names, e.g. 'SIDE_BUY'
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).algotrendy.v1;
}

class AlgoTrendyClient {
  /**
   * @param {string} target host:port of the engine
   * @param {{apiKey?: string, credentials?: grpc.ChannelCredentials, protoRoot?: string, timeoutMs?: number}} options
   */
  constructor(target, options = {}) {
    this.api = loadApi(options.protoRoot);
    this.target = target;
    this.timeoutMs = options.timeoutMs || 10_000;
    this.apiKey = options.apiKey || null;
    this.session = null;
    this._refreshing = null;
    const credentials = options.credentials || grpc.credentials.createInsecure();
    const make = (Service) => new Service(target, credentials);
    this.stubs = {
      engine: make(this.api.EngineService),
      auth: make(this.api.AuthService),
      marketdata: make(this.api.MarketDataService),
      orders: make(this.api.OrderService),
      portfolio: make(this.api.PortfolioService),
      risk: make(this.api.RiskService),
    };
  }

  close() {
    for (const stub of Object.values(this.stubs)) stub.close();
  }

  // -- plumbing ----------------------------------------------------------------------------------
  _rawUnary(stub, method, request, metadata) {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + this.timeoutMs);
      this.stubs[stub][method](request, metadata || new grpc.Metadata(), { deadline }, (error, response) => {
        if (error) reject(new AlgoTrendyError(error, method));
        else resolve(response);
      });
    });
  }

  _storeSession(response) {
    const now = Date.now();
    this.session = {
      user: response.user,
      role: response.role,
      accessToken: response.access_token,
      accessExpiresAtMs: Number(BigInt(response.access_expires_at_ns) / 1_000_000n),
      refreshToken: response.refresh_token,
      receivedAtMs: now,
    };
  }

  _accessIsFresh(now) {
    const s = this.session;
    const margin = Math.min((s.accessExpiresAtMs - s.receivedAtMs) * REFRESH_FRACTION, MAX_REFRESH_MARGIN_MS);
    return now < s.accessExpiresAtMs - margin;
  }

  async _refresh() {
    if (!this._refreshing) {
      this._refreshing = this._rawUnary('auth', 'Refresh', { refresh_token: this.session.refreshToken })
        .then((response) => this._storeSession(response))
        .finally(() => {
          this._refreshing = null;
        });
    }
    return this._refreshing;
  }

  async _metadata() {
    const metadata = new grpc.Metadata();
    if (this.apiKey) {
      metadata.set('authorization', `ApiKey ${this.apiKey}`);
    } else if (this.session) {
      if (!this._accessIsFresh(Date.now())) await this._refresh();
      metadata.set('authorization', `Bearer ${this.session.accessToken}`);
    }
    return metadata;
  }

  async _unary(stub, method, request) {
    try {
      return await this._rawUnary(stub, method, request, await this._metadata());
    } catch (error) {
      // An access token that expired in flight: refresh once and retry (refused calls changed nothing).
      if (error.code === 'UNAUTHENTICATED' && this.session && !this.apiKey) {
        await this._refresh();
        return this._rawUnary(stub, method, request, await this._metadata());
      }
      throw error;
    }
  }

  async _stream(stub, method, request) {
    return this.stubs[stub][method](request, await this._metadata());
  }

  // -- auth --------------------------------------------------------------------------------------
  async login(user, password) {
    this._storeSession(await this._rawUnary('auth', 'Login', { user, password }));
    this.apiKey = null;
    return { user: this.session.user, role: this.session.role };
  }

  async logout() {
    if (!this.session) return;
    await this._unary('auth', 'Logout', { refresh_token: this.session.refreshToken });
    this.session = null;
  }

  whoAmI() {
    return this._unary('auth', 'WhoAmI', {});
  }

  // -- engine, market data, orders, portfolio, risk ----------------------------------------------
  getStatus() {
    return this._unary('engine', 'GetStatus', {});
  }

  listInstruments(venue = '') {
    return this._unary('marketdata', 'ListInstruments', { venue });
  }

  getOrderBook(instrumentId, depth = 10) {
    return this._unary('marketdata', 'GetOrderBook', { instrument_id: instrumentId, depth });
  }

  /** A server stream of StreamMarketDataResponse messages ('data', 'error', 'end'); call .cancel() to stop. */
  streamMarketData(request) {
    return this._stream('marketdata', 'StreamMarketData', request);
  }

  submitOrder(request) {
    return this._unary('orders', 'SubmitOrder', request);
  }

  cancelOrder(accountId, clientOrderId) {
    return this._unary('orders', 'CancelOrder', { account_id: accountId, client_order_id: clientOrderId });
  }

  getOrder(accountId, clientOrderId) {
    return this._unary('orders', 'GetOrder', { account_id: accountId, client_order_id: clientOrderId });
  }

  listOrders(request = {}) {
    return this._unary('orders', 'ListOrders', request);
  }

  /** Order events in sequence order; from_sequence n replays from the journal (>= n), then live. */
  streamOrderEvents(request = {}) {
    return this._stream('orders', 'StreamOrderEvents', request);
  }

  listPositions(accountId) {
    return this._unary('portfolio', 'ListPositions', { account_id: accountId });
  }

  getBalances(accountId) {
    return this._unary('portfolio', 'GetBalances', { account_id: accountId });
  }

  getRiskState(accountId) {
    return this._unary('risk', 'GetRiskState', { account_id: accountId });
  }
}

module.exports = { AlgoTrendyClient, AlgoTrendyError, loadApi, PROTO_ROOT };
