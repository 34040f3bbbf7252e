"""``tracer audit``: auditors query the audit trail (by user, action, lead, time range).

Reads the ``audit`` index newest first; ``--json`` prints one record a line. The query itself
is recorded in the trail (``audit_read`` by ``cli:<login>``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from connectors.endpoints import require_listening, url_address
from review.audit import AuditTrail, audit_entry, audit_query
from review.elastic import es_call
from tracer.commands.serve import async_client
from tracer.settings import TracerSettings, load_settings

__all__ = ["audit"]

_out = Console(highlight=False)


async def _query(settings: TracerSettings, wanted: dict[str, str], limit: int) -> list[Any]:
    client = async_client(settings)
    try:
        trail = AuditTrail(client, settings.audit_index)
        await trail.ensure()
        try:
            actor = f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            actor = "cli"
        entry = audit_entry(
            actor=actor,
            role="auditor",
            action="audit_read",
            outcome="allowed",
            address="cli",
            now=dt.datetime.now(dt.UTC),
            details=wanted,
        )
        await trail.record(entry)
        # An auditor asks about what just happened too: make the last seconds searchable.
        await es_call(lambda: client.indices.refresh(index=settings.audit_index))
        found = await es_call(
            lambda: client.search(
                index=settings.audit_index,
                query=audit_query(**wanted),
                sort=[{"@timestamp": "desc"}],
                size=limit,
            )
        )
        return [hit["_source"] for hit in found["hits"]["hits"]]
    finally:
        await client.close()


def audit(
    *,
    user: Annotated[str | None, typer.Option("--user", help="Who (username).")] = None,
    action: Annotated[
        str | None, typer.Option(help="What: login, search, view, reveal, ...")
    ] = None,
    lead: Annotated[str | None, typer.Option(help="A lead id.")] = None,
    since: Annotated[str | None, typer.Option(help="From (ISO date or time).")] = None,
    until: Annotated[str | None, typer.Option(help="Until, exclusive (ISO date or time).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Records at most.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record a line.")] = False,
) -> None:
    """Query the audit trail of the review service, newest first."""
    settings = load_settings()
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    for name, value in (("since", since), ("until", until)):
        if value:
            try:
                dt.datetime.fromisoformat(value)
            except ValueError as exc:
                raise typer.BadParameter(f"{name} must be an ISO date or time") from exc
    given = {"actor": user, "action": action, "lead_id": lead, "since": since, "until": until}
    wanted = {k: v for k, v in given.items() if v}
    entries = asyncio.run(_query(settings, wanted, limit))
    if as_json:
        for entry in entries:
            print(orjson.dumps(entry).decode())
        return
    table = Table("when", "who", "role", "action", "outcome", "from", "lead", "reason")
    for e in entries:
        table.add_row(
            str(e.get("@timestamp", ""))[:19],
            str(e.get("actor", "")),
            str(e.get("role", "")),
            str(e.get("action", "")),
            str(e.get("outcome", "")),
            str(e.get("address", "")),
            str(e.get("lead_id") or ""),
            str(e.get("reason") or ""),
        )
    _out.print(table)
