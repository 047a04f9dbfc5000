"""Kernels shared by the core domain: fixed-point decimal parsing and formatting."""
