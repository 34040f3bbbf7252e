"""``matchers.native``: a compiled build is used only while it matches the sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matchers.native import (
    COMPILED_MODULES,
    SOURCE_FOLDER,
    STAMP_NAME,
    module_source,
    prefer_compiled,
    source_digest,
)

SOURCE_PATH = [str(SOURCE_FOLDER)]


def test_the_compiled_modules_are_the_matching_ones() -> None:
    modules = {name.rsplit(".", 1)[-1] for name in COMPILED_MODULES}  # in any sub-package
    assert {"records", "blocking", "matcher", "names", "ids"} <= modules
    assert "native" not in modules  # it chooses the build: always Python
    assert "__init__" not in modules
    assert all(module_source(name).is_file() for name in COMPILED_MODULES)


def test_without_a_build_the_source_is_used(tmp_path: Path) -> None:
    assert prefer_compiled(SOURCE_PATH, tmp_path / "none") == SOURCE_PATH
    assert prefer_compiled(SOURCE_PATH, tmp_path) == SOURCE_PATH  # a folder with no stamp


def test_a_current_build_comes_first(tmp_path: Path) -> None:
    (tmp_path / STAMP_NAME).write_text(source_digest() + "\n")
    assert prefer_compiled(SOURCE_PATH, tmp_path) == [str(tmp_path), *SOURCE_PATH]
    # Asked twice (a reload), the build is not listed twice.
    assert prefer_compiled([str(tmp_path), *SOURCE_PATH], tmp_path) == [
        str(tmp_path),
        *SOURCE_PATH,
    ]


def test_a_stale_build_is_ignored(tmp_path: Path) -> None:
    (tmp_path / STAMP_NAME).write_text("0" * 64 + "\n")
    assert prefer_compiled(SOURCE_PATH, tmp_path) == SOURCE_PATH


@pytest.mark.parametrize("module", ["records", "matcher"])
def test_editing_any_compiled_module_changes_the_digest(tmp_path: Path, module: str) -> None:
    for name in COMPILED_MODULES:
        copy = module_source(name, tmp_path)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(module_source(name), copy)
    assert source_digest(tmp_path) == source_digest()
    dotted = next(name for name in COMPILED_MODULES if name.rsplit(".", 1)[-1] == module)
    with module_source(dotted, tmp_path).open("a") as source:
        source.write("\n# edited\n")
    assert source_digest(tmp_path) != source_digest()


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=SOURCE_FOLDER.parent,
        check=False,
    )


def test_run_as_python_imports_the_source() -> None:
    done = _python(
        "from matchers.native import run_as_python; run_as_python()\n"
        "import matchers.records, matchers.native as n\n"
        "print(matchers.records.__file__, n.is_active())"
    )
    assert done.returncode == 0, done.stderr
    path, active = done.stdout.split()
    assert path == str(SOURCE_FOLDER / "records.py")
    assert active == "False"


def test_run_as_python_refuses_once_a_compiled_module_is_loaded() -> None:
    done = _python(
        "import matchers.records, matchers.native as n\n"
        "compiled = n.is_active()\n"
        "try:\n"
        "    n.run_as_python()\n"
        "except RuntimeError:\n"
        "    print(compiled, 'refused')\n"
        "else:\n"
        "    print(compiled, 'done')\n"
    )
    assert done.returncode == 0, done.stderr
    # Compiled modules loaded: refused, loudly. Nothing compiled loaded: nothing to undo.
    assert done.stdout.split() in (["True", "refused"], ["False", "done"])
