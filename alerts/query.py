"""The restricted query DSL of a subscription: validated once, then run as a Python predicate.

A subscription may carry a query in a documented subset of Elasticsearch's query DSL; nothing
else is accepted (no scripts, no other indices, no wildcard / regexp / fuzzy / query_string,
nothing whose cost grows without bound)::

    term   {"term": {"tier": "high"}} or {"term": {"tier": {"value": "high"}}}
           keyword fields only (``lead_id``, ``source``, ``flags``, ``person_name.keyword``...)
    terms  {"terms": {"source": ["bank", "telecom"]}}   at most 100 values
    range  {"range": {"score": {"gte": 20}}}   float and date fields; gt, gte, lt, lte
           (dates as ISO-8601 text; without an offset, UTC, as Elasticsearch reads them)
    match  {"match": {"person_name": "张伟"}} or {"match": {"event_name": {"query": "zhang
           wei", "operator": "and"}}}   ``person_name`` and ``event_name`` only
    bool   {"bool": {"must": [...], "filter": [...], "should": [...], "must_not": [...],
           "minimum_should_match": 1}}   nested at most 4 deep

At most 64 clauses and 8 KiB of JSON in all. Fields are checked against the lead mapping
(:func:`connectors.lead_index.lead_mappings`). :func:`compile_query` validates a query (every
problem at once, :class:`~alerts.errors.InvalidSubscription`) and returns a predicate over a
lead document with Elasticsearch's semantics for this subset: a keyword ``term`` is exact and
matches any element of an array; ``match`` analyses like the standard analyser (lower case;
a CJK ideograph is a token of its own; other letters and digits in runs) and needs any token
(``operator: and``: every token); a ``bool`` with ``must`` or ``filter`` treats ``should`` as
optional, otherwise needs ``minimum_should_match`` (default 1) of them. The same query against
the same documents in Elasticsearch gives the same hits (``tests/integration/test_alerts_query``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, Literal

import orjson
from connectors.lead_index import lead_mappings

from alerts.errors import InvalidSubscription

__all__ = [
    "MAX_CLAUSES",
    "MAX_DEPTH",
    "MAX_QUERY_BYTES",
    "LeadPredicate",
    "compile_query",
    "query_fields",
    "tokens",
]

LeadPredicate = Callable[[Mapping[str, Any]], bool]
"""Whether a lead document matches."""

FieldKind = Literal["keyword", "float", "date", "text"]

MAX_DEPTH: Final = 4
MAX_CLAUSES: Final = 64
MAX_QUERY_BYTES: Final = 8 * 1024
_MAX_TERMS: Final = 100
_MAX_VALUE_CHARS: Final = 256
_MATCH_FIELDS: Final = frozenset({"person_name", "event_name"})
_BOOL_KEYS: Final = frozenset({"must", "filter", "should", "must_not", "minimum_should_match"})
_RANGE_KEYS: Final = frozenset({"gt", "gte", "lt", "lte"})
# One CJK ideograph is one token; other letters and digits go in runs, kept together across
# an apostrophe or a full stop between two of them (o'neil, u.s), as Unicode word breaking
# (UAX #29) and so Elasticsearch's standard tokenizer do.
_CJK: Final = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD: Final = f"[^\\W_{_CJK}]+"
_TOKEN: Final = re.compile(f"[{_CJK}]|{_WORD}(?:['’.]{_WORD})*")


def query_fields() -> dict[str, FieldKind]:
    """Return the lead fields a query may name, with their kind, from the lead mapping."""
    fields: dict[str, FieldKind] = {}
    for name, spec in lead_mappings()["properties"].items():
        kind = spec.get("type")
        if kind in ("keyword", "float", "date"):
            fields[name] = kind
        elif kind == "text" and name in _MATCH_FIELDS:
            fields[name] = "text"
            if "keyword" in spec.get("fields", {}):
                fields[f"{name}.keyword"] = "keyword"
    return fields


def tokens(text: str) -> list[str]:
    """Split ``text`` as the standard analyser does for this purpose (lower case).

    Example:
        >>> tokens("ZHANG Wei 张伟")
        ['zhang', 'wei', '张', '伟']
    """
    return _TOKEN.findall(text.lower())


class _Compiler:
    """Validates one query and builds its predicate; collects every problem."""

    def __init__(self) -> None:
        self.fields = query_fields()
        self.problems: list[str] = []
        self.clauses = 0

    def clause(self, node: Any, depth: int) -> LeadPredicate:
        self.clauses += 1
        if not isinstance(node, Mapping) or len(node) != 1:
            return self._bad("each clause must be an object with exactly one query type")
        ((kind, body),) = node.items()
        if kind == "bool":
            return self._bool(body, depth)
        if kind in ("term", "terms", "range", "match"):
            if not isinstance(body, Mapping) or len(body) != 1:
                return self._bad(f"{kind}: name exactly one field")
            ((field, spec),) = body.items()
            builder = {
                "term": self._term,
                "terms": self._terms,
                "range": self._range,
                "match": self._match,
            }[kind]
            return builder(str(field), spec)
        return self._bad(f"query type {str(kind)[:40]!r} is not allowed")

    def _bad(self, problem: str) -> LeadPredicate:
        self.problems.append(problem)
        return _never

    def _field(self, field: str, kind: str, *allowed: FieldKind) -> FieldKind | None:
        found = self.fields.get(field)
        if found is None:
            self.problems.append(f"{kind}: unknown field {field[:60]!r}")
            return None
        if found not in allowed:
            self.problems.append(f"{kind}: not allowed on {found} field {field!r}")
            return None
        return found

    def _term(self, field: str, spec: Any) -> LeadPredicate:
        if isinstance(spec, Mapping):
            spec = spec.get("value") if set(spec) == {"value"} else None
        if self._field(field, "term", "keyword") is None:
            return _never
        if not _is_value(spec):
            return self._bad(f"term: {field!r} needs one text value")
        return _keyword_in(field, frozenset({str(spec)}))

    def _terms(self, field: str, spec: Any) -> LeadPredicate:
        if self._field(field, "terms", "keyword") is None:
            return _never
        if not isinstance(spec, list) or not 1 <= len(spec) <= _MAX_TERMS:
            return self._bad(f"terms: {field!r} needs a list of 1 to {_MAX_TERMS} values")
        if not all(_is_value(value) for value in spec):
            return self._bad(f"terms: {field!r} values must be text")
        return _keyword_in(field, frozenset(str(value) for value in spec))

    def _range(self, field: str, spec: Any) -> LeadPredicate:
        kind = self._field(field, "range", "float", "date")
        if kind is None:
            return _never
        if not isinstance(spec, Mapping) or not spec or not set(spec) <= _RANGE_KEYS:
            return self._bad(f"range: {field!r} takes gt, gte, lt, lte only")
        parse = _as_float if kind == "float" else _as_instant
        bounds = {op: parse(value) for op, value in spec.items()}
        if any(bound is None for bound in bounds.values()):
            wanted = "numbers" if kind == "float" else "ISO-8601 dates"
            return self._bad(f"range: {field!r} bounds must be {wanted}")
        return _in_range(field, parse, {op: b for op, b in bounds.items() if b is not None})

    def _match(self, field: str, spec: Any) -> LeadPredicate:
        if self._field(field, "match", "text") is None:
            return _never
        operator: Any = "or"
        if isinstance(spec, Mapping):
            if not set(spec) <= {"query", "operator"}:
                return self._bad(f"match: {field!r} takes query and operator only")
            operator = str(spec.get("operator", "or")).lower()
            spec = spec.get("query")
        if not isinstance(spec, str) or not 0 < len(spec) <= _MAX_VALUE_CHARS:
            return self._bad(f"match: {field!r} needs text of 1 to {_MAX_VALUE_CHARS} chars")
        if operator not in ("or", "and"):
            return self._bad("match: operator must be 'or' or 'and'")
        return _matches_text(field, frozenset(tokens(spec)), every=operator == "and")

    def _bool(self, body: Any, depth: int) -> LeadPredicate:
        if depth >= MAX_DEPTH:
            return self._bad(f"bool: nested deeper than {MAX_DEPTH}")
        if not isinstance(body, Mapping) or not set(body) <= _BOOL_KEYS:
            return self._bad("bool: takes must, filter, should, must_not, minimum_should_match")
        parts: dict[str, list[LeadPredicate]] = {}
        for key in ("must", "filter", "should", "must_not"):
            items = body.get(key, [])
            items = [items] if isinstance(items, Mapping) else items
            if not isinstance(items, list):
                return self._bad(f"bool: {key} must be a clause or a list of clauses")
            parts[key] = [self.clause(item, depth + 1) for item in items]
        wanted = body.get("minimum_should_match")
        if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool)):
            return self._bad("bool: minimum_should_match must be a whole number")
        required = parts["must"] + parts["filter"]
        if wanted is None:
            wanted = 0 if required or not parts["should"] else 1
        return _all_of(required, parts["should"], wanted, parts["must_not"])


def compile_query(query: Any) -> LeadPredicate:
    """Validate ``query`` (a parsed JSON object) and return its predicate over a lead.

    Raises:
        InvalidSubscription: Every problem found (unknown field, forbidden query type,
            too big, too deep, a bad value).
    """
    size = len(orjson.dumps(query, option=orjson.OPT_NON_STR_KEYS)) if query is not None else 0
    if size > MAX_QUERY_BYTES:
        raise InvalidSubscription([f"query: {size} bytes > {MAX_QUERY_BYTES}"])
    compiler = _Compiler()
    predicate = compiler.clause(query, 0)
    if compiler.clauses > MAX_CLAUSES:
        compiler.problems.append(f"query: {compiler.clauses} clauses > {MAX_CLAUSES}")
    if compiler.problems:
        raise InvalidSubscription(compiler.problems)
    return predicate


def _never(_lead: Mapping[str, Any]) -> bool:
    return False


def _is_value(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_VALUE_CHARS


def _value(lead: Mapping[str, Any], field: str) -> Any:
    # ``person_name.keyword`` is a sub-field: the value is the parent's.
    return lead.get(field.removesuffix(".keyword"))


def _values(lead: Mapping[str, Any], field: str) -> list[Any]:
    value = _value(lead, field)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _keyword_in(field: str, wanted: frozenset[str]) -> LeadPredicate:
    def predicate(lead: Mapping[str, Any]) -> bool:
        return any(isinstance(v, str) and v in wanted for v in _values(lead, field))

    return predicate


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _as_instant(value: Any) -> float | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "gt": lambda v, b: v > b,
    "gte": lambda v, b: v >= b,
    "lt": lambda v, b: v < b,
    "lte": lambda v, b: v <= b,
}


def _in_range(
    field: str, parse: Callable[[Any], float | None], bounds: dict[str, float]
) -> LeadPredicate:
    checks = [(_COMPARE[op], bound) for op, bound in bounds.items()]

    def predicate(lead: Mapping[str, Any]) -> bool:
        for raw in _values(lead, field):
            value = parse(raw)
            if value is not None and all(check(value, bound) for check, bound in checks):
                return True
        return False

    return predicate


@lru_cache(maxsize=16_384)
def _token_set(text: str) -> frozenset[str]:
    # Every match clause of every subscription reads the same lead's names: analyse once.
    return frozenset(tokens(text))


def _matches_text(field: str, wanted: frozenset[str], *, every: bool) -> LeadPredicate:
    def predicate(lead: Mapping[str, Any]) -> bool:
        found: set[str] = set()
        for value in _values(lead, field):
            if isinstance(value, str):
                found |= _token_set(value)
        if not wanted:
            return False
        return wanted <= found if every else not wanted.isdisjoint(found)

    return predicate


def _all_of(
    required: list[LeadPredicate],
    should: list[LeadPredicate],
    wanted: int,
    excluded: list[LeadPredicate],
) -> LeadPredicate:
    def predicate(lead: Mapping[str, Any]) -> bool:
        if not all(p(lead) for p in required) or any(p(lead) for p in excluded):
            return False
        return wanted <= 0 or sum(1 for p in should if p(lead)) >= wanted

    return predicate
