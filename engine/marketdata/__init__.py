"""Market data: order books (``book``), venue normalisers and replays (``binance``)."""
