"""``tracer roles table | export | apply``: least privilege for the Docker stack, as code.

``table`` prints district -> slug -> officer role -> index pattern for operators (who give
officers their district's role in Kibana). ``export`` writes the committed files the tests
hold to the code: ``docker/elasticsearch/roles.json`` (service and supervisor roles),
``docker/elasticsearch/users.json`` (service users and the ``.env`` variable of each one's
password) and ``docker/kafka/acls.tsv`` (Kafka's allow rules). ``apply`` creates the roles,
the service users and one officer role per district in Elasticsearch; only the set-up job runs
it, as ``elastic``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from elasticsearch import ApiError, Elasticsearch, TransportError

from connectors.clients import elasticsearch_client
from connectors.errors import InputFileError, ServiceUnavailable, StackError
from connectors.retry import RetryPolicy, retry_call
from kibana.acls import acl_lines, acl_rules
from kibana.roles import SERVICE_USERS, district_table, officer_role, service_roles
from tracer.settings import TracerSettings, load_settings

__all__ = ["ACLS_FILE", "ROLES_FILE", "USERS_FILE", "app", "role_files"]

_DOCKER = Path(__file__).resolve().parents[2] / "docker"
ROLES_FILE = _DOCKER / "elasticsearch" / "roles.json"
USERS_FILE = _DOCKER / "elasticsearch" / "users.json"
ACLS_FILE = _DOCKER / "kafka" / "acls.tsv"

app = typer.Typer(
    help="Elasticsearch roles and Kafka ACLs of the Docker stack.", no_args_is_help=True
)

_DistrictsOption = Annotated[
    Path, typer.Option("--districts", help="A text file: one district a line (as in the roster).")
]


def role_files(settings: TracerSettings) -> dict[Path, str]:
    """Return the text of each committed access file for these settings."""
    users = {
        user: {"roles": [user], "password_env": variable}
        for user, variable in SERVICE_USERS.items()
    }
    rules = acl_rules(prefix=settings.topic_prefix, group=settings.consumer_group)
    return {
        ROLES_FILE: _json(service_roles(settings.leads_alias)),
        USERS_FILE: _json(users),
        ACLS_FILE: acl_lines(rules),
    }


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _districts(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from None
    found = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not found:
        raise InputFileError(f"{path} names no district")
    return found


@app.command("table")
def table(districts: _DistrictsOption) -> None:
    """Print district, slug, officer role and index pattern, one district a line."""
    settings = load_settings()
    typer.echo("district\tslug\trole\tindex pattern")
    for row in district_table(settings.leads_alias, _districts(districts)):
        typer.echo("\t".join(row))


@app.command("export")
def export() -> None:
    """Write roles.json, users.json (docker/elasticsearch) and acls.tsv (docker/kafka)."""
    for path, text in role_files(load_settings()).items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputFileError(f"cannot write {path}: {exc.strerror}") from None
        typer.echo(f"wrote {path}", err=True)


def _password(settings: TracerSettings, user: str) -> str:
    field = f"es_{user.removeprefix('tracer_')}_password"
    secret = getattr(settings, field)
    if secret is None:  # the settings validator refuses empty and placeholder values
        raise StackError(f"TRACER_{field.upper()} is not set: the {user} user needs a password")
    return str(secret.get_secret_value())


def _apply(client: Elasticsearch, settings: TracerSettings, districts: list[str]) -> int:
    roles = service_roles(settings.leads_alias)
    for row in district_table(settings.leads_alias, districts):
        roles[row[2]] = officer_role(settings.leads_alias, [row[0]])
    for name, body in roles.items():
        client.security.put_role(name=name, **body)
    for user in SERVICE_USERS:
        client.security.put_user(username=user, password=_password(settings, user), roles=[user])
    return len(roles)


@app.command("apply")
def apply(
    districts: _DistrictsOption,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Elasticsearch.")] = 180.0,
) -> None:
    """Create the roles, the service users and an officer role per district (as ``elastic``)."""
    settings = load_settings()
    names = _districts(districts)

    async def attempt() -> int:
        def run() -> int:
            # As the set-up job: TRACER_ELASTICSEARCH_USER=elastic (docker-compose.yml).
            with elasticsearch_client(settings) as client:
                return _apply(client, settings, names)

        try:
            return await asyncio.to_thread(run)
        except ApiError as exc:  # translated here, the adapter's edge for this command
            raise StackError(f"Elasticsearch refused the roles: HTTP {exc.meta.status}") from None
        except TransportError as exc:
            raise ServiceUnavailable(f"Elasticsearch: {type(exc).__name__}") from None

    policy = RetryPolicy(base_s=0.5, cap_s=5.0, deadline_s=timeout)
    count = asyncio.run(retry_call(attempt, kind="stack", policy=policy, log_level=logging.INFO))
    typer.echo(f"roles: {count} roles and {len(SERVICE_USERS)} service users in place")
