"""The message bus (single writer, loop thread) and the bounded hand-off from other threads."""

from engine.bus.bus import Handler, MessageBus, Subscription
from engine.bus.handoff import HandoffClosedError, ThreadHandoff

__all__ = ["Handler", "HandoffClosedError", "MessageBus", "Subscription", "ThreadHandoff"]
