"""Venue adapters: the simulated exchange and paper trading (``sim``); live venues come later.

A venue takes domain commands and emits domain events. Everything here runs on the loop thread.
"""
