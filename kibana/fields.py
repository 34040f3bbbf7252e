"""The fields of an Elasticsearch mapping as Kibana sees them: dotted paths and their types.

Pure; the bundle and its tests read the lead mapping through it, so a field a saved object
names must exist in the mapping the writers actually use::

    fields = mapping_fields(lead_mappings())
    fields["person_name.keyword"]       # -> "keyword"
    is_aggregatable(fields["tier"])     # -> True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["AGGREGATABLE_TYPES", "is_aggregatable", "mapping_fields"]

#: Field types with doc values by default: Kibana can aggregate and sort on them.
#: ``text`` is not among them (no doc values; fielddata is off).
AGGREGATABLE_TYPES: Final = frozenset(
    {
        "keyword",
        "constant_keyword",
        "boolean",
        "date",
        "date_nanos",
        "long",
        "integer",
        "short",
        "byte",
        "double",
        "float",
        "half_float",
        "scaled_float",
        "ip",
        "version",
    }
)


def mapping_fields(mappings: Mapping[str, Any]) -> dict[str, str]:
    """Return every field of ``mappings`` as ``{dotted path: type}``, multi-fields included.

    An object field (``properties`` without ``type``) is not a field itself, only its leaves.

    Example:
        ``{"properties": {"a": {"properties": {"b": {"type": "keyword"}}}}}`` gives
        ``{"a.b": "keyword"}``.
    """
    found: dict[str, str] = {}
    _walk(mappings.get("properties", {}), "", found)
    return found


def _walk(properties: Mapping[str, Any], prefix: str, found: dict[str, str]) -> None:
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "type" in spec and spec["type"] not in {"object", "nested"}:
            found[path] = str(spec["type"])
            for sub, sub_spec in spec.get("fields", {}).items():
                found[f"{path}.{sub}"] = str(sub_spec["type"])
        if "properties" in spec:
            _walk(spec["properties"], f"{path}.", found)


def is_aggregatable(field_type: str) -> bool:
    """Tell whether Kibana can aggregate (and sort) on a field of ``field_type``."""
    return field_type in AGGREGATABLE_TYPES
