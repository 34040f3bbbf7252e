"""Passwords, sessions, CSRF tokens and the login limiter, without services."""

from __future__ import annotations

import pytest

from review.security import LoginLimiter, SessionCodec, hash_password, verify_password

SECRET = b"k" * 32


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_argon2id_hash_verifies_only_its_password() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batterY")
    assert not verify_password(None, "anything")  # unknown user
    assert not verify_password("not-a-hash", "anything")


def test_a_session_reads_back_until_it_expires() -> None:
    clock = Clock()
    codec = SessionCodec(SECRET, lifetime_s=60, clock=clock)
    session, cookie = codec.issue("wang")
    assert codec.read(cookie) == session
    clock.now += 59
    assert codec.read(cookie) is not None
    clock.now += 2
    assert codec.read(cookie) is None


@pytest.mark.parametrize(
    ("description", "mutate"),
    [
        ("another signature", lambda c: c[:-1] + ("0" if c[-1] != "0" else "1")),
        ("another payload", lambda c: "x" + c),
        ("no dot", lambda c: c.replace(".", "")),
        ("two dots", lambda c: c + ".x"),
        ("empty", lambda c: ""),
        ("huge", lambda c: c + "a" * 5000),
    ],
)
def test_a_changed_cookie_is_no_session(description: str, mutate: object) -> None:
    codec = SessionCodec(SECRET, lifetime_s=60)
    _, cookie = codec.issue("wang")
    assert callable(mutate)
    assert codec.read(mutate(cookie)) is None, description


def test_another_key_reads_no_session_and_short_keys_are_refused() -> None:
    _, cookie = SessionCodec(SECRET, lifetime_s=60).issue("wang")
    assert SessionCodec(b"j" * 32, lifetime_s=60).read(cookie) is None
    with pytest.raises(ValueError, match="32 bytes"):
        SessionCodec(b"short", lifetime_s=60)


def test_csrf_token_is_bound_to_the_session() -> None:
    codec = SessionCodec(SECRET, lifetime_s=60)
    a, _ = codec.issue("wang")
    b, _ = codec.issue("wang")
    assert codec.csrf_ok(a.sid, codec.csrf_token(a.sid))
    assert not codec.csrf_ok(a.sid, codec.csrf_token(b.sid))
    assert not codec.csrf_ok(a.sid, None)
    assert not codec.csrf_ok(a.sid, "")


def test_limiter_blocks_a_user_then_an_address_and_forgets_after_the_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_user=3, per_address=5, window_s=100, clock=clock)
    for _ in range(3):
        assert limiter.blocked("wang", "10.0.0.1") is None
        limiter.failed("wang", "10.0.0.1")
    assert limiter.blocked("wang", "10.0.0.9") == "user"
    assert limiter.blocked("li", "10.0.0.9") is None
    limiter.failed("li", "10.0.0.1")
    limiter.failed("zhao", "10.0.0.1")
    assert limiter.blocked("zhou", "10.0.0.1") == "address"
    clock.now += 101
    assert limiter.blocked("wang", "10.0.0.1") is None


def test_limiter_success_clears_the_user_and_the_table_stays_bounded() -> None:
    limiter = LoginLimiter(per_user=2, per_address=1000, max_keys=10)
    limiter.failed("wang", "a")
    limiter.failed("wang", "a")
    assert limiter.blocked("wang", "b") == "user"
    limiter.succeeded("wang")
    assert limiter.blocked("wang", "b") is None
    for i in range(100):
        limiter.failed(f"user{i}", f"addr{i}")
    assert len(limiter._failures) <= 10
