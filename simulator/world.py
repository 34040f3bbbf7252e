"""Put a synthetic world together: population, roster, a day of feeds, and the truth.

``build_world`` is pure: it returns records and never writes anything (``tracer simulate``
writes the files). The same configuration, seed included, gives the same world.

Event mix (shares of ``events``): 5 % about a roster person, 3 % about a relative who shares
surname, home address and household phone with one, 4 % about a namesake of one, 1.5 % from a
new subscriber given a roster person's abandoned phone number, 0.5 % malformed lines, the rest
about other people of the population. With ``hard_decoys`` (the quality benchmark turns it on)
another 1.4 % are hard decoys (:mod:`simulator.hard`: a namesake with the same birth
date, a recycled number's holder with a common name, a sibling in the household, a masked id
that collides), taken from the background share; without it the world is byte for byte what
it was before they existed.

With ``mix="hainan"`` (:mod:`simulator.hainan`) the population has Hainan's names and
heaped birth dates, every event may be written as Hainan's clerks write it, 6 % of the true
events have an exact id beside a name off by one character and new contacts, bank customers
may carry a dialect passport name, and another 0.5 % of events are ``namesake_sequence``
decoys; true events are not given an identifier they lack (the truth says which carry evidence
beyond the name). The default ``classic`` mix draws nothing of this.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Final, cast

from simulator.corruption import Corruptor, NameForm
from simulator.feeds import DamagePlan, FeedWriter, Source, SubjectView
from simulator.hainan import (
    HAINAN_DECOY_SHARES,
    HAINAN_PROFILE,
    NAME_VARIANT_SHARE,
    HainanStyle,
    Mix,
)
from simulator.hard import HARD_DECOY_SHARES, HARD_SOURCE_WEIGHTS, HardDecoys, HardKind
from simulator.population import Identity, IdentityFactory
from simulator.truth import EventKind, MalformedReason, SimEvent, truth_records
from simulator.watchlist import WatchedPerson, build_watchlist

__all__ = ["KIND_SHARES", "Progress", "SimulatedWorld", "SimulationConfig", "build_world"]

Progress = Callable[[str, int], None]
"""Called as ``progress(phase, done_since_last_call)``; phases: people, watchlist, events."""

KIND_SHARES: Final[dict[EventKind, float]] = {
    "match": 0.05,
    "relative": 0.03,
    "namesake": 0.04,
    "recycled_phone": 0.015,
    "malformed": 0.005,
}
_SOURCES: Final[tuple[Source, ...]] = ("hukou", "bank", "telecom")
_SOURCE_WEIGHTS: Final[dict[EventKind, tuple[float, ...]]] = {
    "recycled_phone": (0.0, 0.3, 0.7),
    "namesake_sequence": (1.0, 0.0, 0.0),  # only household registration has birth and gender
}
_DEFAULT_SOURCE_WEIGHTS: Final = (0.3, 0.35, 0.35)
_NEW_CONTACT_SHARE = 0.85
_MALFORMED: Final[tuple[MalformedReason, ...]] = (
    "missing_event_id",
    "missing_source",
    "missing_occurred_at",
    "not_an_object",
    "invalid_json",
)
_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to generate.

    Attributes:
        people: population size; the roster is drawn from it, the rest appear in feeds.
        watchlist: roster size.
        events: number of feed lines (malformed ones included).
        seed: the seed every random draw derives from.
        day: the day the feed events happen on (UTC+8).
        hard_decoys: add the hard decoys (``simulator.hard.HARD_DECOY_SHARES``);
            off by default so that ``tracer simulate`` and the model recipe keep their output.
        mix: ``classic`` (the default, unchanged) or ``hainan`` (module docstring).
    """

    people: int = 50_000
    watchlist: int = 2_000
    events: int = 20_000
    seed: int = 0
    day: dt.date = dt.date(2026, 11, 29)
    hard_decoys: bool = False
    mix: Mix = "classic"

    def __post_init__(self) -> None:
        errors = []
        if self.mix not in {"classic", "hainan"}:
            errors.append("mix must be classic or hainan")
        if self.watchlist < 1:
            errors.append("watchlist must be at least 1")
        if self.people <= self.watchlist:
            errors.append("people must exceed watchlist (the feeds need people off the roster)")
        if self.events < 0:
            errors.append("events must not be negative")
        if errors:
            raise ValueError("; ".join(errors))


