"""Kernels of the backtester: the compiled per-bar path of the bar replay."""
