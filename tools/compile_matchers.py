"""Compile the matcher modules with mypyc into ``build/mypyc/matchers`` (``make compile``).

    python -m tools.compile_matchers           # build, or say the build is already current
    python -m tools.compile_matchers --force   # build even if current

The build is only ever used while its stamp matches the sources (:mod:`matchers.native`), so a
failed or stale build costs speed, never correctness: this tool exits non-zero with the reason
and everything keeps running as Python.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from matchers.native import (
    BUILD_FOLDER,
    COMPILED_MODULES,
    SOURCE_FOLDER,
    STAMP_NAME,
    build_is_current,
    module_source,
    source_digest,
)

ROOT = SOURCE_FOLDER.parent
# One shared library for all modules, named inside the package so that it is found through
# ``matchers.__path__`` like the modules themselves.
GROUP_NAME = "matchers.compiled"


def compile_matchers() -> None:
    """Compile every module of :data:`COMPILED_MODULES` and stamp the build as current.

    The old build is removed first, so a failure leaves no build rather than a mixed one.
    """
    from mypyc.build import mypycify  # noqa: PLC0415 - needs the dev extras, only here
    from setuptools import Distribution  # noqa: PLC0415

    shutil.rmtree(BUILD_FOLDER, ignore_errors=True)
    digest = source_digest()  # taken before compiling: an edit meanwhile makes the stamp stale
    paths = [str(module_source(name).relative_to(ROOT)) for name in COMPILED_MODULES]
    with tempfile.TemporaryDirectory(prefix="tracer-mypyc-") as temp:
        previous = Path.cwd()
        os.chdir(ROOT)  # mypy names modules from the paths, relative to the checkout
        try:
            extensions = mypycify(
                paths, opt_level="3", group_name=GROUP_NAME, target_dir=f"{temp}/c"
            )
            distribution = Distribution({"name": "tracer-matchers", "ext_modules": extensions})
            command = distribution.get_command_obj("build_ext")
            command.build_lib = str(BUILD_FOLDER.parent)
            command.build_temp = f"{temp}/objects"
            command.parallel = os.cpu_count() or 1
            distribution.run_command("build_ext")
        finally:
            os.chdir(previous)
    (BUILD_FOLDER / STAMP_NAME).write_text(digest + "\n")


def main(argv: list[str]) -> int:
    """Build unless current; 0 when a current build exists afterwards, else 1 (2: bad usage)."""
    force = "--force" in argv
    unknown = [arg for arg in argv if arg != "--force"]
    if unknown:
        print(f"compile_matchers: unknown argument {unknown[0]!r} (only --force)", file=sys.stderr)
        return 2
    if build_is_current() and not force:
        print(f"compile_matchers: {BUILD_FOLDER} is current")
        return 0
    started = time.perf_counter()
    try:
        compile_matchers()
    except (Exception, SystemExit) as error:  # setuptools reports a compiler failure as exit
        print(f"compile_matchers: failed ({error}); matchers run as Python", file=sys.stderr)
        return 1
    print(
        f"compile_matchers: {len(COMPILED_MODULES)} modules compiled into {BUILD_FOLDER} "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
