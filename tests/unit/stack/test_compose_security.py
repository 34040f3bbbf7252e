"""The Docker stack's access control, cross-checked against the names the code uses.

No Docker engine here: the compose file, Kafka's configuration, the ACL and role files are
parsed and held to the code (topic names from connectors.topics, the lead alias and district
rule from connectors.lead_index, the settings from tracer.settings).
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connectors.lead_index import district_alias
from contract import ALL_TOPICS, FEED_TOPICS, topic_name
from kibana.acls import AUDIT_TOPIC, KAFKA_PRINCIPALS, acl_rules, writers
from kibana.roles import SERVICE_USERS, officer_role, service_roles
from tracer.commands.roles import role_files
from tracer.settings import TracerSettings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SETUP_JOBS = {"kibana-password", "setup", "kibana-setup"}
# Client settings the `arch` helper adds to tracer/settings.py (issue 17.3); until that branch
# is merged they are not fields here.
ARCH_CLIENT_SETTINGS = {
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_username",
    "kafka_password",
    "kafka_ca_file",
    "kafka_cert_file",
    "kafka_key_file",
    "elasticsearch_ca_file",
}
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in service.get("environment", {}).items()}


def test_every_variable_the_file_needs_is_in_env_example() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    assert required, "the compose file should require its secrets"
    documented = set(env_example())
    assert required <= documented, required - documented
    assert set(VARIABLE.findall(text)) <= documented | {"KAFKA_CLUSTER_ID"}


def test_every_secret_comes_from_env(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if key.endswith(("PASSWORD", "ENCRYPTIONKEY")):
                assert value.startswith("${") and ":?" in value, (name, key)


def test_env_example_holds_only_placeholders_for_secrets() -> None:
    secrets = {k: v for k, v in env_example().items() if k.endswith(("PASSWORD", "_KEY"))}
    assert len(secrets) >= 12
    assert all(value.startswith("change-me") for value in secrets.values()), secrets


def test_nobody_but_the_set_up_jobs_uses_elastic(compose: dict[str, Any]) -> None:
    users = {}
    for name, service in compose["services"].items():
        env = environment(service)
        elastic = (
            "ELASTIC_PASSWORD" in str(env)
            or env.get("TRACER_ELASTICSEARCH_USER") == "elastic"
            or env.get("TRACER_KIBANA_USER") == "elastic"
        )
        if elastic and name != "elasticsearch":  # the node itself sets the password
            users[name] = env
    assert set(users) == SETUP_JOBS
    worker = environment(compose["services"]["worker"])
    assert worker["TRACER_ELASTICSEARCH_USER"] == "tracer_worker"
    assert worker["TRACER_ELASTICSEARCH_PASSWORD"].startswith("${ES_WORKER_PASSWORD")
    kibana = environment(compose["services"]["kibana"])
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"


def test_kafka_admin_is_used_by_set_up_only(compose: dict[str, Any]) -> None:
    using = {
        name
        for name, service in compose["services"].items()
        if "KAFKA_ADMIN_PASSWORD" in str(environment(service))
    }
    assert using == {"kafka", "kafka-setup", "setup"}
    worker = environment(compose["services"]["worker"])
    assert worker["TRACER_KAFKA_USERNAME"] == "worker"
    assert worker["TRACER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def test_tracer_variables_are_settings(compose: dict[str, Any]) -> None:
    fields = set(TracerSettings.model_fields) | ARCH_CLIENT_SETTINGS
    for name, service in compose["services"].items():
        for key in environment(service):
            if key.startswith("TRACER_"):
                assert key.removeprefix("TRACER_").lower() in fields, (name, key)


def test_security_is_on_for_every_tracer_service(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if service.get("image") == "tracer:local":
            assert environment(service)["TRACER_SECURITY_ENABLED"] == "true", name


def test_files_the_stack_mounts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./") and "/certs/out" not in source:
                assert (ROOT / source).exists(), (name, source)
    for script in ("start.sh", "setup.sh", "secrets.sh", "server.properties", "acls.tsv"):
        assert (ROOT / "docker" / "kafka" / script).is_file()


def test_committed_access_files_are_what_the_code_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRACER_LEADS_ALIAS", "TRACER_TOPIC_PREFIX", "TRACER_CONSUMER_GROUP"):
        monkeypatch.delenv(name, raising=False)
    for path, text in role_files(TracerSettings()).items():
        assert path.read_text(encoding="utf-8") == text, f"run `tracer roles export` ({path})"


def test_only_the_right_principals_write_each_topic() -> None:
    found = writers(acl_rules(prefix="", group="tracer"))
    expected = {
        **{key: {"feeds"} for key in FEED_TOPICS},
        "supervision.roster": {"roster"},
        "leads": {"worker"},
        "deadletter": {"worker"},
        "alerts": {"worker"},
        "tracer.roster.valid": {"worker"},
        "audit": {"worker", "review"},
    }
    for key in ALL_TOPICS:
        assert found[topic_name(key)] == expected[key], key
    assert found[AUDIT_TOPIC] == {"worker", "review"}
    assert set(found) == {topic_name(key) for key in ALL_TOPICS} | {AUDIT_TOPIC}


def test_acls_follow_the_topic_prefix() -> None:
    rules = acl_rules(prefix="test.", group="g")
    assert all(rule.name.startswith("test.") for rule in rules if rule.resource == "topic")
    assert ("worker", "Read", "group", "prefixed", "g") in rules


def test_kafka_setup_creates_every_principal_of_the_acls() -> None:
    script = (ROOT / "docker" / "kafka" / "setup.sh").read_text(encoding="utf-8")
    loop = re.search(r"for user in ([a-z ]+); do", script)
    assert loop is not None
    assert set(loop.group(1).split()) == set(KAFKA_PRINCIPALS)
    for principal in KAFKA_PRINCIPALS:
        assert f"KAFKA_{principal.upper()}_PASSWORD" in env_example()


def server_properties() -> dict[str, str]:
    props = {}
    for line in (ROOT / "docker" / "kafka" / "server.properties").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key] = value
    return props


def test_kafka_listens_with_sasl_ssl_and_denies_by_default() -> None:
    props = server_properties()
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    assert protocols == {"INTERNAL": "SASL_SSL", "EXTERNAL": "SASL_SSL", "CONTROLLER": "PLAINTEXT"}
    assert "CONTROLLER://localhost:" in props["listeners"]
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    # Per listener: Kafka ignores a bare ssl.client.auth on SASL_SSL listeners (found on a
    # real 4.1.1 broker: a client without a certificate got in).
    for listener in ("internal", "external"):
        assert props[f"listener.name.{listener}.ssl.client.auth"] == "required"
    for key, value in props.items():
        if "password" in key or "jaas" in key:
            assert "password=" not in value or "${env:" in value, key


def test_worker_role_reaches_every_district_and_officers_only_theirs() -> None:
    worker = service_roles("leads")["tracer_worker"]
    leads_grant = worker["indices"][0]
    for district in ("美兰区", "龙华区", None):
        index = f"{district_alias('leads', district)}-v2"
        assert any(fnmatch.fnmatch(index, pattern) for pattern in leads_grant["names"])
    officer = officer_role("leads", ["美兰区"])
    (grant,) = officer["indices"]
    own, other = district_alias("leads", "美兰区"), district_alias("leads", "龙华区")

    def readable(name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in grant["names"])

    assert readable(own) and readable(f"{own}-v2")
    assert not readable(other) and not readable(f"{other}-v2")
    assert not readable("leads") and not readable("leads-v1")
    assert grant["privileges"] == ["read", "view_index_metadata"]


def test_service_roles_hold_no_broad_privilege() -> None:
    for name, role in service_roles("leads").items():
        assert not set(role["cluster"]) & {"all", "manage", "manage_security"}, name
        for grant in role["indices"]:
            assert not set(grant["privileges"]) & {"all", "manage", "write"}, name
            assert "*" not in grant["names"], name
    worker_names = {
        n for g in service_roles("leads")["tracer_worker"]["indices"] for n in g["names"]
    }
    assert "review-users" not in worker_names
    assert set(SERVICE_USERS) <= set(service_roles("leads"))


@pytest.mark.parametrize("value", ["", "  ", "change-me-kafka-admin", "CHANGE-ME"])
def test_set_up_scripts_refuse_placeholder_secrets(value: str) -> None:
    result = subprocess.run(
        ["bash", "-c", f"source {ROOT}/docker/kafka/secrets.sh; require_secret SECRET"],
        env={"SECRET": value, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "SECRET" in result.stderr
    if value.strip():  # the refusal names the variable, never its value
        assert value not in result.stderr


def test_set_up_scripts_accept_a_real_secret() -> None:
    result = subprocess.run(
        ["bash", "-c", f"source {ROOT}/docker/kafka/secrets.sh; require_secret SECRET"],
        env={"SECRET": "x8Jq-real", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0
