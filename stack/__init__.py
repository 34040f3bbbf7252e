"""The local single-node Kafka and Elasticsearch, fetched from Maven Central, run without Docker.

    stack = LocalStack(StackConfig(stack_dir=Path(".stack")))
    stack.up(print)        # fetch once, start detached, wait until both answer
    stack.status()         # (ServiceStatus(kafka, running, ...), ServiceStatus(elasticsearch, ...))
    stack.down(print)      # SIGTERM, wait, SIGKILL; nothing left behind

Modules: ``layout`` (paths and plain values), ``maven`` (fetching), ``kafka_node`` and
``elasticsearch_node`` (configuration and command lines), ``java`` (finding a JDK), ``process``
(detached processes, pid files, ports), ``local_stack`` (the orchestration).
"""

from __future__ import annotations

from stack.layout import ServiceName, StackConfig
from stack.local_stack import SERVICES, LocalStack, Observer, ServiceState, ServiceStatus

__all__ = [
    "SERVICES",
    "LocalStack",
    "Observer",
    "ServiceName",
    "ServiceState",
    "ServiceStatus",
    "StackConfig",
]
