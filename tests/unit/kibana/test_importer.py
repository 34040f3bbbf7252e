"""tracer kibana import: the saved-objects import request, retries while Kibana starts, refusals.

Kibana cannot run on these machines, so a small HTTP server on loopback answers as Kibana's
import API does (status codes and the JSON of its documentation); the Docker smoke test below
runs the real thing where Docker exists.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from connectors.errors import RetryGaveUp
from kibana.importer import KibanaImportError, import_bundle, multipart_body

NDJSON = '{"type":"index-pattern","id":"x","attributes":{"title":"leads"},"references":[]}\n'


class FakeKibana(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, Any]]]] = []
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        status, answer = self.answers.pop(0) if self.answers else (200, {"success": True})
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def kibana() -> Iterator[str]:
    FakeKibana.answers = []
    FakeKibana.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_multipart_body_carries_the_file() -> None:
    body = multipart_body(NDJSON, boundary="b0")
    assert body.startswith(b"--b0\r\n")
    assert b'name="file"; filename="tracer.ndjson"' in body
    assert NDJSON.encode() in body and body.endswith(b"\r\n--b0--\r\n")


def test_import_posts_with_overwrite_xsrf_and_auth(kibana: str) -> None:
    FakeKibana.answers = [(200, {"success": True, "successCount": 1})]
    report = import_bundle(kibana, NDJSON, auth=("tracer_setup", "s3cret"))
    assert report.imported == 1
    (request,) = FakeKibana.seen
    assert request["path"] == "/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["kbn-xsrf"] == "true"
    assert request["headers"]["authorization"].startswith("Basic ")
    assert NDJSON.encode() in request["body"]


def test_a_starting_kibana_is_retried(kibana: str) -> None:
    FakeKibana.answers = [(503, {}), (503, {}), (200, {"success": True, "successCount": 13})]
    assert import_bundle(kibana, NDJSON, deadline_s=30).imported == 13
    assert len(FakeKibana.seen) == 3


def test_a_refusal_is_one_line_and_not_retried(kibana: str) -> None:
    FakeKibana.answers = [(400, {"message": "bad"})]
    with pytest.raises(KibanaImportError, match="HTTP 400") as caught:
        import_bundle(kibana, NDJSON)
    assert "\n" not in str(caught.value) and len(FakeKibana.seen) == 1


def test_objects_kibana_would_not_take_are_named(kibana: str) -> None:
    errors = [{"type": "lens", "id": "a", "error": {"type": "missing_references"}}]
    FakeKibana.answers = [(200, {"success": False, "successCount": 0, "errors": errors})]
    with pytest.raises(KibanaImportError, match=r"1 saved objects \(lens/a: missing_references"):
        import_bundle(kibana, NDJSON)


def test_nothing_listening_gives_up_at_the_deadline() -> None:
    with pytest.raises(RetryGaveUp):
        import_bundle("http://127.0.0.1:9", NDJSON, deadline_s=1.0)


def test_only_http_urls() -> None:
    with pytest.raises(KibanaImportError, match="http"):
        import_bundle("file:///etc/passwd", NDJSON)


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return probe.returncode == 0


@pytest.mark.skipif(
    not _docker_engine(),
    reason="needs a Docker engine (the development machines have only the client): "
    "run where Docker is",
)
def test_docker_smoke_import_into_real_kibana() -> None:  # pragma: no cover - Docker only
    from tracer.commands.kibana import COMMITTED_BUNDLE

    net, es, kb = "tracer-kibana-smoke", "tracer-smoke-es", "tracer-smoke-kibana"
    run = ["docker", "run", "-d", "--rm", "--network", net]
    subprocess.run(["docker", "network", "create", net], check=True)
    try:
        subprocess.run(
            [
                *run,
                "--name",
                es,
                "-e",
                "discovery.type=single-node",
                "-e",
                "xpack.security.enabled=false",
                "-e",
                "ES_JAVA_OPTS=-Xms512m -Xmx512m",
                "docker.elastic.co/elasticsearch/elasticsearch:9.2.4",
            ],
            check=True,
        )
        subprocess.run(
            [
                *run,
                "--name",
                kb,
                "-p",
                "127.0.0.1:15601:5601",
                "-e",
                f"ELASTICSEARCH_HOSTS=http://{es}:9200",
                "docker.elastic.co/kibana/kibana:9.2.4",
            ],
            check=True,
        )
        text = COMMITTED_BUNDLE.read_text(encoding="utf-8")
        report = import_bundle("http://127.0.0.1:15601", text, deadline_s=600)
        assert report.imported == text.count("\n")
        url = "http://127.0.0.1:15601/api/saved_objects/dashboard/tracer-leads-dashboard"
        with urllib.request.urlopen(url) as response:
            assert json.loads(response.read())["attributes"]["title"] == "Tracer leads"
    finally:
        subprocess.run(["docker", "rm", "-f", kb, es], check=False)
        subprocess.run(["docker", "network", "rm", net], check=False)
