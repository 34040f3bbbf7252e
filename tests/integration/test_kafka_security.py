"""The Docker stack's Kafka configuration on a real broker: SASL_SSL, client certificates, ACLs.

No Docker here, but the broker of the local stack's Maven jars is the same Kafka 4.1.1 as the
image: this test starts a second, private broker on free loopback ports from
docker/kafka/server.properties (ports and paths rewritten, nothing else), makes certificates
with docker/certs/make-certs.sh, creates the SCRAM users and the ACLs of docker/kafka/acls.tsv,
and checks who may write what. Skipped where the jars, a JDK or openssl are missing.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    NewTopic,
    ResourcePattern,
    ResourceType,
)
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from kafka.net.compat import KafkaNetClient

from connectors.topics import contract_topics
from kibana.acls import AUDIT_TOPIC, KAFKA_PRINCIPALS
from stack import StackConfig
from tracer.settings import TracerSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.chaos,  # a second broker of its own for two minutes: `make chaos`
    # A refused connection attempt can still leave a TCP socket to the GC inside kafka-python
    # (the client's socketpair is closed in _send); `collected_here` makes the GC run while
    # these filters apply, never at a later test's teardown.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
ROOT = Path(__file__).resolve().parents[2]
KEYSTORE = "ks-7f3c-test"


@pytest.fixture(scope="module", autouse=True)
def collected_here() -> Iterator[None]:
    """Collect what kafka-python left behind at this module's end, under its filters."""
    yield
    gc.collect()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _java(settings: TracerSettings) -> Path:
    for home in (settings.java_home, Path("/usr/lib/jvm/java-17-openjdk-amd64")):
        if home is not None and (home / "bin" / "java").exists():
            return home / "bin" / "java"
    pytest.skip("no JDK 17 for the private Kafka broker")


