"""docker-compose.yml: the services, security on, secrets from .env, a worker that scales."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def test_the_stack_has_its_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {
        "kafka",
        "elasticsearch",
        "kibana",
        "kibana-password",
        "kafka-setup",
        "kibana-setup",
        "setup",
        "worker",
    }


def test_elastic_images_are_major_9(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("elasticsearch", "kibana", "kibana-password"):
        image = services[name]["image"]
        assert image.startswith("docker.elastic.co/"), name
        assert image.rsplit(":", 1)[1].startswith("9."), name
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_security_is_on_and_passwords_come_from_env(compose: dict[str, Any]) -> None:
    services = compose["services"]
    es_env = services["elasticsearch"]["environment"]
    assert es_env["xpack.security.enabled"] == "true"
    assert es_env["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    kibana_env = services["kibana"]["environment"]
    assert kibana_env["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kibana_env["ELASTICSEARCH_PASSWORD"].startswith("${KIBANA_SYSTEM_PASSWORD")
    assert "kibana_system/_password" in services["kibana-password"]["command"][0]
    assert services["kibana"]["depends_on"]["kibana-password"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("setup", "worker"):
        assert services[name]["environment"]["TRACER_ELASTICSEARCH_PASSWORD"].startswith("${")


def test_setup_runs_stack_init_before_the_workers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["setup"]["command"][-1].startswith("tracer stack init")
    assert services["setup"]["restart"] == "no"
    assert services["worker"]["command"] == ["tracer", "worker"]
    assert (
        services["worker"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    )


def test_the_worker_scales(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker


def test_published_ports_stay_on_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), name


def test_no_password_is_written_in_the_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert "change-me" not in text
    assert (ROOT / ".env.example").is_file()


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    result = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return result.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="the docker compose plugin is not installed")
def test_docker_compose_accepts_the_file() -> None:
    result = subprocess.run(
        [
            "docker",
            "compose",
            "--env-file",
            str(ROOT / ".env.example"),
            "-f",
            str(COMPOSE),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_image_copies_every_package_the_project_installs() -> None:
    """A package left out of the Dockerfile or its .dockerignore breaks the image's imports."""
    root = Path(__file__).resolve().parents[3]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    dockerfile = (root / "docker" / "Dockerfile").read_text(encoding="utf-8")
    ignore = (root / "docker" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for package in sorted(packages):
        assert f"COPY {package} ./{package}\n" in dockerfile, package
        assert f"!{package}/\n" in ignore, package
