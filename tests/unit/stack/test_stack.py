"""The pure parts of the local stack: rendered configs, command lines, JDK and port checks."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors.errors import StackError
from stack import LocalStack, StackConfig
from stack.elasticsearch_node import render_elasticsearch_yml
from stack.java import find_java_home, parse_release
from stack.kafka_node import (
    class_archive_options,
    format_command,
    new_cluster_id,
    render_server_properties,
    run_command,
)
from stack.maven import maven_command, unpack_zip
from stack.process import (
    PidRecord,
    group_members,
    port_open,
    process_alive,
    processes_matching,
    read_pid_record,
    spawn_detached,
    stop_group,
    write_pid_record,
)
from tracer.settings import TracerSettings

with warnings.catch_warnings():  # kafka-python warns once on import; the suite errors on warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main
    from tracer.commands.stack import stack_config


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return dict(pairs)


@pytest.fixture
def listener() -> Iterator[int]:
    """A port on loopback that accepts connections, held by a program that is not ours."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Kafka ------------------------------------------------------------------------------------


def test_kafka_is_one_kraft_node_on_loopback(tmp_path: Path) -> None:
    text = render_server_properties(
        host="127.0.0.1", port=9092, controller_port=9093, data_dir=tmp_path
    )
    props = _properties(text)
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path)


def test_every_replication_factor_is_one(tmp_path: Path) -> None:
    props = _properties(
        render_server_properties(host="h", port=1, controller_port=2, data_dir=tmp_path)
    )
    factors = {key: value for key, value in props.items() if "replication.factor" in key}
    assert set(factors) >= {
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
        "default.replication.factor",
    }
    assert set(factors.values()) == {"1"}
    assert props["transaction.state.log.min.isr"] == "1"


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cluster_id) for cluster_id in ids)


def test_kafka_commands_use_the_cached_libs_and_heap(tmp_path: Path) -> None:
    config = StackConfig(stack_dir=tmp_path, kafka_heap="300m")
    java = Path("/jdk/bin/java")
    run = run_command(java, config)
    assert run[0] == "/jdk/bin/java"
    assert "-Xmx300m" in run
    assert run[-2:] == ["kafka.Kafka", str(config.kafka_config_dir / "server.properties")]
    assert f"{config.kafka_libs}/*" in run
    fmt = format_command(java, config, "abc")
    assert fmt[fmt.index("kafka.tools.StorageTool") :][:4] == [
        "kafka.tools.StorageTool",
        "format",
        "-t",
        "abc",
    ]
    assert fmt[-1] == "--ignore-formatted"
    assert "--standalone" not in fmt


def test_the_class_archive_is_created_once_then_reused(tmp_path: Path) -> None:
    archive = tmp_path / "classes.jsa"
    assert class_archive_options(archive) == [f"-XX:ArchiveClassesAtExit={archive}"]
    archive.write_bytes(b"x")
    assert class_archive_options(archive) == [f"-XX:SharedArchiveFile={archive}"]
    config = StackConfig(stack_dir=tmp_path)
    assert f"-XX:SharedArchiveFile={archive}" in run_command(
        Path("java"), config, class_archive=archive
    )
    assert not any("Archive" in option for option in run_command(Path("java"), config))


# Elasticsearch ----------------------------------------------------------------------------


def test_elasticsearch_is_a_single_loopback_node(tmp_path: Path) -> None:
    text = render_elasticsearch_yml(
        host="127.0.0.1",
        http_port=9200,
        transport_port=9300,
        data_dir=tmp_path / "data",
        logs_dir=tmp_path / "logs",
        modules=["x-pack-security", "x-pack-core"],
    )
    lines = set(text.splitlines())
    assert 'discovery.type: "single-node"' in lines
    assert 'network.host: "127.0.0.1"' in lines
    assert "http.port: 9200" in lines
    assert "xpack.security.enabled: false" in lines
    assert "cluster.routing.allocation.disk.threshold_enabled: false" in lines
    assert f'path.data: "{tmp_path / "data"}"' in lines


def test_settings_of_absent_modules_are_left_out(tmp_path: Path) -> None:
    bare = render_elasticsearch_yml(
        host="h", http_port=1, transport_port=2, data_dir=tmp_path, logs_dir=tmp_path, modules=[]
    )
    assert "xpack" not in bare
    assert "geoip" not in bare
    full = render_elasticsearch_yml(
        host="h",
        http_port=1,
        transport_port=2,
        data_dir=tmp_path,
        logs_dir=tmp_path,
        modules=["x-pack-ml", "ingest-geoip"],
    )
    assert "xpack.ml.enabled: false" in full
    assert "ingest.geoip.downloader.enabled: false" in full


