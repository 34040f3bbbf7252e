"""The ``Matcher`` facade: roster changes in, events in, leads out. Batch and stream share it.

    matcher = Matcher(default_model())
    matcher.apply_roster({"person_id": "p1", "status": "dropped_out", ...})  # RosterChange
    outcome = matcher.match({"event_id": "e1", "source": "bank", ...})       # MatchOutcome

Only ``dropped_out`` people are on the watchlist; a later ``located`` / ``closed`` / ``active``
record removes them (the caller closes their open leads). An event whose envelope is unusable
raises :class:`matchers.errors.InvalidRecord` for the caller to dead-letter.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from matchers.blocking import watchlist_index
from matchers.compare import QuickScorer
from matchers.errors import InvalidRecord
from matchers.explain import explain
from matchers.frequencies import TermFrequencies, tf_key
from matchers.leads import build_lead
from matchers.model import MatchModel
from matchers.names import NameForms
from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.scoring import compare_if_identifying, score_comparisons

__all__ = ["MatchOutcome", "Matcher", "RosterAction", "RosterChange", "name_tf_keys"]

RosterAction = Literal["upsert", "remove", "ignored", "invalid"]


@dataclass(frozen=True, slots=True)
class RosterChange:
    """What one roster record did to the watchlist.

    Attributes:
        person_id: the person (``""`` when the record had none).
        action: ``upsert`` (now traced), ``remove`` (was traced, no longer: close their leads),
            ``ignored`` (not traced and was not on the watchlist), ``invalid`` (unusable record).
        status: the record's status, or ``None`` when invalid.
        flags: validation flags of the record's fields.
        reason: why, in words.
    """

    person_id: str
    action: RosterAction
    status: str | None
    flags: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """What one event produced.

    Attributes:
        event_id: the event.
        leads: lead documents, best score first.
        flags: validation flags of the event's fields.
        candidates_considered: how many watchlist people were scored.
    """

    event_id: str
    leads: tuple[dict[str, Any], ...]
    flags: tuple[str, ...]
    candidates_considered: int


def name_tf_keys(names: Iterable[NameForms]) -> set[str]:
    """The TF keys a person's names count under (``compare_name`` reports ``value_key``)."""
    return {tf_key("name", f.value_key) for f in names if f.valid and f.value_key}


class Matcher:
    """Keeps the watchlist and turns events into leads.

    Args:
        model: the match model.
        tf_table: a fixed term-frequency table; by default the table follows the model's
            ``tf.mode`` (counts over the watchlist, or over events seen).
    """

    def __init__(self, model: MatchModel, *, tf_table: TermFrequencies | None = None) -> None:
        self.model = model
        self._index = watchlist_index(
            max_block_size=model.blocking.max_block_size,
            max_candidates=model.blocking.max_candidates,
        )
        # A model with a trained name table (tracer train) scores by it: nothing to count here.
        self._tf_fixed = tf_table is not None or bool(model.tf.table)
        self._tf: TermFrequencies | None = tf_table
        if tf_table is None and model.tf.mode != "off":
            self._tf = TermFrequencies()
        self._quick = QuickScorer(model, self._tf)

    def __len__(self) -> int:
        return len(self._index)

    @property
    def tf_table(self) -> TermFrequencies | None:
        """The term-frequency table in use (``None`` when TF adjustment is off)."""
        return self._tf

    def freeze(self) -> None:
        """Move everything allocated so far out of the cyclic GC's reach (after a roster load).

        A loaded watchlist is millions of long-lived objects; without this every full
        collection walks them all, a pause of tens of milliseconds in the middle of an event.
        Later roster updates are collected as usual.
        """
        gc.collect()
        gc.freeze()

    def person(self, person_id: str) -> Person | None:
        """The watchlist person with this id, or ``None``."""
        return self._index.get(person_id)

    def apply_roster(self, raw: Mapping[str, Any]) -> RosterChange:
        """Apply one roster record in place; never raises on a bad record.

        Args:
            raw: a RosterRecord dict.

        Returns:
            What happened (``invalid`` with the reason for an unusable record).
        """
        try:
            person = person_from_raw(raw)
        except InvalidRecord as exc:
            pid = raw.get("person_id") if isinstance(raw, Mapping) else None
            return RosterChange(
                pid if isinstance(pid, str) else "", "invalid", None, (), exc.reason
            )
        return self.apply_person(person)

    def apply_person(self, person: Person) -> RosterChange:
        """Apply an already normalised roster person (see :meth:`apply_roster`)."""
        counting = self._tf is not None and not self._tf_fixed and self.model.tf.mode == "watchlist"
        if person.status == "dropped_out":
            old = self._index.upsert(person)
            if counting and self._tf is not None:
                if old is not None:
                    self._tf.remove(name_tf_keys(old.names))
                self._tf.add(name_tf_keys(person.names))
            return RosterChange(
                person.person_id, "upsert", person.status, person.flags, "dropped out: traced"
            )
        old = self._index.remove(person.person_id)
        if old is None:
            return RosterChange(
                person.person_id,
                "ignored",
                person.status,
                person.flags,
                f"status {person.status} and not on the watchlist",
            )
        if counting and self._tf is not None:
            self._tf.remove(name_tf_keys(old.names))
        return RosterChange(
            person.person_id,
            "remove",
            person.status,
            person.flags,
            f"status {person.status}: no longer traced",
        )

    def match(self, raw_event: Mapping[str, Any]) -> MatchOutcome:
        """Match one raw event against the watchlist.

        Raises:
            InvalidRecord: the event's envelope is unusable (dead-letter it).
        """
        return self.match_record(event_from_raw(raw_event))

    def match_record(self, event: EventRecord) -> MatchOutcome:
        """Match an already normalised event (see :meth:`match`)."""
        if self._tf is not None and not self._tf_fixed and self.model.tf.mode == "events":
            self._tf.add(name_tf_keys(event.names))
        candidates = self._index.candidate_people(event)
        leads = []
        for person in candidates:
            # Levels first: most pairs are gated or score below ``low``, and their details
            # (masked, readable text) would be built for nothing.
            if self._quick.tier(person, event) is None:
                continue
            comparison = compare_if_identifying(person, event)
            if comparison is None:
                continue  # cannot happen: the quick score applies the same gate
            scored = score_comparisons(
                self.model, comparison.fields, tf=self._tf, implied=comparison.implied
            )
            if scored.tier is None:
                continue
            explanation = explain(scored.contributions)
            leads.append(
                build_lead(person, event, scored, explanation, model_version=self.model.version)
            )
        leads.sort(key=lambda d: (-d["score"], d["person_id"]))
        return MatchOutcome(event.event_id, tuple(leads), event.flags, len(candidates))
