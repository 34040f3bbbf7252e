"""Settings shared by every test, ``--pure-python``, and the fixtures of the live-stack tests.

``settings`` and ``es`` serve the integration and the browser tests alike; a unit test never
asks for them (it needs no service).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

# The fixtures import the application when they run, never when this file is imported: the
# matcher modules must not be imported before pytest_configure has chosen Python or compiled.
if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from tracer.settings import TracerSettings

# Hypothesis's per-example deadline is a timing assertion, and timings on a shared 2-core CI
# machine (or under coverage) vary by an order of magnitude: a slow example says nothing about
# behaviour. Speed is measured by the benchmarks (`make bench`), not by tests.
hypothesis_settings.register_profile("tracer", deadline=None)
hypothesis_settings.load_profile("tracer")


@pytest.fixture(scope="session")
def settings() -> TracerSettings:
    """The settings the tests run with: the same ``TRACER_*`` environment as the CLI."""
    from tracer.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def es(settings: TracerSettings) -> Iterator[Elasticsearch]:
    """A sync Elasticsearch client on the configured node (integration and browser tests)."""
    from connectors.clients import elasticsearch_client

    with elasticsearch_client(settings, request_timeout=30) as client:
        yield client


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
