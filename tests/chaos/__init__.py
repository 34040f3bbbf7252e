"""``make chaos``: fault runs on a real local stack, ending in one table of lost and copied leads.

    make chaos                                  # every fault, default sizes (~15 min, 2 cores)
    .venv/bin/python -m tests.chaos --faults kill,hostile --events 5000 --hostile-events 20000
    .venv/bin/python -m tests.chaos --help      # every size and port

What runs (``faults.py``), each on its own topic prefix, consumer group and leads alias:

============== ======================================================================
kill           the worker SIGKILLed ``--kill-runs`` (5) times at random points, restarted
kafka          Kafka stopped mid-stream for ``--kafka-down`` (20 s), then started again
elasticsearch  Elasticsearch stopped mid-stream for ``--es-down`` (60 s) while events keep
               coming; the worker's peak RSS (sampled from ``/proc`` every 0.5 s) shows
               whether it waits with bounded memory
two-workers    two workers in one group, one SIGKILLed mid-stream, the other takes over
hostile        every kind of unusable message (``hostile.py``) interleaved with 100,000
               valid events, published as fast as Kafka takes them
============== ======================================================================

Every run simulates its roster and events with ``tracer simulate``, computes the expected leads
with ``tracer reprocess`` on the same files, publishes the roster with ``tracer produce``, runs
real ``tracer worker`` processes, streams the events at a steady rate (``--feed-seconds``) so
the fault lands mid-stream, and waits, bounded, until the group has committed everything or
nothing moves for 90 s. Then it compares the leads in Elasticsearch with the expected ones
(``tally.py``: by ``lead_id`` and by ``(person_id, source, event_id)``) and counts the dead
letters by reason.

The ``kafka`` and ``elasticsearch`` runs also start a *probe* worker (its own consumer group
and leads alias, the same topics) and SIGTERM it mid-outage: how long a stuck worker takes to
stop goes into the notes and the JSON (``sigterm_s``). The probe publishes leads and dead
letters of its own to the same topics; lead writes are create-only, so the count of documents
is unaffected, and dead letters are counted once per original message (repeats in the notes).

The table (``report.py``) has one row per fault: runs, events, expected leads, found, missing,
duplicated, dead letters by reason, peak worker RSS. It is printed and written to
``out/chaos/chaos.json`` and ``chaos.md`` with each row's notes (kill points, outage lengths,
how long SIGTERM took at the end, which workers exited). The exit code is 1 when any row has a
lead missing or duplicated (or the harness failed), so ``make chaos`` fails with it.

The runs stop Kafka and Elasticsearch, so they never touch the shared stack (9092 / 9200): a
private one (``stack.py``) runs on 19092 / 19200 under ``.stack-chaos/``, sharing the jars and
the zip the default stack fetched (``--seed-from``), and is stopped at the end
(``--keep-stack`` leaves it up for the next run). Each run's files and worker logs stay under
``out/chaos/<fault>/``.
"""
