"""Alert subscriptions: an officer is told about each new lead that concerns them, once.

Modules, in the order a lead meets them::

    query.py          the restricted query DSL: validated, then compiled to a predicate (pure)
    subscriptions.py  the Subscription record, its validation against its owner (pure)
    owners.py         OwnerDirectory: the review service's users (Elasticsearch + in-memory)
    store.py          SubscriptionStore: the ``subscriptions`` index (Elasticsearch + in-memory)
    evaluate.py       SubscriptionIndex: candidates by person, or district/source/event type/tier
    notifications.py  notification id (uuid5 of subscription and lead) and payload (pure)
    recorder.py       AlertLog: the ``alerts`` index (create-only, conditional claims)
    claims.py         Claimant: conditional claims with a lease (the outbox's and delivery's)
    outbox.py         AlertOutbox: create on the lead path; publish, mark and relay beside it
    secretbox.py      webhook secrets encrypted at rest (Fernet, key from settings)
    webhooks.py       URL rule, Standard Webhooks body and headers, the aiohttp poster
    delivery.py       Dispatcher: per-subscription queues, digests, rate limits, the sweep
    service.py        AlertService: the lead writer's hook, reload, evaluation, recording
    errors.py         AlertError, InvalidSubscription, UnknownSubscription

Dependencies: ``alerts`` imports ``connectors`` and ``matchers``; ``streams`` imports ``alerts``.
"""