def _properties(work: Path, ports: dict[str, int]) -> Path:
    text = (ROOT / "docker" / "kafka" / "server.properties").read_text()
    text = text.replace(
        "listeners=INTERNAL://:19092,EXTERNAL://:9092,CONTROLLER://localhost:9093",
        f"listeners=INTERNAL://127.0.0.1:{ports['internal']},"
        f"EXTERNAL://127.0.0.1:{ports['external']},CONTROLLER://localhost:{ports['controller']}",
    )
    text = text.replace(
        "advertised.listeners=INTERNAL://kafka:19092,EXTERNAL://127.0.0.1:9092",
        f"advertised.listeners=INTERNAL://localhost:{ports['internal']},"
        f"EXTERNAL://127.0.0.1:{ports['external']}",
    )
    text = text.replace("1@localhost:9093", f"1@localhost:{ports['controller']}")
    text = text.replace("/etc/kafka/certs", str(work / "certs" / "kafka"))
    text = text.replace("/var/lib/kafka/data", str(work / "data"))
    path = work / "server.properties"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def broker(
    settings: TracerSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    libs = StackConfig(
        stack_dir=settings.stack_dir, kafka_version=settings.kafka_version
    ).kafka_libs
    if not libs.is_dir() or shutil.which("openssl") is None:
        pytest.skip(
            f"needs the local stack's Kafka jars ({libs}; set TRACER_STACK_DIR) and openssl"
        )
    java, work = _java(settings), tmp_path_factory.mktemp("kafka-sec")
    env = dict(os.environ) | {
        "KAFKA_ADMIN_PASSWORD": "admin-7f3c",
        "KAFKA_KEYSTORE_PASSWORD": KEYSTORE,
        "TRACER_CERTS_OUT": str(work / "certs"),
    }
    subprocess.run(
        ["bash", str(ROOT / "docker/certs/make-certs.sh")],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    ports = {name: _free_port() for name in ("internal", "external", "controller")}
    props = _properties(work, ports)
    classpath = f"{libs}/*"
    subprocess.run(
        [
            str(java),
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "--cluster-id",
            "ha96j1nSQUGlP2fIsQ_rjw",
            "--config",
            str(props),
            "--add-scram",
            "SCRAM-SHA-512=[name=admin,password=admin-7f3c]",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    process = subprocess.Popen(
        [str(java), "-Xmx384m", "-cp", classpath, "kafka.Kafka", str(props)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ports["external"]), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the private Kafka broker did not listen within 120 s")
        yield {"work": work, "port": ports["external"], "java": java, "classpath": classpath}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _login(
    broker: dict[str, Any], user: str, password: str, *, cert: bool = True
) -> dict[str, Any]:
    clients = broker["work"] / "certs" / "clients"
    options: dict[str, Any] = {
        "bootstrap_servers": f"127.0.0.1:{broker['port']}",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "ssl_cafile": str(clients / "ca.crt"),
    }
    if cert:
        options |= {
            "ssl_certfile": str(clients / f"{user}.crt"),
            "ssl_keyfile": str(clients / f"{user}.key"),
        }
    return options


def _set_up(broker: dict[str, Any]) -> None:
    """What kafka-setup does: SCRAM users (Kafka's own tool), then the committed ACLs."""
    admin_props = broker["work"] / "admin.properties"
    certs = broker["work"] / "certs" / "kafka"
    admin_props.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required"
        ' username="admin" password="admin-7f3c";\n'
        f"ssl.truststore.type=PEM\nssl.truststore.location={certs}/ca.crt\n"
        f"ssl.keystore.type=PKCS12\nssl.keystore.location={certs}/admin.p12\n"
        f"ssl.keystore.password={KEYSTORE}\n"
    )
    for user in KAFKA_PRINCIPALS:
        subprocess.run(
            [
                str(broker["java"]),
                "-cp",
                broker["classpath"],
                "kafka.admin.ConfigCommand",
                "--bootstrap-server",
                f"127.0.0.1:{broker['port']}",
                "--command-config",
                str(admin_props),
                "--alter",
                "--entity-type",
                "users",
                "--entity-name",
                user,
                "--add-config",
                f"SCRAM-SHA-512=[password={user}-7f3c]",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    admin = KafkaAdminClient(**_login(broker, "admin", "admin-7f3c"))
    try:
        specs = contract_topics(feed_partitions=1)
        admin.create_topics([NewTopic(s.name, 1, 1, topic_configs=dict(s.configs)) for s in specs])
        acls = []
        for line in (ROOT / "docker" / "kafka" / "acls.tsv").read_text().splitlines():
            principal, operation, resource, pattern, name = line.split("\t")
            acls.append(
                ACL(
                    f"User:{principal}",
                    "*",
                    ACLOperation[operation.upper()],
                    ACLPermissionType.ALLOW,
                    ResourcePattern(
                        ResourceType[resource.upper()],
                        name,
                        ACLResourcePatternType[pattern.upper()],
                    ),
                )
            )
        assert not admin.create_acls(acls)["failed"]
    finally:
        admin.close()


def _send(options: dict[str, Any], topic: str) -> str:
    # A client that cannot log in fails already while bootstrapping, inside KafkaProducer's
    # constructor, which then leaves its network client (a wake-up socketpair and the broker
    # sockets) to the garbage collector: collected at some later test's teardown, it failed
    # that test. The factory keeps hold of the client so that it is closed here.
    made: list[KafkaNetClient] = []

    def client(**config: Any) -> KafkaNetClient:
        made.append(KafkaNetClient(**config))
        return made[-1]

    try:
        producer = KafkaProducer(
            **options, kafka_client=client, max_block_ms=8000, request_timeout_ms=8000, retries=0
        )
    except KafkaError:
        for built in made:
            built.close()
        return "refused"
    try:
        producer.send(topic, b"{}", key=b"k").get(timeout=10)
        return "allowed"
    except TopicAuthorizationFailedError:
        return "denied"
    except KafkaError:
        return "refused"
    finally:
        producer.close(timeout=2)


def test_only_the_right_principals_write_on_a_real_broker(broker: dict[str, Any]) -> None:
    _set_up(broker)
    cases = {
        ("roster", "supervision.roster"): "allowed",
        ("worker", "supervision.roster"): "denied",
        ("feeds", "supervision.roster"): "denied",
        ("feeds", "feeds.bank"): "allowed",
        ("worker", "feeds.bank"): "denied",
        ("worker", "leads"): "allowed",
        ("feeds", "leads"): "denied",
        ("worker", "deadletter"): "allowed",
        ("review", AUDIT_TOPIC): "allowed",
        ("review", "leads"): "denied",
    }
    got = {(u, t): _send(_login(broker, u, f"{u}-7f3c"), t) for u, t in cases}
    assert got == cases
    # No login, a wrong password, no client certificate: no way in at all.
    plain = {"bootstrap_servers": f"127.0.0.1:{broker['port']}"}
    assert _send(plain, "leads") == "refused"
    assert _send(_login(broker, "worker", "wrong"), "leads") == "refused"
    assert _send(_login(broker, "worker", "worker-7f3c", cert=False), "leads") == "refused"
