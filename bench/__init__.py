"""Benchmarks run by ``make bench`` (``python -m bench.run_all``); figures in ``bench/results/``."""
