"""Pure normalisation, blocking and scoring of identities: no I/O, no services.

The modules may run compiled (``make compile``, see :mod:`matchers.native`): the build is used
only while it matches these sources, so results never depend on which one runs.
"""

from matchers.native import prefer_compiled as _prefer_compiled

__path__ = _prefer_compiled(__path__)
