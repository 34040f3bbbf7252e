"""Settings shared by every test."""

from hypothesis import settings

# Hypothesis's per-example deadline is a timing assertion, and timings on a shared 2-core CI
# machine (or under coverage) vary by an order of magnitude: a slow example says nothing about
# behaviour. Speed is measured by the benchmarks (`make bench`), not by tests.
settings.register_profile("tracer", deadline=None)
settings.load_profile("tracer")
