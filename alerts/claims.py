"""Claims on notifications: who may act on one, changed hands only conditionally.

One home for the claim rules that the outbox (publication on the topic) and delivery (the
webhook) both follow, each with its own pair of fields so that neither's claim is the other's:

- a claim is ``{by_field: owner, at_field: now}``, written with the notification's creation;
- another worker takes a notification over only once its claim is older than ``lease_s``
  (:meth:`Claimant.cutoff`), by an update conditional on the ``_seq_no`` / ``_primary_term`` it
  read (:meth:`Claimant.claim`): of two workers meeting one notification exactly one wins;
- the holder acts without re-claiming while its claim is younger than ``lease_s / 2``
  (:meth:`Claimant.young`); an older one it claims again conditionally first, and one it lost
  it leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from alerts.recorder import Stamp

__all__ = ["ClaimLog", "Claimant", "Claimed"]


class Claimed(NamedTuple):
    """A notification this worker holds the claim of, and since when (its monotonic clock).

    ``doc`` is the document as stored at ``stamp`` (the claim's fields included): the
    ``published`` mark writes it back whole, conditional on that stamp.
    """

    doc: dict[str, Any]
    stamp: Stamp
    since: float


class ClaimLog(Protocol):
    """The conditional update a claim is (:meth:`~alerts.recorder.AlertLog.claim`)."""

    async def claim(
        self, stamped: Sequence[tuple[str, Stamp]], changes: Mapping[str, Any]
    ) -> list[Stamp | None]:
        """Apply ``changes`` to each id still at its stamp; the new stamp, or None (taken)."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claimant:
    """One worker's claims in one pair of fields.

    Args:
        log: The ``alerts`` index (or its twin).
        owner: This worker's name (unique per process).
        lease_s: How old a claim must be before another worker may take it over.
        by_field: The field naming the claimant.
        at_field: The field holding when it claimed.
        clock: Now, as an aware datetime (the ``at_field``).
        monotonic: This process's monotonic clock (a claim's age).
    """

    log: ClaimLog
    owner: str
    lease_s: float
    by_field: str = "claimed_by"
    at_field: str = "claimed_at"
    clock: Callable[[], datetime] = field(default=_utc_now)
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def fields(self) -> dict[str, Any]:
        """The claim as document fields, stamped now."""
        return {self.by_field: self.owner, self.at_field: self.clock().isoformat()}

    def cutoff(self) -> str:
        """Claims made before this (ISO-8601) are expired: any worker may take them over."""
        return (self.clock() - timedelta(seconds=self.lease_s)).isoformat()

    def young(self, since: float) -> bool:
        """Whether a claim made at ``since`` (monotonic) is safe to act on without renewal."""
        return self.monotonic() - since < self.lease_s / 2

    def since(self, doc: Mapping[str, Any]) -> float:
        """The monotonic time of ``doc``'s claim (now if it carries none or a bad one)."""
        now = self.monotonic()
        try:
            at = datetime.fromisoformat(str(doc[self.at_field]))
        except (KeyError, ValueError):
            return now
        return now - max(0.0, (self.clock() - at).total_seconds())

    def holds(self, doc: Mapping[str, Any]) -> bool:
        """Whether ``doc`` (as stored) is claimed by this worker."""
        return doc.get(self.by_field) == self.owner

    async def claim(self, items: Sequence[Claimed]) -> list[Claimed]:
        """Claim ``items`` conditionally on their stamps; return those won (aged from now).

        The age counts from before the request, as the stored time does: a slow bulk must not
        make a claim look younger here than it looks to the other workers.
        """
        if not items:
            return []
        stamped = [(str(c.doc["notification_id"]), c.stamp) for c in items]
        since = self.monotonic()
        claim = self.fields()
        stamps = await self.log.claim(stamped, claim)
        return [
            Claimed(c.doc | claim, stamp, since)
            for c, stamp in zip(items, stamps, strict=True)
            if stamp is not None
        ]
