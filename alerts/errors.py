"""Errors of the alerts package.

matchers.errors.TracerError
└── AlertError
    ├── InvalidSubscription: a subscription refused at creation (``problems``: every one)
    └── UnknownSubscription: no subscription with that id (for that owner)
"""

from __future__ import annotations

from matchers.errors import TracerError

__all__ = ["AlertError", "InvalidSubscription", "UnknownSubscription"]


class AlertError(TracerError):
    """Something about alert subscriptions failed."""


class InvalidSubscription(AlertError):
    """A subscription that cannot be stored: every problem found, each a short phrase.

    The message is one line (the CLI prints it as is); it never quotes a value the user gave
    beyond a field or clause name.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid subscription: " + "; ".join(problems))


class UnknownSubscription(AlertError):
    """No subscription with that id (or not one its caller owns)."""
