"""Local mock exchanges (aiohttp REST + WebSocket on 127.0.0.1, port 0) that replay recorded venue
sessions and fixtures from ``../shared/data/exchange-payloads`` to real ccxt.pro clients."""
