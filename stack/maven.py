"""Fetching the stack once from Maven Central, through the pom kept beside this module.

One Maven run fetches whatever is missing: the broker's jars (``copy-dependencies``) and the
Elasticsearch integ-test-zip (``copy``). Maven's own cache (``~/.m2``) makes a second fetch
after ``rm -rf .stack`` cheap. Each result lands in a temporary directory first and is renamed
into place when complete, so an interrupted fetch is never mistaken for a finished one.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import zipfile
from importlib import resources
from pathlib import Path

from connectors.errors import StackError

from stack.layout import StackConfig

__all__ = ["fetch", "find_maven", "maven_command", "missing_parts", "unpack_zip"]

_POM = "pom.xml"
_COMPLETE = ".complete"
_MAVEN_TIMEOUT_S = 900.0


def find_maven(maven: str) -> str:
    """Return the path of the ``mvn`` executable.

    Raises:
        StackError: Maven is not installed.
    """
    found = shutil.which(maven)
    if not found:
        raise StackError(
            f"Maven ({maven!r}) was not found on PATH; install it (e.g. apt-get install maven)"
        )
    return found


def missing_parts(config: StackConfig) -> tuple[bool, bool]:
    """Return whether the Kafka jars and whether the Elasticsearch distribution are missing."""
    kafka_missing = not (config.kafka_libs / _COMPLETE).is_file()
    elasticsearch_missing = not (config.elasticsearch_home / "bin" / "elasticsearch").is_file()
    return kafka_missing, elasticsearch_missing


def maven_command(
    mvn: str,
    config: StackConfig,
    *,
    kafka_libs: Path | None,
    elasticsearch: bool,
) -> list[str]:
    """Return the Maven command line that fetches the missing parts (pure)."""
    goals = []
    if kafka_libs is not None:
        goals.append("dependency:copy-dependencies@kafka-libs")
    if elasticsearch:
        goals.append("dependency:copy@elasticsearch-zip")
    return [
        mvn,
        "-B",
        "-q",
        "-f",
        str(config.maven_dir / _POM),
        *goals,
        f"-Dkafka.version={config.kafka_version}",
        f"-Delasticsearch.version={config.elasticsearch_version}",
        f"-Dtracer.libs={kafka_libs or config.kafka_libs}",
        f"-Dtracer.downloads={config.downloads_dir}",
    ]


def fetch(config: StackConfig, *, log_path: Path) -> list[str]:
    """Fetch and unpack whatever of the stack is missing; return what was fetched.

    Maven's output goes to ``log_path``.

    Raises:
        StackError: Maven is missing, or the download failed (the message names the log).
    """
    kafka_missing, elasticsearch_missing = missing_parts(config)
    if not (kafka_missing or elasticsearch_missing):
        return []
    need_zip = elasticsearch_missing and not config.elasticsearch_zip.is_file()
    fetched = []
    if kafka_missing or need_zip:
        mvn = find_maven(config.maven)
        config.maven_dir.mkdir(parents=True, exist_ok=True)
        pom = resources.files("stack").joinpath(_POM).read_bytes()
        (config.maven_dir / _POM).write_bytes(pom)
        staging = config.kafka_libs.with_name("libs.partial") if kafka_missing else None
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _run_maven(maven_command(mvn, config, kafka_libs=staging, elasticsearch=need_zip), log_path)
        if staging is not None:
            (staging / _COMPLETE).write_text(config.kafka_version, encoding="utf-8")
            shutil.rmtree(config.kafka_libs, ignore_errors=True)
            staging.replace(config.kafka_libs)
            fetched.append(f"Kafka {config.kafka_version}")
    if elasticsearch_missing:
        unpack_zip(config.elasticsearch_zip, config.elasticsearch_home)
        fetched.append(f"Elasticsearch {config.elasticsearch_version}")
    return fetched


def _run_maven(command: list[str], log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            # The caller's environment is inherited on purpose: Maven's own settings
            # (JAVA_HOME, MAVEN_OPTS, proxies) belong to the user, not to us.
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=_MAVEN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"Maven download timed out; see {log_path}") from exc
        except OSError as exc:
            raise StackError(f"could not run Maven: {exc}") from exc
    if result.returncode != 0:
        raise StackError(f"Maven download failed (exit {result.returncode}); see {log_path}")


def unpack_zip(archive: Path, target: Path) -> None:
    """Unpack ``archive``'s single top folder as ``target``, keeping file modes.

    Python's ``zipfile`` drops permission bits, and ``bin/elasticsearch`` must stay executable,
    so each entry's Unix mode is restored from its external attributes.

    Raises:
        StackError: the archive is missing or damaged.
    """
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(staging)
            for info in zipped.infolist():
                mode = (info.external_attr >> 16) & 0o7777
                if mode and not stat.S_ISLNK(info.external_attr >> 16):
                    (staging / info.filename).chmod(mode)
    except (OSError, zipfile.BadZipFile) as exc:
        raise StackError(f"could not unpack {archive}: {exc}") from exc
    tops = list(staging.iterdir())
    root = tops[0] if len(tops) == 1 and tops[0].is_dir() else staging
    shutil.rmtree(target, ignore_errors=True)
    root.replace(target)
    shutil.rmtree(staging, ignore_errors=True)
