"""The model learnt: EM over blocked pairs, and officers' verdicts.

estimate and pairs fit the model without labels; supervised re-estimates it from confirmed
and rejected leads.

Run compiled when built, as the package is (:mod:`matchers.native`).
"""

from matchers.native import prefer_compiled as _prefer_compiled

__path__ = _prefer_compiled(__path__, package="training")