# Java -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("release", "major"),
    [
        ('JAVA_VERSION="25.0.1"\n', 25),
        ('IMPLEMENTOR="x"\nJAVA_VERSION="17.0.13"\n', 17),
        ('JAVA_VERSION="1.8.0_402"', 8),
        ('JAVA_VERSION="21"', 21),
        ("nothing here", None),
        ('JAVA_VERSION="garbage"', None),
    ],
)
def test_release_files_give_the_major(release: str, major: int | None) -> None:
    assert parse_release(release) == major


def _fake_jdk(root: Path, version: str) -> Path:
    home = root / f"jdk-{version}"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return home


def test_the_first_jdk_new_enough_wins(tmp_path: Path) -> None:
    old, new = _fake_jdk(tmp_path, "17.0.2"), _fake_jdk(tmp_path, "25.0.1")
    assert find_java_home(21, purpose="ES", candidates=[old, new]) == new


def test_no_jdk_new_enough_is_one_clear_error(tmp_path: Path) -> None:
    old = _fake_jdk(tmp_path, "17.0.2")
    with pytest.raises(StackError, match="needs Java 21"):
        find_java_home(21, purpose="Elasticsearch 9", candidates=[old])
    with pytest.raises(StackError, match="is not such a JDK"):
        find_java_home(21, purpose="Elasticsearch 9", explicit=old)


# Maven ------------------------------------------------------------------------------------


def test_maven_fetches_only_what_is_missing(tmp_path: Path) -> None:
    config = StackConfig(stack_dir=tmp_path, kafka_version="4.1.1", elasticsearch_version="9.2.4")
    both = maven_command("mvn", config, kafka_libs=tmp_path / "libs", elasticsearch=True)
    assert "dependency:copy-dependencies@kafka-libs" in both
    assert "dependency:copy@elasticsearch-zip" in both
    assert "-Dkafka.version=4.1.1" in both
    assert f"-Dtracer.libs={tmp_path / 'libs'}" in both
    only_zip = maven_command("mvn", config, kafka_libs=None, elasticsearch=True)
    assert "dependency:copy-dependencies@kafka-libs" not in only_zip


def test_the_pom_ships_with_the_package() -> None:
    from importlib import resources

    pom = resources.files("stack").joinpath("pom.xml").read_text(encoding="utf-8")
    assert "<id>kafka-libs</id>" in pom
    assert "<id>elasticsearch-zip</id>" in pom
    assert "log4j-slf4j-impl" in pom


def test_unpacking_keeps_the_executable_bit(tmp_path: Path) -> None:
    archive = tmp_path / "dist.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        info = zipfile.ZipInfo("dist-1/bin/run")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        zipped.writestr(info, "#!/bin/sh\n")
        zipped.writestr("dist-1/config/a.yml", "a: 1\n")
    unpack_zip(archive, tmp_path / "home")
    assert os.access(tmp_path / "home" / "bin" / "run", os.X_OK)
    assert (tmp_path / "home" / "config" / "a.yml").read_text() == "a: 1\n"


def test_a_damaged_archive_is_a_stack_error(tmp_path: Path) -> None:
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(StackError, match="could not unpack"):
        unpack_zip(tmp_path / "bad.zip", tmp_path / "home")


# Processes and ports ----------------------------------------------------------------------


def test_port_checks_see_a_listener(listener: int) -> None:
    assert port_open("127.0.0.1", listener)
    assert not port_open("127.0.0.1", _free_port())


def test_pid_records_round_trip(tmp_path: Path) -> None:
    record = PidRecord("kafka", 123, "4.1.1", "127.0.0.1:9092", "/x.log", 1.5)
    write_pid_record(tmp_path / "run" / "kafka.json", record)
    assert read_pid_record(tmp_path / "run" / "kafka.json") == record
    (tmp_path / "broken.json").write_text("{not json")
    assert read_pid_record(tmp_path / "broken.json") is None
    assert read_pid_record(tmp_path / "missing.json") is None


def test_liveness_of_processes() -> None:
    assert process_alive(os.getpid())
    assert not process_alive(2**22 + 1)


# The stack as a whole, without starting anything ------------------------------------------


def _config(tmp_path: Path, kafka_port: int, es_port: int) -> StackConfig:
    return StackConfig(
        stack_dir=tmp_path / "stack", kafka_port=kafka_port, elasticsearch_port=es_port
    )


def test_an_empty_stack_reports_stopped(tmp_path: Path) -> None:
    statuses = LocalStack(_config(tmp_path, _free_port(), _free_port())).status()
    assert [(s.service, s.state, s.pid) for s in statuses] == [
        ("kafka", "stopped", None),
        ("elasticsearch", "stopped", None),
    ]


