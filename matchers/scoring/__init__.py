"""A pair judged: levels built once, weighed, gated, scored, put in words.

compare builds a pair's levels in cost order; model, modelfile and frequencies weigh them;
gate states the lead gate and the id anchor once; score is the one scoring rule; explain
puts a lead's levels in words.

Run compiled when built, as the package is (:mod:`matchers.native`).
"""

from matchers.native import prefer_compiled as _prefer_compiled

__path__ = _prefer_compiled(__path__, package="scoring")
