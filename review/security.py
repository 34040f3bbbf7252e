"""Passwords, sessions, CSRF tokens and the login limit (issue 15.4).

- Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile).
- A session is a signed cookie: ``base64url(json) + "." + HMAC-SHA256``, carrying the username,
  a random session id and an expiry; nothing secret is in it, and a changed byte breaks the
  signature. Checking the user's record on every request (disabled, role) stays the app's job.
- A CSRF token is the HMAC of the session id: forms carry it, the API sends it as a header. The
  login form, before any session, uses a double-submit cookie.
- :class:`LoginLimiter` counts failed logins per username and per address in a sliding window,
  in a bounded table (least recently used keys go first).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "LoginLimiter",
    "Session",
    "SessionCodec",
    "hash_password",
    "verify_password",
]

_HASHER = PasswordHasher()  # argon2id by default


@functools.cache
def _dummy_hash() -> str:
    # Verified against when a username is unknown, so a miss costs as long as a wrong
    # password. Made on first use: hashing costs a CLI's start-up a second on a busy machine.
    return _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password`` (``$argon2id$v=19$...``)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; ``None`` (no such user) never matches."""
    try:
        _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user's session: who, which session, until when (epoch seconds)."""

    username: str
    sid: str
    expires: float


class SessionCodec:
    """Signs and reads session cookies and derives their CSRF tokens.

    Args:
        secret: the signing key (at least 32 bytes; one per deployment, shared by replicas).
        lifetime_s: how long a session lasts after login.
        clock: epoch seconds (tests move it).
    """

    def __init__(
        self, secret: bytes, *, lifetime_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 bytes")
        self._secret = secret
        self._lifetime = lifetime_s
        self._clock = clock

    def issue(self, username: str) -> tuple[Session, str]:
        """Start a session for ``username``; return it and its cookie value."""
        session = Session(username, secrets.token_urlsafe(16), self._clock() + self._lifetime)
        body = orjson.dumps({"u": session.username, "s": session.sid, "e": session.expires})
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return session, f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None) -> Session | None:
        """Return the session of a cookie, or ``None`` when absent, forged, broken or expired."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 4096:
            return None
        payload, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(str(data["u"]), str(data["s"]), float(data["e"]))
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return session if session.expires > self._clock() else None

    def csrf_token(self, sid: str) -> str:
        """The CSRF token of a session (or of a login form's random id)."""
        return self._sign(f"csrf|{sid}")

    def csrf_ok(self, sid: str, token: str | None) -> bool:
        """Whether ``token`` is the CSRF token of ``sid`` (constant time)."""
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(sid))

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()


class LoginLimiter:
    """Failed logins per key (``user:NAME``, ``addr:IP``) in a sliding window, bounded.

    Args:
        per_user: failures of one username allowed within ``window_s``.
        per_address: failures from one address allowed within ``window_s``.
        window_s: the window.
        max_keys: keys kept at most; the least recently failed go first.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window_s: float = 900.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": per_user, "addr": per_address}
        self._window = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, username: str, address: str) -> str | None:
        """Return ``"user"`` or ``"address"`` when that limit is reached, else ``None``."""
        for kind, key in (("user", f"user:{username}"), ("addr", f"addr:{address}")):
            if self._count(key) >= self._limits[kind]:
                return "user" if kind == "user" else "address"
        return None

    def failed(self, username: str, address: str) -> None:
        """Count one failed login of ``username`` from ``address``."""
        now = self._clock()
        for key in (f"user:{username}", f"addr:{address}"):
            times = self._failures.pop(key, None) or deque(maxlen=max(self._limits.values()))
            times.append(now)
            self._failures[key] = times
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        """Forget a username's failures after a good login (the address keeps its count)."""
        self._failures.pop(f"user:{username}", None)

    def _count(self, key: str) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        horizon = self._clock() - self._window
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)
