r"""The Faust app, its topics and agents: wiring of matchers and connectors only.

One worker (``tracer worker``) is composed by :func:`streams.app.build_pipeline`::

    supervision.roster --(KafkaRosterFollower, outside the group, every partition)--> Watchlist
                                                         (Matcher.apply_roster; statuses)
    feeds.{hukou,bank,telecom} --match_feeds--> leads topic      (EventHandler: validate, match)
                               \-------------> deadletter        (bad input, original bytes)
    leads topic --index_leads--> Elasticsearch alias           (LeadWriter: bulk create, retry)
                            \--> deadletter                    (leads Elasticsearch refuses)
    supervision.roster --dead_letter_roster (in the group)--> deadletter   (invalid records,
                                                   once per group; verdicts from the Watchlist)
                                              \--> tracer.roster.valid   (the person's last
                                  valid record, first: LastValidKeeper; read back on restart)
    Watchlist: located/closed --> LeadCloser --> open leads of the person closed (every worker)

Guarantees and where they come from:

* Nothing lost: agents never raise per event (Faust would acknowledge it); batches come from
  ``stream.take_events`` and are acknowledged only after the loop body returned; Faust flushes
  the producer before it commits offsets; the lead writer retries until Elasticsearch
  acknowledged every lead (a slow or absent cluster slows the pipeline, buffers stay bounded).
* Nothing duplicated: ``lead_id`` is deterministic (person, source, event id) and leads are
  written ``op_type=create``, so a re-delivery is a 409 counted as "already there"; a 409 with
  another ``event_digest`` is a ``conflicting_duplicate``, dead-lettered (the first one stays).
* Whole watchlist everywhere: each worker reads the compacted roster from the beginning and
  matches nothing before it reached the end offsets seen at start.
* Per-event cost: :mod:`streams.transport` gives the app a fetch loop without Faust's
  per-message ``wait_first`` race (kept while a rebalance suspends the flow) and raw-bytes
  topics decoded without the serializer registry.
* Lifecycle: a lead is written closed if its person already left the trace on this worker, and
  the closer searches and closes under the writer's lock (see :mod:`streams.roster`).
"""