@dataclass(frozen=True, slots=True)
class SimulatedWorld:
    """A generated world: the roster and events to write, and the truth about them."""

    config: SimulationConfig
    watchlist: list[WatchedPerson]
    events: list[SimEvent]
    truth: list[dict[str, Any]]

    @property
    def roster(self) -> list[dict[str, Any]]:
        """The roster records, in ``person_id`` order."""
        return [person.record for person in self.watchlist]


def build_world(config: SimulationConfig, *, progress: Progress | None = None) -> SimulatedWorld:
    """Generate population, roster and feeds for ``config``; see the module docstring."""
    with _collector_paused():
        return _build_world(config, progress)


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Millions of small acyclic records make the cyclic collector rescan everything again and
    # again: pausing it halves the time of a million-person roster and frees nothing less.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build_world(config: SimulationConfig, progress: Progress | None) -> SimulatedWorld:
    report: Progress = progress or (lambda _phase, _n: None)
    rng = random.Random(f"tracer-simulate:{config.seed}")
    hainan = config.mix == "hainan"
    factory = IdentityFactory(rng, HAINAN_PROFILE if hainan else None)
    corruptor = Corruptor(rng)
    population: list[Identity] = []
    for start in range(0, config.people, _CHUNK):
        population.extend(factory.people(min(_CHUNK, config.people - start)))
        report("people", min(_CHUNK, config.people - start))
    watchlist = build_watchlist(
        population[: config.watchlist],
        factory,
        corruptor,
        on_progress=lambda n: report("watchlist", n),
    )
    feeds = _FeedMix(config, factory, FeedWriter(rng, corruptor), watchlist)
    if config.hard_decoys:
        feeds.hard = HardDecoys(factory, watchlist, population, heaped_dates=hainan)
    if hainan:
        feeds.style = HainanStyle(factory, corruptor)
    events = feeds.generate(population[config.watchlist :], report)
    events.sort(key=lambda e: (e.occurred_at, e.event_id))
    info = {p.person_id: (p.status, p.moved, p.roster_flags) for p in watchlist}
    return SimulatedWorld(config, watchlist, events, truth_records(events, info))


