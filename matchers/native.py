"""The matcher modules compiled with mypyc: the same source, run as C, used only while current.

``make compile`` (``python -m tools.compile_matchers``) compiles the modules in
:data:`COMPILED_MODULES` with mypyc, the compiler mypy ships and black is built with. It reads the
type annotations that ``mypy --strict`` already checks, so the source stays the one Python
source; the compiled build runs matching about 1.8 times as fast (bench/README.md).

The build goes to ``build/mypyc/matchers/`` beside the checkout, never into the source folder,
with a stamp holding the digest of the sources it was built from. On import, :mod:`matchers`
(and each of its sub-packages, for its own folder of the build) puts that folder first on its
``__path__`` only when the stamp matches the sources as they are now: an edited module is
never shadowed by an older build, it runs as Python until the next ``make compile``. Without a
build (an installed wheel, a machine without a C compiler) everything runs as Python, with the
same results.

This module is not compiled itself: it decides where the others come from.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

__all__ = [
    "BUILD_FOLDER",
    "COMPILED_MODULES",
    "STAMP_NAME",
    "build_is_current",
    "is_active",
    "module_source",
    "prefer_compiled",
    "run_as_python",
    "source_digest",
]

SOURCE_FOLDER = Path(__file__).resolve().parent
# Not compiled: this module and every package's ``__init__`` (they choose between the builds),
# and the data folder (not on the matching path).
_PYTHON_ONLY = frozenset({"native", "data"})


def _compiled_modules(folder: Path) -> tuple[str, ...]:
    names = (".".join(p.relative_to(folder).with_suffix("").parts) for p in folder.rglob("*.py"))
    return tuple(
        sorted(
            n
            for n in names
            if not n.endswith("__init__") and n.split(".", 1)[0] not in _PYTHON_ONLY
        )
    )


#: Every compiled module, dotted below the package (``records``, ``fields.names``, ...).
COMPILED_MODULES: tuple[str, ...] = _compiled_modules(SOURCE_FOLDER)
# In a checkout: <root>/build/mypyc/matchers (``build/`` is git-ignored).
BUILD_FOLDER = SOURCE_FOLDER.parent / "build" / "mypyc" / "matchers"
STAMP_NAME = "SOURCES.sha256"
# Set by run_as_python: the build is never put on a package's path again in this process.
_as_python = False


def source_digest(folder: Path = SOURCE_FOLDER) -> str:
    """A digest of the compiled modules' sources and of the interpreter that would load them."""
    digest = hashlib.sha256(sys.version.encode())
    for name in COMPILED_MODULES:
        digest.update(name.encode() + b"\0")
        digest.update(module_source(name, folder).read_bytes())
    return digest.hexdigest()


def module_source(name: str, folder: Path = SOURCE_FOLDER) -> Path:
    """The source file of a module of :data:`COMPILED_MODULES` (``fields.names``: a path)."""
    return folder.joinpath(*name.split(".")).with_suffix(".py")


def prefer_compiled(path: list[str], build: Path = BUILD_FOLDER, *, package: str = "") -> list[str]:
    """The package's ``__path__``, with the compiled build first when it matches the sources.

    Args:
        path: the package's ``__path__`` (its source folder).
        build: where ``make compile`` puts the build.
        package: a sub-package's folder below the build (``"fields"``); ``""`` for the top.

    Returns:
        ``path`` itself when there is no current build (or, for the real build,
        :func:`run_as_python` was called), else the build's folder of this package and then
        ``path``.
    """
    folder = str(build.joinpath(*package.split("."))) if package else str(build)
    if (_as_python and build == BUILD_FOLDER) or not build_is_current(build) or folder in path:
        return path
    return [folder, *path]


def build_is_current(build: Path = BUILD_FOLDER) -> bool:
    """Whether ``build`` holds a compiled build of the sources as they are now."""
    try:
        return (build / STAMP_NAME).read_text().strip() == source_digest()
    except OSError:
        return False  # no build, or a source missing: run as Python


def run_as_python() -> None:
    """Import the matcher modules from their Python source from now on, build or not.

    For the tests and benchmarks that compare the two (``pytest --pure-python``,
    ``python -m bench.speed --pure-python``).

    Raises:
        RuntimeError: a compiled module was imported already.
    """
    global _as_python  # noqa: PLW0603 - one switch for the process, set before any import

    build = str(BUILD_FOLDER)
    modules = [(n, m) for n, m in list(sys.modules.items()) if n.split(".", 1)[0] == "matchers"]
    loaded = [n for n, m in modules if str(getattr(m, "__file__", "")).startswith(build)]
    if loaded:
        raise RuntimeError(f"compiled matcher modules already imported: {', '.join(loaded)}")
    _as_python = True  # sub-packages imported from now on stay on their source
    for _, module in modules:  # the packages imported already
        path = getattr(module, "__path__", None)
        if path is not None:
            path[:] = [p for p in path if not p.startswith(build)]


def is_active() -> bool:
    """Whether the matcher modules imported so far are the compiled ones."""
    import matchers.records  # noqa: PLC0415 - imported here, after the package chose its path

    return not str(matchers.records.__file__).endswith(".py")
