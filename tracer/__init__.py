"""The tracer application: the composition root that reads settings and wires the packages.

Dependencies point one way: ``tracer`` → ``streams`` → ``connectors``, ``matchers``.
"""

__all__: list[str] = []
