"""``tracer users add | list | disable``: administrators manage the review service's users.

Users live in the ``review-users`` index (see :mod:`review.users`). Passwords are read from a
prompt (or one line of stdin with ``--password-stdin``), never from an argument. Each change is
recorded in the audit trail as ``users_manage`` by ``cli:<login>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import sys
from collections.abc import Mapping
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.endpoints import require_listening, url_address
from review.audit import AuditTrail, audit_entry
from review.users import UserError, UserStore
from tracer.commands.serve import async_client
from tracer.settings import TracerSettings, load_settings

__all__ = ["app"]

app = typer.Typer(help="Manage the review service's users.", no_args_is_help=True)
_out = Console(highlight=False)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _audited(settings: TracerSettings, what: Mapping[str, object], outcome: str) -> None:
    client = async_client(settings)
    try:
        trail = AuditTrail(client, settings.audit_index)
        await trail.ensure()
        entry = audit_entry(
            actor=_actor(),
            role="admin",
            action="users_manage",
            outcome="allowed" if outcome == "allowed" else "invalid",
            address="cli",
            now=dt.datetime.now(dt.UTC),
            details=what,
        )
        await trail.record(entry)
    finally:
        await client.close()


async def _add(
    settings: TracerSettings, username: str, role: str, districts: list[str], password: str
) -> None:
    client = async_client(settings)
    try:
        store = UserStore(client, settings.review_users_index)
        await store.ensure()
        await store.add(
            username,
            role=role,
            districts=districts,
            password=password,
            now=dt.datetime.now(dt.UTC),
        )
    finally:
        await client.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name: a-z 0-9 . _ -")],
    *,
    role: Annotated[str, typer.Option(help="officer | supervisor | auditor | admin")],
    district: Annotated[
        list[str] | None, typer.Option(help="A district as in the roster (repeat for more).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Add a user."""
    settings = load_settings()
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    password = _password(password_stdin)
    what = {"what": "add", "username": username, "role": role, "districts": district or []}
    try:
        asyncio.run(_add(settings, username, role, list(district or []), password))
    except UserError:
        asyncio.run(_audited(settings, what, "invalid"))
        raise
    asyncio.run(_audited(settings, what, "allowed"))
    _out.print(f"added {username} ({role})")


async def _list(settings: TracerSettings) -> list[tuple[str, str, str, str]]:
    client = async_client(settings)
    try:
        users = await UserStore(client, settings.review_users_index).list_users()
    finally:
        await client.close()
    return [
        (u.username, u.role, "、".join(u.districts), "disabled" if u.disabled else "active")
        for u in users
    ]


@app.command("list")
def list_users() -> None:
    """List the users."""
    settings = load_settings()
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    table = Table("username", "role", "districts", "state")
    for row in asyncio.run(_list(settings)):
        table.add_row(*row)
    _out.print(table)


async def _disable(settings: TracerSettings, username: str) -> None:
    client = async_client(settings)
    try:
        await UserStore(client, settings.review_users_index).set_disabled(username)
    finally:
        await client.close()


@app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user: their sessions end at their next request."""
    settings = load_settings()
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    asyncio.run(_disable(settings, username))
    asyncio.run(_audited(settings, {"what": "disable", "username": username}, "allowed"))
    _out.print(f"disabled {username}")
