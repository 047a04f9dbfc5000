"""AlgoTrendy: a low-latency, single-process algorithmic trading engine for crypto markets."""

__version__ = "0.1.0"
