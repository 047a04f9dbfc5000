"""Pre-trade risk gate (compiled)."""
