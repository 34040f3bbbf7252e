"""The matcher modules compiled with mypyc: the same source, run as C, used only while current.

``make compile`` (``python -m tools.compile_matchers``) compiles the modules in
:data:`COMPILED_MODULES` with mypyc, the compiler mypy ships and black is built with. It reads the
type annotations that ``mypy --strict`` already checks, so the source stays the one Python
source; the compiled build runs matching about 1.8 times as fast (bench/README.md).

The build goes to ``build/mypyc/matchers/`` beside the checkout, never into the source folder,
with a stamp holding the digest of the sources it was built from. On import, :mod:`matchers`
puts that folder first on its ``__path__`` only when the stamp matches the sources as they are
now: an edited module is never shadowed by an older build, it runs as Python until the next
``make compile``. Without a build (an installed wheel, a machine without a C compiler) everything
runs as Python, with the same results.

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
    "prefer_compiled",
    "run_as_python",
    "source_digest",
]

SOURCE_FOLDER = Path(__file__).resolve().parent
# Every module of the package but this one and ``__init__`` (which choose between the builds);
# not the data folder (not on the matching path).
COMPILED_MODULES: tuple[str, ...] = tuple(
    sorted(p.stem for p in SOURCE_FOLDER.glob("*.py") if p.stem not in ("__init__", "native"))
)
# In a checkout: <root>/build/mypyc/matchers (``build/`` is git-ignored).
BUILD_FOLDER = SOURCE_FOLDER.parent / "build" / "mypyc" / "matchers"
STAMP_NAME = "SOURCES.sha256"


def source_digest(folder: Path = SOURCE_FOLDER) -> str:
    """A digest of the compiled modules' sources and of the interpreter that would load them."""
    digest = hashlib.sha256(sys.version.encode())
    for name in COMPILED_MODULES:
        digest.update(name.encode() + b"\0")
        digest.update((folder / f"{name}.py").read_bytes())
    return digest.hexdigest()


def prefer_compiled(path: list[str], build: Path = BUILD_FOLDER) -> list[str]:
    """The package's ``__path__``, with the compiled build first when it matches the sources.

    Args:
        path: the package's ``__path__`` (its source folder).
        build: where ``make compile`` puts the build.

    Returns:
        ``path`` itself when there is no current build, else the build folder and then ``path``.
    """
    if not build_is_current(build) or str(build) in path:
        return path
    return [str(build), *path]


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
    import matchers  # noqa: PLC0415 - the package is importing this module

    build = str(BUILD_FOLDER)
    loaded = [
        name
        for name, module in list(sys.modules.items())
        if name.startswith("matchers.") and str(getattr(module, "__file__", "")).startswith(build)
    ]
    if loaded:
        raise RuntimeError(f"compiled matcher modules already imported: {', '.join(loaded)}")
    matchers.__path__[:] = [p for p in matchers.__path__ if p != str(BUILD_FOLDER)]


def is_active() -> bool:
    """Whether the matcher modules imported so far are the compiled ones."""
    import matchers.records  # noqa: PLC0415 - imported here, after the package chose its path

    return not str(matchers.records.__file__).endswith(".py")
