"""Each field of an identity, normalised, compared to a level and put in words.

Names, ids, dates, phones, addresses and cards (one module each, with its cache), the text
sanitiser and masking they share, and the compact forms a watchlist keeps (compact).

Run compiled when built, as the package is (:mod:`matchers.native`).
"""

from matchers.native import prefer_compiled as _prefer_compiled

__path__ = _prefer_compiled(__path__, package="fields")
