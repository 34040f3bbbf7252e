"""Sub-commands of the ``tracer`` CLI, one module each."""
