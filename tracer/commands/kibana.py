"""``tracer kibana export | import``: the officers' Kibana saved objects, built from the mapping.

``export`` writes the bundle (NDJSON) that is committed as ``docker/kibana/tracer.ndjson``;
``import`` loads it into a Kibana through the saved-objects import API, overwriting objects of
the same ids (the Docker stack's set-up job runs it). Both build from
``connectors.lead_index.lead_mappings()``, so a mapping change shows up in the bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connectors.errors import InputFileError
from connectors.lead_index import lead_mappings
from kibana.bundle import build_bundle, bundle_ndjson
from kibana.importer import import_bundle
from tracer.settings import TracerSettings, load_settings

__all__ = ["COMMITTED_BUNDLE", "app", "bundle_text"]

#: The committed bundle; a unit test fails when it differs from what the code builds.
COMMITTED_BUNDLE = Path(__file__).resolve().parents[2] / "docker" / "kibana" / "tracer.ndjson"

app = typer.Typer(
    help="Kibana saved objects for officers: export and import.", no_args_is_help=True
)


def bundle_text(settings: TracerSettings) -> str:
    """Build the bundle's NDJSON for the configured leads alias and review service."""
    try:
        objects = build_bundle(
            lead_mappings(), alias=settings.leads_alias, review_base_url=settings.review_base_url
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="TRACER_REVIEW_BASE_URL") from None
    return bundle_ndjson(objects)


@app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the NDJSON ('-' for stdout).")
    ] = COMMITTED_BUNDLE,
) -> None:
    """Write the saved objects (data views, searches, charts, dashboard) as NDJSON."""
    text = bundle_text(load_settings())
    if str(out) == "-":
        typer.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror}") from None
    typer.echo(f"wrote {text.count(chr(10))} saved objects to {out}", err=True)


@app.command("import")
def import_(
    url: Annotated[
        str | None, typer.Option("--url", help="Kibana's address (default TRACER_KIBANA_URL).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Import this NDJSON instead of building the bundle."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Kibana.")] = 120.0,
) -> None:
    """Load the saved objects into Kibana (overwrite by id), retrying while Kibana starts."""
    settings = load_settings()
    if file is None:
        text = bundle_text(settings)
    else:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputFileError(f"cannot read {file}: {exc.strerror}") from None
    auth = None
    if settings.kibana_user:
        secret = settings.kibana_password.get_secret_value() if settings.kibana_password else ""
        auth = (settings.kibana_user, secret)
    report = import_bundle(url or settings.kibana_url, text, auth=auth, deadline_s=timeout)
    typer.echo(f"kibana: {report.imported} saved objects imported")
