"""The event archive: what retro-matching searches, as code (template, day indices, retention).

Why Elasticsearch, one index per day: retro-matching asks "which events of the last N days share
a block key with this one person", a ``terms`` query on one keyword field that Elasticsearch
answers from its inverted index in milliseconds over millions of events; the service is already
run, backed up and watched for the leads; and a day index (``events-YYYY.MM.DD``, by the event's
``occurred_at`` in UTC) lets retention delete whole indices (no delete-by-query, which the
local zip lacks, and no segment merging after deletes). Every day index joins the ``events``
alias through the template, so readers name only the alias.

A document holds only what matching needs, never the raw payload::

    _id          "<source>:<event_id>"  (create-only: a redelivered event changes nothing)
    event_id, source, occurred_at       (occurred_at normalised, as the Matcher read it)
    fields       the matching fields' cleaned text, as the Matcher read them (stored in
                 ``_source`` only, not indexed: nobody searches the archive by a phone number)
    flags        the event's validation flags (the card's and wrong types' included)
    event_digest sha256 of the event's canonical JSON (a retro lead meets its live twin as
                 "already there", not as a conflicting duplicate)
    block_keys   blake2b-64 digests of the event's *identifying* block keys
                 (:func:`searched_key`): the one indexed identity field, naming no id, phone or
                 name in clear; indexed only, not kept in ``_source``
    roster_seen  where the worker's roster stood when it matched the event, per partition
                 (:func:`roster_marks`): retro-matching takes only events matched before the
                 drop-out record was applied (:func:`unseen_by`), the live path had the others

Which keys are kept: a retro search asks for ONE person's identifying keys -- ids and their mask
patterns, phones, the house-level address, birth date + gender (+ the surname's initial) and
name + birth year -- never for a name alone (``nm:``/``nms:`` without a year) or a birthday
without gender (``bd:``). Those namesake keys file a common name's thousands of events, a
number that grows with the history (500k events: p99 10.7 s), while the live index only uses
them when a handful of watched people share them. A resident id with a slipped digit shares
no key with the person's, so a damaged number is also archived under its first and last four
digits (:func:`archived_keys`). Measured on a Hainan-mix day (40,000 events, 2,000 watched,
every lead the live matcher makes): all 1,718 leads share an archived key with their person
(without the damaged-id key 4 did not, leaving the address out too would lose 15 more).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from hashlib import blake2b
from typing import Any, Final

from elasticsearch import ApiError, Elasticsearch, TransportError
from matchers.fields.text import clean_text
from matchers.records import EventRecord, event_from_raw
from matchers.watchlist.blocking import event_block_keys

from connectors.clients import ElasticsearchClientSettings, retried_elasticsearch_client
from connectors.elasticsearch import classify_item, request_error
from connectors.errors import ServiceUnavailable, StackError
from connectors.retry import Retrier

__all__ = [
    "MATCH_FIELDS",
    "ArchiveReport",
    "ElasticsearchEventArchive",
    "EventArchive",
    "InMemoryEventArchive",
    "PeopleHit",
    "PersonQuery",
    "archive_document",
    "archive_mappings",
    "archived_keys",
    "day_index_name",
    "delete_older_than",
    "drop_event_archive",
    "ensure_event_archive",
    "event_archive_template",
    "expired_indices",
    "key_digest",
    "missing_fields",
    "people_query",
    "rebuild_event",
    "roster_marks",
    "searched_key",
    "unseen_by",
]

log = logging.getLogger(__name__)

#: The raw fields ``matchers.records.event_from_raw`` reads besides the envelope: what the
#: archive keeps (a card number is not kept: only its flags matter, and they are stored).
MATCH_FIELDS: Final = (
    "id_number",
    "id_type",
    "name",
    "birth_date",
    "gender",
    "phone",
    "address",
    "registered_address",
    "change_type",
    "event_type",
)

_TEMPLATE_PRIORITY: Final = 200
_DAY_FORMAT: Final = "%Y.%m.%d"
#: Namesake families: a name without a birth year, a birthday without gender (module docstring).
_NAMESAKE_FAMILIES: Final = frozenset({"nm", "nms", "bd"})
#: A roster position is stored as ``partition << 40 | next offset`` (offsets stay below 2**40).
_PARTITION_SHIFT: Final = 40


def searched_key(key: str) -> bool:
    """Whether a block key is archived and searched: identifying, not a namesake key (pure).

    Example:
        >>> [searched_key(k) for k in ("nm:zhang wei", "nm:zhang wei|1990", "ph:13812345678")]
        [False, True, True]
    """
    family = key[: key.find(":")]
    return family not in _NAMESAKE_FAMILIES or "|" in key


def archived_keys(event: EventRecord, keys: Iterable[str]) -> list[str]:
    """The block keys an event is archived under (pure): its searched keys, a damaged id's 4+4.

    A resident id that fails its check, with a digit slipped inside its body, shares no key
    with the person's (``idbody:`` differs); live, the name key finds them, but the archive
    keeps no name-only key. The person is filed under ``idm4-4:`` (every mask pattern), so
    the damaged number files under it too: a slip between the fourth and the fifteenth digit
    is found. Only damaged numbers: a valid one under it would pull in every neighbour.
    """
    # searched_key's rule inline: a call per key was a quarter of this function.
    out = [k for k in keys if "|" in k or k[: k.find(":")] not in _NAMESAKE_FAMILIES]
    forms = event.id
    value = forms.value
    damaged = forms.comparable and not forms.valid and not forms.masked and len(value) == 18
    if damaged and forms.id_type == "cn_resident":
        out.append(f"idm4-4:{value[:4]}|{value[14:]}")
    return out


def roster_marks(positions: Mapping[int, int]) -> list[int]:
    """The ``roster_seen`` values of an event matched with the roster read up to ``positions``.

    Args:
        positions: roster partition -> the next offset the watchlist will apply.

    Example:
        >>> roster_marks({0: 5, 2: 7}) == [5, (2 << 40) | 7]
        True
    """
    return [(partition << _PARTITION_SHIFT) | offset for partition, offset in positions.items()]


def unseen_by(partition: int, offset: int) -> dict[str, Any]:
    """The query clause of events matched before the roster record at ``offset`` was applied.

    An event whose ``roster_seen`` holds a position past ``offset`` in ``partition`` was matched
    with that record applied: the live path made its leads. Events without a position for the
    partition (the bench's bulk-loaded history, a roster partition not read yet) are kept.
    """
    base = partition << _PARTITION_SHIFT
    seen = {"range": {"roster_seen": {"gt": base | offset, "lt": base + (1 << _PARTITION_SHIFT)}}}
    return {"bool": {"must_not": [seen]}}


def key_digest(key: str) -> str:
    """Return the archived form of a block key: 16 hex digits of its blake2b-64.

    Not memoised: on a Hainan-mix feed 19 % of an event's archived keys had been seen among
    the last 65,536 (ids and phones are new), and a bounded cache's miss (the lookup, the
    insertion, an eviction) cost more than the hash it saved.

    Example:
        >>> len(key_digest("idbody:46010519900101123"))
        16
    """
    return blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def day_index_name(alias: str, occurred_at: str) -> str:
    """Return the day index of an event: ``{alias}-YYYY.MM.DD`` of ``occurred_at`` in UTC.

    Example:
        >>> day_index_name("events", "2026-12-07T07:30:00+08:00")
        'events-2026.12.06'
    """
    # The offset taken off by hand, the date formatted by hand: astimezone and strftime were
    # most of the write path's ~6 us per document (one call per document archived).
    instant = dt.datetime.fromisoformat(occurred_at)
    offset = instant.utcoffset()
    if offset:
        instant -= offset
    return f"{alias}-{instant.year:04d}.{instant.month:02d}.{instant.day:02d}"


def archive_document(
    event: EventRecord,
    raw: Mapping[str, Any],
    *,
    digest: str,
    keys: frozenset[str] | None = None,
    roster_seen: Sequence[int] = (),
) -> dict[str, Any]:
    """Return the archive document of a validated event (pure).

    Args:
        event: the event as the matcher built it.
        raw: the event as received (only :data:`MATCH_FIELDS` of text type are read).
        digest: its ``event_digest``.
        keys: its ``event_block_keys`` if computed already (the live matcher's).
        roster_seen: :func:`roster_marks` of the roster the event was matched with.
    """
    fields: dict[str, str] = {}
    for name in MATCH_FIELDS:
        value = raw.get(name)
        if isinstance(value, str) and value:
            # The text the normalisers saw: a wrong-typed value was left out (its flag is kept).
            fields[name] = clean_text(value)[0]
    return {
        "event_id": event.event_id,
        "source": event.source,
        "occurred_at": event.occurred_at,
        "fields": fields,
        "flags": list(event.flags),
        "event_digest": digest,
        "block_keys": [
            key_digest(k)
            for k in archived_keys(event, event_block_keys(event) if keys is None else keys)
        ],
        "roster_seen": list(roster_seen),
    }


def rebuild_event(doc: Mapping[str, Any]) -> EventRecord:
    """Return the ``EventRecord`` an archive document was made from.

    Raises:
        InvalidRecord: the document's envelope is unusable (a document not written by us).
    """
    fields = doc.get("fields")
    raw = dict(fields) if isinstance(fields, Mapping) else {}
    raw |= {k: doc.get(k) for k in ("event_id", "source", "occurred_at")}
    event = event_from_raw(raw)
    flags = doc.get("flags")
    return replace(event, flags=tuple(str(f) for f in flags) if isinstance(flags, list) else ())


def archive_mappings() -> dict[str, Any]:
    """Return the mapping of an archive document (see the module docstring)."""
    # Searched, never sorted or aggregated: no doc values to build for each of millions. Only
    # what is searched is indexed (source and flags are read back from _source, never asked
    # for): the archive's indexing is the live path's largest cost on a shared machine.
    lookup = {"type": "keyword", "doc_values": False}
    return {
        "dynamic": False,
        # The keys are searched, never read back: not stored twice.
        "_source": {"excludes": ["block_keys"]},
        "properties": {
            "event_id": dict(lookup),  # the review service's lookup of an event's numbers
            "occurred_at": {"type": "date"},  # the sort of a retro search: doc values kept
            "block_keys": dict(lookup),
            "roster_seen": {"type": "long", "doc_values": False},  # range-filtered only
            "event_digest": {"type": "keyword", "index": False},
            "fields": {"type": "object", "enabled": False},
        },
    }


def event_archive_template(alias: str) -> dict[str, Any]:
    """Return the composable template of the day indices behind ``alias``.

    The patterns match day names only (``events-2026.12.07``), and every index made from it
    joins ``alias``. Refreshed every 5 s (cheaper writes): a retro search refreshes first.
    """
    return {
        "index_patterns": [f"{alias}-19*", f"{alias}-2*"],
        "priority": _TEMPLATE_PRIORITY,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "auto_expand_replicas": "0-1",
                "refresh_interval": "5s",
            },
            "mappings": archive_mappings(),
            "aliases": {alias: {}},
        },
        "_meta": {"managed_by": "tracer"},
    }


def _template_name(alias: str) -> str:
    return f"{alias}-archive-template"


def ensure_event_archive(client: Elasticsearch, alias: str) -> None:
    """Put the archive's template, and its fields on the day indices made before (idempotent).

    Day indices are made by the first write. A template applies only to indices made after
    it, and the archive is ``dynamic: false``: a field added since (``roster_seen``) would be
    kept in ``_source`` but never indexed in the day indices already there -- up to the
    retention's 90 days -- and a filter on it would match nothing. ``unseen_by`` then leaves no
    event out, and retro-matching published again every lead the live path had published
    (bench.alerts, on the shared ``events`` alias: 905 of 909 leads twice).

    Raises:
        StackError: Elasticsearch refused the template or a missing field.
        ServiceUnavailable: Elasticsearch did not answer.
    """
    try:
        client.indices.put_index_template(
            name=_template_name(alias), **event_archive_template(alias)
        )
        _add_missing_fields(client, alias)
    except ApiError as exc:
        raise StackError(f"could not set up the {alias!r} event archive: {exc}") from exc
    except TransportError as exc:
        raise ServiceUnavailable(f"Elasticsearch did not answer: {exc}") from exc


def missing_fields(mapped: Mapping[str, Any]) -> dict[str, Any]:
    """The archive's fields a day index's ``properties`` lack (pure).

    Only what is missing: a field mapped otherwise by an older version stays as it is
    (Elasticsearch refuses to change a field's type).

    Example:
        >>> older = ("event_id", "occurred_at", "block_keys", "event_digest", "fields")
        >>> missing_fields(dict.fromkeys(older, {"type": "keyword"}))
        {'roster_seen': {'type': 'long', 'doc_values': False}}
    """
    wanted: dict[str, Any] = archive_mappings()["properties"]
    return {name: spec for name, spec in wanted.items() if name not in mapped}


def _add_missing_fields(client: Elasticsearch, alias: str) -> None:
    """Map the archive's fields missing on any day index behind ``alias`` (none: no call)."""
    quiet = client.options(ignore_status=404)  # no day index yet: nothing to bring up to date
    mappings = quiet.indices.get_mapping(index=alias)
    for index, body in (mappings.body if hasattr(mappings, "body") else {}).items():
        if not isinstance(body, dict) or "mappings" not in body:
            continue  # the 404's error body
        missing = missing_fields(body["mappings"].get("properties", {}))
        if missing:
            client.indices.put_mapping(index=index, properties=missing)
            log.info("event archive: %s: fields %s mapped", index, ", ".join(sorted(missing)))


def expired_indices(names: Iterable[str], alias: str, days: int, *, now: dt.datetime) -> list[str]:
    """Return the day indices among ``names`` older than ``days`` days before ``now`` (pure).

    A day index is kept while its day is on or after the UTC date ``days`` days ago, so an
    event is kept at least ``days`` days. Names that are not day indices of ``alias`` are
    never chosen.

    Example:
        >>> expired_indices(["events-2026.09.07", "events-2026.09.08", "events-x"], "events", 90,
        ...                 now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
        ['events-2026.09.07']
    """
    oldest_kept = (now.astimezone(dt.UTC) - dt.timedelta(days=days)).date()
    prefix = f"{alias}-"
    expired = []
    for name in names:
        if not name.startswith(prefix):
            continue
        try:
            day = dt.datetime.strptime(name[len(prefix) :], _DAY_FORMAT).date()
        except ValueError:
            continue
        if day < oldest_kept:
            expired.append(name)
    return sorted(expired)


def delete_older_than(
    client: Elasticsearch, alias: str, days: int, *, now: dt.datetime | None = None
) -> list[str]:
    """Delete the archive's day indices older than ``days`` days; return their names.

    Whole indices only; running it twice deletes nothing more (a name already gone is fine).
    This is the plain function ``tracer retention`` calls.

    Raises:
        ServiceUnavailable: Elasticsearch did not answer.
        StackError: Elasticsearch refused the listing or a delete.
    """
    quiet = client.options(ignore_status=404)
    try:
        found = quiet.indices.get_alias(index=f"{alias}-*").body
        names = list(found) if isinstance(found, dict) and "error" not in found else []
        expired = expired_indices(names, alias, days, now=now or dt.datetime.now(dt.UTC))
        for name in expired:
            quiet.indices.delete(index=name)
    except ApiError as exc:
        raise StackError(f"could not apply the {alias!r} archive retention: {exc}") from exc
    except TransportError as exc:
        raise ServiceUnavailable(f"Elasticsearch did not answer: {exc}") from exc
    return expired


def drop_event_archive(client: Elasticsearch, alias: str) -> None:
    """Delete every day index of ``alias`` and its template (after a test or benchmark)."""
    quiet = client.options(ignore_status=404)
    found = quiet.indices.get_alias(index=f"{alias}-*").body
    for index in found if isinstance(found, dict) and "error" not in found else ():
        quiet.indices.delete(index=index)
    quiet.indices.delete_index_template(name=_template_name(alias))


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    """What one :meth:`EventArchive.write` did; every document is in one bucket."""

    created: int = 0
    present: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class PersonQuery:
    """One person's archive search: their key digests, from ``since``, unseen by ``unseen``.

    Attributes:
        name: who asks (the person id): each hit says which queries of a batch it answers.
        keys: the person's searched key digests (:func:`key_digest` of :func:`searched_key`).
        since: ISO instant: events that occurred at or after it.
        unseen: (partition, offset) of their drop-out record: only events matched before it
            was applied (:func:`unseen_by`); ``None``: every event.
    """

    name: str
    keys: tuple[str, ...]
    since: str
    unseen: tuple[int, int] | None = None


def people_query(queries: Sequence[PersonQuery]) -> dict[str, Any]:
    """The one filter query of a batch of people's searches, each clause named (pure).

    A hit's ``matched_queries`` names the people it answers: one request per batch, however
    many people, instead of one per person (each fanning out over every day index).

    Example:
        >>> people_query([PersonQuery("p1", ("k1",), "2026-01-01T00:00:00+00:00")])["bool"][
        ...     "filter"][0]["bool"]["should"][0]["bool"]["_name"]
        'p1'
    """
    clauses = []
    for query in queries:
        wanted = sorted(set(query.keys))
        if not wanted:
            continue
        filters: list[dict[str, Any]] = [
            {"terms": {"block_keys": wanted}},
            {"range": {"occurred_at": {"gte": query.since}}},
        ]
        if query.unseen is not None:
            filters.append(unseen_by(*query.unseen))
        clauses.append({"bool": {"filter": filters, "_name": query.name}})
    return {"bool": {"filter": [{"bool": {"should": clauses, "minimum_should_match": 1}}]}}


#: One hit of a batch search: the document and the people (query names) it answers.
PeopleHit = tuple[dict[str, Any], frozenset[str]]


class EventArchive:
    """The port: what the worker and retro-matching need of the archive."""

    async def write(self, docs: Sequence[Mapping[str, Any]]) -> ArchiveReport:
        """Create ``docs``; return once every one is created, present or rejected."""
        raise NotImplementedError

    def search(
        self,
        keys: Iterable[str],
        *,
        since: str,
        page_size: int,
        max_events: int,
        unseen: tuple[int, int] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield pages of documents sharing a key (digests) that occurred at or after ``since``.

        ``unseen``: (partition, offset) of a roster record: only events matched before it was
        applied (:func:`unseen_by`).
        """
        raise NotImplementedError

    def search_people(
        self, queries: Sequence[PersonQuery], *, page_size: int, max_events: int
    ) -> AsyncIterator[list[PeopleHit]]:
        """Yield pages of the documents answering any of ``queries``, each with whom it answers.

        Oldest first; at most ``max_events`` documents in all.
        """
        raise NotImplementedError

    async def refresh(self, keys: Iterable[str] | None = None) -> bool:
        """Make every acknowledged write searchable (that a search for ``keys`` could find).

        Returns whether every write is searchable now (``False``: only those of ``keys``).
        """
        raise NotImplementedError

    async def delete_older_than(self, days: int, *, now: dt.datetime | None = None) -> list[str]:
        """Delete day indices older than ``days`` days; return their names."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the client."""


def _answers(doc: Mapping[str, Any], query: PersonQuery) -> bool:
    """The twin's :func:`people_query` clause for one document and one person."""
    return (
        not set(query.keys).isdisjoint(doc["block_keys"])
        and dt.datetime.fromisoformat(doc["occurred_at"]) >= dt.datetime.fromisoformat(query.since)
        and (query.unseen is None or not _seen(doc.get("roster_seen", ()), *query.unseen))
    )


def _seen(marks: Iterable[int], partition: int, offset: int) -> bool:
    """The twin's :func:`unseen_by`, negated: a mark past ``offset`` in ``partition``."""
    base = partition << _PARTITION_SHIFT
    return any(base | offset < mark < base + (1 << _PARTITION_SHIFT) for mark in marks)


def _doc_id(doc: Mapping[str, Any]) -> str:
    return f"{doc['source']}:{doc['event_id']}"


#: Key digests of unrefreshed writes kept at most (~10 MB): past it, a search refreshes.
_MAX_DIRTY_KEYS: Final = 100_000

#: Stored fields a retro search filters on but never reads back.
_UNREAD: Final = ["roster_seen"]


def _people_hits(hits: Iterable[Mapping[str, Any]]) -> list[PeopleHit]:
    return [(hit["_source"], frozenset(hit.get("matched_queries", ()))) for hit in hits]


class ElasticsearchEventArchive(EventArchive):
    """The archive on Elasticsearch (async client), every call retried by the worker's retrier.

    Args:
        client: the async client.
        alias: the archive alias (``events``).
        retrier: the worker's retrier (backoff, counters, stop event).
    """

    def __init__(self, client: Any, alias: str, *, retrier: Retrier | None = None) -> None:
        self._client = client
        self._alias = alias
        self._retrier = retrier or Retrier()
        #: Day indices this process wrote to since its last refresh (None: refresh the alias).
        self._dirty: set[str] | None = None
        #: The key digests of those writes (None: too many to keep, or not known yet).
        self._dirty_keys: set[str] | None = None
        self.refreshes = 0

    @classmethod
    def connect(
        cls,
        settings: ElasticsearchClientSettings,
        alias: str,
        *,
        retrier: Retrier | None = None,
    ) -> ElasticsearchEventArchive:
        """Build an archive with its own :class:`AsyncElasticsearch` client (orjson bodies)."""
        return cls(retried_elasticsearch_client(settings), alias, retrier=retrier)

    async def close(self) -> None:
        """Close the underlying client."""
        await self._client.close()

    async def write(self, docs: Sequence[Mapping[str, Any]]) -> ArchiveReport:
        """Create ``docs`` in their day indices; retry 429 / 5xx items until acknowledged.

        Raises:
            RetryGaveUp: the worker is stopping (the caller's offsets stay uncommitted).
        """
        tally = {"created": 0, "present": 0, "rejected": 0}
        pending = list(docs)

        async def attempt() -> None:
            nonlocal pending
            operations: list[Any] = []
            for doc in pending:
                index = day_index_name(self._alias, str(doc["occurred_at"]))
                operations += [{"create": {"_index": index, "_id": _doc_id(doc)}}, doc]
                if self._dirty is not None:
                    self._dirty.add(index)
                self._note_keys(doc.get("block_keys", ()))
            # Only the statuses come back: the whole answer (index, id, version, shards, seq
            # numbers per item) was ~200 bytes a document for the worker to parse.
            bulk = partial(self._client.bulk, operations=operations, filter_path="items.*.status")
            items = await self._call(bulk)
            retry = []
            for doc, entry in zip(pending, items["items"], strict=True):
                outcome = classify_item(int(next(iter(entry.values())).get("status", 500)))
                if outcome == "retry":
                    retry.append(doc)
                else:
                    key = {"created": "created", "conflict": "present"}.get(outcome, "rejected")
                    tally[key] += 1
            pending = retry
            if retry:
                raise ServiceUnavailable(f"{len(retry)} archive documents throttled or failed")

        if pending:
            await self._retrier.call(attempt, kind="index")
        if tally["rejected"]:
            log.error("event archive: %d documents refused for good", tally["rejected"])
        return ArchiveReport(**tally)

    async def _call(self, request: Any) -> Any:
        try:
            return await request()
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc

    def _note_keys(self, keys: Iterable[str]) -> None:
        if self._dirty_keys is not None:
            self._dirty_keys.update(keys)
            if len(self._dirty_keys) > _MAX_DIRTY_KEYS:
                self._dirty_keys = None  # bounded: the next search refreshes whatever it asks

    async def refresh(self, keys: Iterable[str] | None = None) -> bool:
        """Make this process's writes searchable: the day indices it wrote to since last time.

        The first call refreshes the whole alias. Other processes' writes become searchable
        by the indices' own refresh interval (5 s). With ``keys`` (the digests a search is
        about to ask for), nothing is refreshed when none of this process's writes since the
        last refresh holds one of them: they cannot change the search's answer, and a refresh
        while the live path writes took 5-10 s on a loaded machine.
        """
        wanted = None if keys is None else set(keys)
        if (
            wanted is not None
            and self._dirty_keys is not None
            and wanted.isdisjoint(self._dirty_keys)
        ):
            return False
        dirty, self._dirty = self._dirty, set()
        dirty_keys, self._dirty_keys = self._dirty_keys, set()
        if dirty is not None and not dirty:
            return True
        target = self._alias if dirty is None else ",".join(sorted(dirty))
        quiet = self._client.options(ignore_status=404)
        self.refreshes += 1
        try:
            await self._retrier.call(
                lambda: self._call(partial(quiet.indices.refresh, index=target)), kind="index"
            )
        except BaseException:
            self._dirty = None if dirty is None else (self._dirty or set()) | dirty
            if dirty_keys is None or self._dirty_keys is None:
                self._dirty_keys = None
            else:
                self._note_keys(dirty_keys)
            raise
        return True

    async def search(
        self,
        keys: Iterable[str],
        *,
        since: str,
        page_size: int = 1000,
        max_events: int = 100_000,
        unseen: tuple[int, int] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield pages of the documents sharing a key digest, from ``since`` on (oldest first).

        One person's :meth:`search_people`.
        """
        query = PersonQuery("one", tuple(keys), since, unseen)
        async for page in self.search_people([query], page_size=page_size, max_events=max_events):
            yield [doc for doc, _ in page]

    async def search_people(
        self, queries: Sequence[PersonQuery], *, page_size: int = 1000, max_events: int = 100_000
    ) -> AsyncIterator[list[PeopleHit]]:
        """Yield pages of the documents answering any of ``queries`` (:func:`people_query`).

        One plain search when the result fits a page, else one point in time over the alias,
        ``search_after`` pages of ``page_size``, at most ``max_events`` documents (more is
        logged: the search was cut short). Filters only (no scoring), so each day index
        answers from its inverted index: the cost follows the people's hits, not the
        history's size; ``_source`` leaves out ``roster_seen`` (filtered on, never read).
        """
        if not any(query.keys for query in queries):
            return
        query = people_query(queries)
        # Most batches' history is one page: one plain search, no point in time to open.
        first = await self._first_page(query, min(page_size, max_events))
        if first is not None:
            if first:
                yield _people_hits(first)
            return
        async for page in self._pages(query, page_size, max_events):
            yield _people_hits(page)

    async def _first_page(self, query: dict[str, Any], size: int) -> list[dict[str, Any]] | None:
        """The whole result when it fits in one page of ``size``; ``None`` when it does not."""
        quiet = self._client.options(ignore_status=404)
        response = await self._retrier.call(
            lambda: self._call(
                partial(
                    quiet.search,
                    index=self._alias,
                    query=query,
                    size=size,
                    sort=[{"occurred_at": "asc"}],
                    track_total_hits=False,
                    ignore_unavailable=True,
                    source_excludes=_UNREAD,
                )
            ),
            kind="index",
        )
        hits = list(response.get("hits", {}).get("hits", [])) if hasattr(response, "get") else []
        return None if len(hits) >= size else hits

    async def _pages(
        self, query: dict[str, Any], page_size: int, max_events: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of hits under one point in time, ``search_after``, at most ``max_events``."""
        pit = await self._open_pit()
        if pit is None:
            return
        after: list[Any] | None = None
        seen = 0
        try:
            while seen < max_events:
                size = min(page_size, max_events - seen)
                hits, pit = await self._page(query, pit, after, size)
                if not hits:
                    return
                seen += len(hits)
                after = hits[-1]["sort"]
                yield hits
                if len(hits) < size:
                    return
            log.warning("event archive: a retro search stopped at %d events", max_events)
        finally:
            await self._close_pit(pit)

    async def _open_pit(self) -> str | None:
        quiet = self._client.options(ignore_status=404)
        response = await self._retrier.call(
            lambda: self._call(
                partial(quiet.open_point_in_time, index=self._alias, keep_alive="1m")
            ),
            kind="index",
        )
        pit = response.get("id") if hasattr(response, "get") else None
        return str(pit) if pit else None  # no archive index yet: nothing to search

    async def _page(
        self, query: dict[str, Any], pit: str, after: list[Any] | None, size: int
    ) -> tuple[list[dict[str, Any]], str]:
        body: dict[str, Any] = {
            "query": query,
            "size": size,
            "pit": {"id": pit, "keep_alive": "1m"},
            "sort": [{"occurred_at": "asc"}, {"_shard_doc": "asc"}],
            "track_total_hits": False,
            "_source": {"excludes": _UNREAD},
        }
        if after is not None:
            body["search_after"] = after
        response = await self._retrier.call(
            lambda: self._call(partial(self._client.search, **body)), kind="index"
        )
        return list(response["hits"]["hits"]), str(response.get("pit_id") or pit)

    async def _close_pit(self, pit: str) -> None:
        try:
            await self._client.close_point_in_time(id=pit)
        except (ApiError, TransportError) as exc:  # it expires on its own within a minute
            log.debug("event archive: closing a point in time failed: %s", type(exc).__name__)

    async def delete_older_than(self, days: int, *, now: dt.datetime | None = None) -> list[str]:
        """Delete the day indices older than ``days`` days (see :func:`delete_older_than`)."""
        quiet = self._client.options(ignore_status=404)
        found = await self._retrier.call(
            lambda: self._call(partial(quiet.indices.get_alias, index=f"{self._alias}-*")),
            kind="index",
        )
        body = found.body if hasattr(found, "body") else found
        names = list(body) if isinstance(body, dict) and "error" not in body else []
        expired = expired_indices(names, self._alias, days, now=now or dt.datetime.now(dt.UTC))
        for name in expired:
            await self._retrier.call(
                partial(self._call, partial(quiet.indices.delete, index=name)), kind="index"
            )
        return expired


@dataclass
class InMemoryEventArchive(EventArchive):
    """The twin of :class:`ElasticsearchEventArchive`: day indices as dicts, same semantics."""

    alias: str = "events"
    indices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    writes: int = 0
    searches: int = 0

    async def write(self, docs: Sequence[Mapping[str, Any]]) -> ArchiveReport:
        """Create each document unless its id is in its day index already."""
        self.writes += 1
        created = present = 0
        for doc in docs:
            index = self.indices.setdefault(day_index_name(self.alias, doc["occurred_at"]), {})
            if _doc_id(doc) in index:
                present += 1
            else:
                index[_doc_id(doc)] = dict(doc)
                created += 1
        return ArchiveReport(created, present)

    async def search(
        self,
        keys: Iterable[str],
        *,
        since: str,
        page_size: int = 1000,
        max_events: int = 100_000,
        unseen: tuple[int, int] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the matching documents, oldest first, in pages."""
        query = PersonQuery("one", tuple(keys), since, unseen)
        async for page in self.search_people([query], page_size=page_size, max_events=max_events):
            yield [doc for doc, _ in page]

    async def search_people(
        self, queries: Sequence[PersonQuery], *, page_size: int = 1000, max_events: int = 100_000
    ) -> AsyncIterator[list[PeopleHit]]:
        """Yield the documents answering any query with whom they answer, oldest first."""
        self.searches += 1
        hits = []
        for index in self.indices.values():
            for doc in index.values():
                names = frozenset(q.name for q in queries if _answers(doc, q))
                if names:
                    hits.append((doc, names))
        hits.sort(key=lambda hit: dt.datetime.fromisoformat(hit[0]["occurred_at"]))
        hits = hits[:max_events]
        for begin in range(0, len(hits), page_size):
            yield hits[begin : begin + page_size]

    async def refresh(self, keys: Iterable[str] | None = None) -> bool:
        """Nothing to refresh."""
        return True

    async def delete_older_than(self, days: int, *, now: dt.datetime | None = None) -> list[str]:
        """Drop the expired day indices."""
        expired = expired_indices(
            self.indices, self.alias, days, now=now or dt.datetime.now(dt.UTC)
        )
        for name in expired:
            del self.indices[name]
        return expired