def test_a_port_taken_by_another_program_is_refused_before_any_download(
    tmp_path: Path, listener: int
) -> None:
    stack = LocalStack(_config(tmp_path, listener, _free_port()))
    assert stack.service_status("kafka").state == "foreign"
    with pytest.raises(StackError, match=f"127.0.0.1:{listener} is already in use"):
        stack.up()
    assert not (tmp_path / "stack" / "maven").exists()


def test_down_on_an_empty_stack_is_harmless(tmp_path: Path) -> None:
    messages: list[str] = []
    LocalStack(_config(tmp_path, _free_port(), _free_port())).down(messages.append)
    assert messages == ["kafka: not running", "elasticsearch: not running"]


def test_settings_become_stack_values(tmp_path: Path) -> None:
    settings = TracerSettings(
        kafka_bootstrap="127.0.0.1:19092,other:1",
        elasticsearch_url="http://localhost:19200",
        stack_dir=tmp_path,
        kafka_heap="256m",
    )
    config = stack_config(settings)
    assert (config.kafka_host, config.kafka_port, config.controller_port) == (
        "127.0.0.1",
        19092,
        19093,
    )
    assert (config.elasticsearch_host, config.elasticsearch_port) == ("localhost", 19200)
    assert config.transport_port == 19300
    assert config.kafka_heap == "256m"
    assert config.log_path("kafka") == tmp_path / "logs" / "kafka.log"


# Real process groups (tiny shell processes, no services) ----------------------------------


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Start ``sh -c script`` detached; return its group id. Reaped (and stopped) at the end."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(script: str) -> int:
        process = spawn_detached(
            ["/bin/sh", "-c", script],
            log_path=tmp_path / "p.log",
            env={"PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
        )
        processes.append(process)
        deadline = time.monotonic() + 5
        while len(group_members(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return process.pid

    yield start
    for process in processes:
        stop_group(process.pid, grace_s=2.0)
        process.wait(timeout=5)


def test_a_detached_group_stops_on_sigterm(spawn: Callable[[str], int]) -> None:
    pgid = spawn("sleep 60 & sleep 60")
    assert len(group_members(pgid)) >= 2
    assert stop_group(pgid, grace_s=5.0) is True
    assert group_members(pgid) == []


def test_a_group_ignoring_sigterm_is_killed(spawn: Callable[[str], int]) -> None:
    pgid = spawn("trap '' TERM; sleep 60 & sleep 60")
    assert stop_group(pgid, grace_s=0.5) is False
    assert group_members(pgid) == []


def test_processes_are_found_by_their_command_line(
    spawn: Callable[[str], int], tmp_path: Path
) -> None:
    marker = f"{tmp_path}/marker"
    pgid = spawn(f"sleep 60 & sleep 61; echo {marker}")
    # A child the shell has forked shows the shell's command line until it execs `sleep`.
    deadline = time.monotonic() + 5
    while processes_matching(marker, "sleep 61") != [pgid] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_matching(marker, "sleep 61") == [pgid]
    assert processes_matching(marker, "no-such-thing") == []


# The command, without services --------------------------------------------------------------


def test_status_of_a_stopped_stack_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACER_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("TRACER_KAFKA_BOOTSTRAP", f"127.0.0.1:{_free_port()}")
    monkeypatch.setenv("TRACER_ELASTICSEARCH_URL", f"http://127.0.0.1:{_free_port()}")
    assert main(["stack", "status", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [(row["service"], row["state"]) for row in rows] == [
        ("kafka", "stopped"),
        ("elasticsearch", "stopped"),
    ]


def test_up_on_a_taken_port_is_one_line_and_exit_1(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    listener: int,
) -> None:
    monkeypatch.setenv("TRACER_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("TRACER_KAFKA_BOOTSTRAP", f"127.0.0.1:{listener}")
    monkeypatch.setenv("TRACER_ELASTICSEARCH_URL", f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(SystemExit) as exited:
        main(["stack", "up"])
    assert exited.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("tracer: error: ")
    assert f"127.0.0.1:{listener} is already in use" in error


def test_elasticsearch_folders_stay_in_an_enterable_stack_dir() -> None:
    # pytest's own tmp_path sits under a folder closed to others, so make an open one.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        Path(folder).chmod(0o755)
        config = StackConfig(stack_dir=Path(folder) / ".stack")
        assert config.elasticsearch_home.parent == Path(folder) / ".stack"


def test_elasticsearch_folders_move_out_of_a_closed_parent(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    config = StackConfig(stack_dir=closed / ".stack")
    root = config.elasticsearch_home.parent
    assert root.parent == Path("/var/tmp")
    assert root.name.startswith("tracer-es-")
    assert config.elasticsearch_data_dir.is_relative_to(root)
    assert StackConfig(stack_dir=closed / ".stack").elasticsearch_root == root  # stable
