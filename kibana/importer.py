"""Load a saved-objects bundle into Kibana: the one place that talks to Kibana.

``POST <url>/api/saved_objects/_import?overwrite=true``, multipart with the NDJSON as ``file``,
header ``kbn-xsrf``. A Kibana that is starting (connection refused or reset, 5xx, 429) is tried
again with the project's retry helper until the deadline; a refusal (4xx, or objects Kibana
would not import) is one line naming what failed, never the objects' content::

    report = import_bundle("http://127.0.0.1:5601", ndjson, auth=("tracer_setup", secret))
    report.imported   # -> 12

Errors are translated here into :mod:`connectors.errors`: :class:`ServiceUnavailable`
(retriable), :class:`KibanaImportError` (not).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from connectors.errors import ConnectorError, ServiceUnavailable
from connectors.retry import RetryPolicy, retry_call

__all__ = ["ImportReport", "KibanaImportError", "import_bundle", "multipart_body"]

_RETRIED_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
_SHOWN_ERRORS: Final = 3


class KibanaImportError(ConnectorError):
    """Kibana refused the import (a 4xx, or objects it would not take); trying again won't help."""


@dataclass(frozen=True)
class ImportReport:
    """What Kibana said: how many objects it imported."""

    imported: int


def multipart_body(ndjson: str, *, boundary: str) -> bytes:
    """Return a ``multipart/form-data`` body carrying ``ndjson`` as the ``file`` field."""
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="tracer.ndjson"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    )
    return head.encode() + ndjson.encode() + f"\r\n--{boundary}--\r\n".encode()


def _request(url: str, ndjson: str, auth: tuple[str, str] | None, timeout_s: float) -> Any:
    boundary = "tracer-" + secrets.token_hex(12)
    request = urllib.request.Request(
        url.rstrip("/") + "/api/saved_objects/_import?overwrite=true",
        data=multipart_body(ndjson, boundary=boundary),
        method="POST",
        headers={"kbn-xsrf": "true", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read(_MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open otherwise
        if exc.code in _RETRIED_STATUSES:
            raise ServiceUnavailable(f"Kibana answered HTTP {exc.code}") from None
        raise KibanaImportError(f"Kibana refused the import: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnavailable(f"Kibana at {url} did not answer: {reason}") from None
    except ValueError:
        raise KibanaImportError("Kibana's answer to the import was not JSON") from None


def _report(body: Any) -> ImportReport:
    if not isinstance(body, dict):
        raise KibanaImportError("Kibana's answer to the import was not an object")
    errors = body.get("errors") or []
    if not body.get("success", False) or errors:
        shown = ", ".join(
            f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type', 'unknown')}"
            for e in errors[:_SHOWN_ERRORS]
            if isinstance(e, dict)
        )
        raise KibanaImportError(f"Kibana refused {len(errors)} saved objects ({shown})")
    return ImportReport(imported=int(body.get("successCount", 0)))


def import_bundle(
    url: str,
    ndjson: str,
    *,
    auth: tuple[str, str] | None = None,
    deadline_s: float = 120.0,
    attempt_timeout_s: float = 30.0,
) -> ImportReport:
    """Import ``ndjson`` into the Kibana at ``url``, overwriting objects with the same ids.

    Raises:
        KibanaImportError: Kibana refused the request or some of the objects.
        RetryGaveUp: Kibana did not answer before ``deadline_s``.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise KibanaImportError(f"Kibana's URL must be http(s)://..., got {url!r}")

    async def attempt() -> Any:
        return await asyncio.to_thread(_request, url, ndjson, auth, attempt_timeout_s)

    policy = RetryPolicy(base_s=0.5, cap_s=5.0, deadline_s=deadline_s)
    body = asyncio.run(retry_call(attempt, kind="stack", policy=policy, log_level=logging.INFO))
    return _report(body)
