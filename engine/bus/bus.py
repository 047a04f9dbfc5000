"""Topic publish/subscribe on the event-loop thread — the single writer of trading state.

Topics are dotted strings (``data.trades.SIM:BTC-USD``, ``events.order.main``). A subscription
pattern may use ``*`` (any run of characters) and ``?`` (one character). The handlers for a topic
are resolved once and cached, so a publish is a dict lookup plus the calls.

A handler that raises does not stop dispatch: the exception is logged, counted per handler, and the
remaining handlers still run. An ``InvariantViolation`` additionally goes to the
``on_invariant_violation`` hook (the app halts trading there).

Only the owning thread may publish (the loop thread, bound by ``bind_to_current_thread``); other
threads hand messages over through ``ThreadHandoff``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from itertools import count
from typing import Any

import structlog

from engine.core.errors import InvariantViolation

Handler = Callable[[Any], None]

_log = structlog.get_logger("engine.bus")
_get_ident = threading.get_ident


@dataclass(frozen=True, slots=True)
class Subscription:
    pattern: str
    handler: Handler = field(compare=False)
    priority: int = 0
    #: Subscription order; ties in priority dispatch in the order subscribed.
    seq: int = 0

    @property
    def is_pattern(self) -> bool:
        return "*" in self.pattern or "?" in self.pattern

    def matches(self, topic: str) -> bool:
        return fnmatchcase(topic, self.pattern) if self.is_pattern else topic == self.pattern


def _handler_name(handler: Handler) -> str:
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", "") or ""
    return f"{module}.{name}" if module else name


class MessageBus:
    """Single-threaded topic pub/sub with per-handler error isolation."""

    def __init__(self, *, on_invariant_violation: Callable[[InvariantViolation], None] | None = None) -> None:
        self._subscriptions: list[Subscription] = []
        self._cache: dict[str, tuple[Handler, ...]] = {}
        self._seq = count()
        self._owner: int | None = None
        self.on_invariant_violation = on_invariant_violation
        #: Messages published (including those with no subscriber).
        self.published_count = 0
        #: Handler calls that raised.
        self.handler_error_count = 0
        #: Handler errors by ``module.qualname`` of the handler.
        self.handler_errors: Counter[str] = Counter()

    # -- threading ------------------------------------------------------------------------------
    def bind_to_current_thread(self) -> None:
        """Make the calling thread (the loop thread) the only one allowed to publish."""
        self._owner = threading.get_ident()

    @property
    def owner_thread(self) -> int | None:
        return self._owner

    # -- subscriptions --------------------------------------------------------------------------
    def subscribe(self, pattern: str, handler: Handler, *, priority: int = 0) -> Subscription:
        """Call ``handler(message)`` for every topic matching ``pattern``; higher priority runs first."""
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("pattern must be a non-empty string")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {type(handler).__name__}")
        if any(s.pattern == pattern and s.handler == handler for s in self._subscriptions):
            raise ValueError(f"{_handler_name(handler)} is already subscribed to {pattern!r}")
        sub = Subscription(pattern, handler, priority, next(self._seq))
        self._subscriptions.append(sub)
        self._subscriptions.sort(key=lambda s: (-s.priority, s.seq))
        self._cache.clear()
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        try:
            self._subscriptions.remove(subscription)
        except ValueError:
            raise ValueError(f"not subscribed: {subscription.pattern!r}") from None
        self._cache.clear()

    def subscriptions(self, topic: str | None = None) -> list[Subscription]:
        if topic is None:
            return list(self._subscriptions)
        return [s for s in self._subscriptions if s.matches(topic)]

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._handlers_for(topic))

    # -- publishing -----------------------------------------------------------------------------
    def publish(self, topic: str, message: Any) -> int:
        """Dispatch ``message`` to every matching handler; returns how many were called.

        Raises ``RuntimeError`` when called from a thread other than the owner.
        """
        if self._owner is not None and _get_ident() != self._owner:
            raise RuntimeError(
                "MessageBus.publish called from a foreign thread; hand messages over with ThreadHandoff"
            )
        # ``publish_c``'s body, inlined (one call less per message on the data path).
        self.published_count += 1
        handlers = self._cache.get(topic)
        if handlers is None:
            handlers = self._handlers_for(topic)
        for handler in handlers:
            try:
                handler(message)
            except Exception as exc:
                self._handler_failed(topic, handler, exc)
        return len(handlers)

    def publish_c(self, topic: str, message: Any) -> int:
        """Trusted fast path: the caller guarantees it runs on the owner thread."""
        self.published_count += 1
        handlers = self._cache.get(topic)
        if handlers is None:
            handlers = self._handlers_for(topic)
        for handler in handlers:
            try:
                handler(message)
            except Exception as exc:
                self._handler_failed(topic, handler, exc)
        return len(handlers)

    def handlers(self, topic: str) -> tuple[Handler, ...]:
        """The handlers a message on ``topic`` reaches, in dispatch order (resolved once, cached;
        a new tuple after every (un)subscribe). A publisher on a hot path may skip building a
        message nobody listens to: ``if bus.handlers(topic): bus.publish_c(topic, make())``."""
        handlers = self._cache.get(topic)
        return self._handlers_for(topic) if handlers is None else handlers

    def _handlers_for(self, topic: str) -> tuple[Handler, ...]:
        handlers = self._cache.get(topic)
        if handlers is None:
            handlers = tuple(s.handler for s in self._subscriptions if s.matches(topic))
            self._cache[topic] = handlers
        return handlers

    def _handler_failed(self, topic: str, handler: Handler, exc: Exception) -> None:
        name = _handler_name(handler)
        self.handler_error_count += 1
        self.handler_errors[name] += 1
        _log.error("bus.handler_failed", topic=topic, handler=name, exc_info=exc)
        if isinstance(exc, InvariantViolation) and self.on_invariant_violation is not None:
            try:
                self.on_invariant_violation(exc)
            except Exception:
                _log.critical("bus.invariant_hook_failed", topic=topic, handler=name, exc_info=True)
