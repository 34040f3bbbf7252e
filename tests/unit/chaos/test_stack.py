"""The private chaos stack: its own ports, and the fetched jars and zip shared, not fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import StackError
from stack import StackConfig
from tests.chaos.stack import private_settings, seed_from


def _fetched(stack_dir: Path) -> StackConfig:
    config = StackConfig(stack_dir=stack_dir)
    config.kafka_libs.mkdir(parents=True)
    (config.kafka_libs / "kafka.jar").write_bytes(b"jar")
    (config.kafka_libs / ".complete").write_text(config.kafka_version)
    config.downloads_dir.mkdir(parents=True)
    config.elasticsearch_zip.write_bytes(b"zip")
    return config


def test_the_fetched_parts_are_shared_as_links(tmp_path: Path) -> None:
    source = _fetched(tmp_path / "shared")
    target = StackConfig(stack_dir=tmp_path / "chaos")
    assert seed_from(source, target) == ["Kafka jars", "Elasticsearch zip"]
    assert (target.kafka_libs / ".complete").is_file()
    jar = target.kafka_libs / "kafka.jar"
    assert jar.stat().st_ino == (source.kafka_libs / "kafka.jar").stat().st_ino
    assert target.elasticsearch_zip.read_bytes() == b"zip"
    assert seed_from(source, target) == []  # complete already: nothing shared twice


def test_nothing_is_shared_across_versions_or_from_an_empty_stack(tmp_path: Path) -> None:
    source = _fetched(tmp_path / "shared")
    other = StackConfig(stack_dir=tmp_path / "chaos", kafka_version="3.9.1")
    assert seed_from(source, other) == []
    empty = StackConfig(stack_dir=tmp_path / "empty")
    assert seed_from(empty, StackConfig(stack_dir=tmp_path / "chaos2")) == []


def test_the_private_stack_has_its_own_folder_and_ports(tmp_path: Path) -> None:
    settings = private_settings(tmp_path, kafka_port=19092, elasticsearch_port=19200)
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.elasticsearch_url == "http://127.0.0.1:19200"
    assert settings.stack_dir == tmp_path


def test_the_shared_stacks_ports_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACER_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    with pytest.raises(StackError, match="shared stack's ports"):
        private_settings(tmp_path, kafka_port=9092, elasticsearch_port=19200)
