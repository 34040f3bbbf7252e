"""The watchlist: the Matcher, its store, blocking and the stored records.

matcher is the facade batch and stream share; store holds the values its people share;
blocking and postings find an event's candidates; stored keeps a person as a slim record.

Run compiled when built, as the package is (:mod:`matchers.native`).
"""

from matchers.native import prefer_compiled as _prefer_compiled

__path__ = _prefer_compiled(__path__, package="watchlist")
