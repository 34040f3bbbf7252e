"""Kibana as code: the saved objects officers use, built from the lead mapping, and their import.

``kibana.fields`` reads a mapping into field paths and types, ``kibana.bundle`` builds the
saved objects (pure, tested by value), ``kibana.importer`` is the one place that talks to
Kibana (the saved-objects import API).
"""