class _FeedMix:
    """Draws the day's events, kind by kind, in the shares of ``KIND_SHARES``."""

    def __init__(
        self,
        config: SimulationConfig,
        factory: IdentityFactory,
        writer: FeedWriter,
        watchlist: list[WatchedPerson],
    ) -> None:
        self._config = config
        self._factory = factory
        self._rng = factory.rng
        self._writer = writer
        self._watchlist = watchlist
        self._moved = [p for p in watchlist if p.moved] or watchlist
        weights = [1.0 if p.status == "dropped_out" else 0.4 for p in watchlist]
        self._match_cum = list(_accumulate(weights))
        self._day_start = dt.datetime.combine(config.day, dt.time())
        self._serial = 0
        self.hard: HardDecoys | None = None
        self.style: HainanStyle | None = None

    def generate(self, background: list[Identity], report: Progress) -> list[SimEvent]:
        kinds: list[EventKind] = []
        for kind, share in KIND_SHARES.items():
            kinds.extend([kind] * round(share * self._config.events))
        if self.hard is not None:
            for hard_kind, share in HARD_DECOY_SHARES.items():
                kinds.extend([hard_kind] * round(share * self._config.events))
        if self.style is not None:
            for style_kind, share in HAINAN_DECOY_SHARES.items():
                kinds.extend([cast(EventKind, style_kind)] * round(share * self._config.events))
        kinds = kinds[: self._config.events]
        kinds.extend(["background"] * (self._config.events - len(kinds)))
        self._rng.shuffle(kinds)
        out: list[SimEvent] = []
        for n, kind in enumerate(kinds, start=1):
            out.append(self._one(kind, background))
            if n % _CHUNK == 0:
                report("events", _CHUNK)
        report("events", len(kinds) % _CHUNK)
        return out

    def _one(self, kind: EventKind, background: list[Identity]) -> SimEvent:
        rng = self._rng
        hard = self.hard if kind in HARD_DECOY_SHARES else None
        weights = (
            HARD_SOURCE_WEIGHTS[cast(HardKind, kind)]
            if hard is not None
            else _SOURCE_WEIGHTS.get(kind, _DEFAULT_SOURCE_WEIGHTS)
        )
        source: Source = rng.choices(_SOURCES, weights=weights)[0]
        self._serial += 1
        event_id = f"{source}-{self._config.seed}-{self._serial:08d}"
        seconds = rng.randrange(86_400)
        occurred = self._day_start + dt.timedelta(seconds=seconds)
        occurred_at = occurred.strftime("%Y-%m-%dT%H:%M:%S+08:00")
        if kind == "match":
            if self.style is not None:
                return self._hainan_match(self.style, source, event_id, occurred_at)
            return self._match(source, event_id, occurred_at)
        if kind == "namesake_sequence" and self.style is not None:
            return self._sequence_namesake(self.style, event_id, occurred_at)
        person_id: str | None = None
        if kind in {"background", "malformed"}:
            identity = rng.choice(background)
            subject = SubjectView(
                identity, identity.phone, identity.address, identity.district_code
            )
        elif hard is not None:
            subject, person_id = hard.draw(cast(HardKind, kind))
        else:
            subject, person_id = self._decoy(kind)
        plan = self._writer.plan(source)
        if hard is not None:
            plan = hard.plan(cast(HardKind, kind), plan, source)
        payload, flags, plan = self._writer.event(
            source, subject, plan, event_id=event_id, occurred_at=occurred_at
        )
        if self.style is not None:
            flags, plan = self._restyled(self.style, payload, subject.identity, flags, plan)
        if kind == "malformed":
            reason = rng.choice(_MALFORMED)
            return SimEvent(
                occurred_at, event_id, self._malform(payload, reason), kind, source, reason=reason
            )
        return SimEvent(occurred_at, event_id, payload, kind, source, person_id, plan, flags)

    def _decoy(self, kind: EventKind) -> tuple[SubjectView, str]:
        rng, factory = self._rng, self._factory
        if kind == "recycled_phone":
            owner = rng.choice(self._moved)
            stranger = factory.people(1)[0]
            view = SubjectView(stranger, owner.then.phone, stranger.address, stranger.district_code)
            return view, owner.person_id
        owner = rng.choice(self._watchlist)
        if kind == "relative":
            kin = factory.relative(owner.then)
            return SubjectView(kin, kin.phone, kin.address, kin.district_code), owner.person_id
        twin = factory.namesake(owner.then, same_birth_year=rng.random() < 0.2)
        return SubjectView(twin, twin.phone, twin.address, twin.district_code), owner.person_id

    def _match(self, source: Source, event_id: str, occurred_at: str) -> SimEvent:
        rng = self._rng
        person = rng.choices(self._watchlist, cum_weights=self._match_cum)[0]
        now, then = person.now, person.then
        phone = now.phone if rng.random() < _NEW_CONTACT_SHARE else then.phone
        if rng.random() < _NEW_CONTACT_SHARE:
            address, district = now.address, now.district_code
        else:
            address, district = then.address, then.district_code
        subject = SubjectView(now, phone, address, district)
        plan = self._writer.plan(source)
        if not _has_evidence(person, subject, source, plan):
            # An event with nothing but a name would be noise to any matcher: real feeds about
            # a traced person carry some identifier, so keep one.
            plan = self._writer.plan(source, allow_missing_id=False)
            if person.record["id_number"] is None:
                subject = SubjectView(now, then.phone, then.address, then.district_code)
        payload, flags, plan = self._writer.event(
            source, subject, plan, event_id=event_id, occurred_at=occurred_at
        )
        if subject.phone != now.phone and person.moved:
            flags = (*flags, "contact_old_phone")
        return SimEvent(
            occurred_at, event_id, payload, "match", source, person.person_id, plan, flags
        )

    def _restyled(
        self,
        style: HainanStyle,
        payload: dict[str, Any],
        identity: Identity,
        flags: tuple[str, ...],
        plan: DamagePlan,
    ) -> tuple[tuple[str, ...], DamagePlan]:
        """Apply the hainan mix's formats and, at banks, dialect passport names."""
        if payload["source"] == "bank" and plan.name in {"hanzi", "pinyin"}:
            dialect = style.dialect_name(identity.surname, identity.given)
            if dialect is not None:
                payload["name"] = dialect[0]
                kept = tuple(f for f in flags if not f.startswith("name_"))
                flags, plan = (*kept, *dialect[1]), replace(plan, name="dialect")
        return (*flags, *style.restyle(payload, identity)), plan

    def _hainan_match(
        self, style: HainanStyle, source: Source, event_id: str, occurred_at: str
    ) -> SimEvent:
        """A true event of the hainan mix, its contacts drawn as in ``_match``.

        6 % have an exact id with a name off by one character and new contacts (people who
        drop out change both).
        """
        rng = self._rng
        person = rng.choices(self._watchlist, cum_weights=self._match_cum)[0]
        now, then = person.now, person.then
        plan = self._writer.plan(source)
        variant = rng.random() < NAME_VARIANT_SHARE and person.record["id_number"] is not None
        if variant:
            fresh = self._factory.people(1)[0]
            subject = SubjectView(now, fresh.phone, fresh.address, fresh.district_code)
            plan = replace(plan, id_number="intact", name="hanzi")
        else:
            phone = now.phone if rng.random() < _NEW_CONTACT_SHARE else then.phone
            if rng.random() < _NEW_CONTACT_SHARE:
                subject = SubjectView(now, phone, now.address, now.district_code)
            else:
                subject = SubjectView(now, phone, then.address, then.district_code)
        payload, flags, plan = self._writer.event(
            source, subject, plan, event_id=event_id, occurred_at=occurred_at
        )
        if variant:
            payload["name"], word = style.name_variant(now.surname, now.given)
            name_form: dict[str, NameForm] = {
                "name_shape_alike": "shape_alike",
                "name_dropped_char": "dropped_char",
            }
            plan = replace(plan, name=name_form.get(word, "homophone"))
            flags = (*flags, word, "contact_new")
        flags, plan = self._restyled(style, payload, now, flags, plan)
        shown = _has_evidence(person, subject, source, plan) or _id_shows_birth(person, plan)
        evidence = shown and (
            "id_masked_last2" not in flags
            or _has_evidence(person, subject, source, replace(plan, id_number="missing"))
        )
        return SimEvent(
            occurred_at,
            event_id,
            payload,
            "match",
            source,
            person.person_id,
            plan,
            flags,
            evidence=evidence,
        )

    def _sequence_namesake(self, style: HainanStyle, event_id: str, occurred_at: str) -> SimEvent:
        """A household-registration event of a namesake born the same day in the same county.

        The namesake's valid id differs from the roster person's in the sequence digits.
        """
        # As often as the world makes such a stranger: by how many others share the owner's name
        # and birth date (the county, one of a few, is shared at about the same rate by all).
        hard = self.hard
        owner = hard.namesake_owner() if hard is not None else self._rng.choice(self._watchlist)
        stranger = style.sequence_namesake(owner.then)
        subject = SubjectView(stranger, stranger.phone, stranger.address, stranger.district_code)
        plan = replace(self._writer.plan("hukou"), id_number="intact")
        payload, flags, plan = self._writer.event(
            "hukou", subject, plan, event_id=event_id, occurred_at=occurred_at
        )
        flags, plan = self._restyled(style, payload, stranger, flags, plan)
        return SimEvent(
            occurred_at,
            event_id,
            payload,
            "namesake_sequence",
            "hukou",
            owner.person_id,
            plan,
            flags,
        )

    def _malform(self, payload: dict[str, Any], reason: MalformedReason) -> dict[str, Any] | str:
        if reason.startswith("missing_"):
            payload.pop(reason.removeprefix("missing_"), None)
            return payload
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if reason == "invalid_json":
            return text[: len(text) // 2]
        choice = self._rng.randrange(4)
        if choice == 0:
            values = [payload["event_id"], payload["source"], payload["name"]]
            return json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        return ('"' + str(payload["event_id"]) + '"', "null", "42")[choice - 1]


def _has_evidence(
    person: WatchedPerson, subject: SubjectView, source: Source, plan: DamagePlan
) -> bool:
    record = person.record
    if record["id_number"] is not None and plan.id_group != "missing":
        return True
    if source == "hukou":
        dob_ok = plan.birth_date == "intact" and record["birth_date"] == person.now.birth_date
        return dob_ok or subject.address in record["addresses"]
    if source == "telecom" and subject.address in record["addresses"]:
        return True
    return plan.phone != "missing" and subject.phone in record["phones"]


def _id_shows_birth(person: WatchedPerson, plan: DamagePlan) -> bool:
    """Whether a full id on the event shows the birth date and gender of a roster without one.

    The number embeds both, and they agree with the roster's own fields: evidence beyond the
    name (the hainan mix's truth only; the classic truth stays as it was).
    """
    record = person.record
    return (
        record["id_number"] is None
        and plan.id_group == "present"
        and record["birth_date"] == person.now.birth_date
        and record["gender"] == person.now.gender
    )


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out
