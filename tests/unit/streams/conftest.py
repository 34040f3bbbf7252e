"""kafka-python warns (DeprecationWarning from importlib.resources) when first imported, and the
suite turns warnings into errors; import it once here with that one warning silenced."""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka.admin  # noqa: F401
