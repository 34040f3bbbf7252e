"""The reprocessing job's parts (``tracer reprocess``): inputs, matching in parallel, sinks.

``lines`` reads JSONL inputs (plain or gzip, a byte-order mark accepted, huge lines bounded),
``rejects`` writes what could not be read, ``sinks`` takes the leads (JSONL, Elasticsearch),
``checkpoint`` lets an interrupted job resume, ``matching`` runs the :class:`Matcher` over
chunks of lines (in worker processes), and ``job`` ties them together.
"""
