"""Settings shared by every test, and ``--pure-python``."""

from __future__ import annotations

import pytest
from hypothesis import settings

# Hypothesis's per-example deadline is a timing assertion, and timings on a shared 2-core CI
# machine (or under coverage) vary by an order of magnitude: a slow example says nothing about
# behaviour. Speed is measured by the benchmarks (`make bench`), not by tests.
settings.register_profile("tracer", deadline=None)
settings.load_profile("tracer")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pure-python",
        action="store_true",
        help="test the matchers as Python even when a current compiled build exists",
    )


def pytest_configure(config: pytest.Config) -> None:
    # `make test` runs the matcher tests both ways: compiled (when `make compile` succeeded)
    # and, with this option, as the Python source the compiled build is made from.
    from matchers.native import run_as_python

    if config.getoption("--pure-python"):
        run_as_python()


def pytest_report_header(config: pytest.Config) -> str:
    from matchers.native import is_active

    return f"matchers: {'compiled (mypyc)' if is_active() else 'Python'}"
