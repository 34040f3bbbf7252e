"""The fence around Faust's internals: the worker runs only on the tested releases."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from streams import transport
from streams.transport import TESTED_VERSIONS, UntestedVersion, require_tested_versions
from tracer.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_the_installed_releases_are_the_tested_ones() -> None:
    require_tested_versions()  # the venv is built from pyproject.toml's pins
    assert {p: metadata.version(p) for p in TESTED_VERSIONS} == dict(TESTED_VERSIONS)


@pytest.mark.parametrize("package", sorted(TESTED_VERSIONS))
def test_another_release_of_either_package_is_refused_in_one_line(package: str) -> None:
    def version_of(name: str) -> str:
        return "0.99.0" if name == package else TESTED_VERSIONS[name]

    with pytest.raises(UntestedVersion) as refused:
        require_tested_versions(version_of)
    message = str(refused.value)
    assert f"{package} 0.99.0 is untested" in message and "\n" not in message


def test_a_missing_package_is_refused() -> None:
    def version_of(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    with pytest.raises(UntestedVersion, match="not installed is untested"):
        require_tested_versions(version_of)


def test_pyproject_pins_exactly_the_tested_releases() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(
        dep.split("==") for dep in project["dependencies"] if dep.split("==")[0] in TESTED_VERSIONS
    )
    assert pins == dict(TESTED_VERSIONS)


def test_tracer_worker_refuses_an_untested_faust_before_touching_a_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        transport, "TESTED_VERSIONS", {**TESTED_VERSIONS, "faust-streaming": "0.14.0"}
    )
    # Nothing listens here: reaching Kafka would fail with another message.
    monkeypatch.setenv("TRACER_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    with pytest.raises(SystemExit) as exited:
        main(["worker"])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracer: error: faust-streaming 0.15.3 is untested")
    assert len(err.splitlines()) == 1
