"""Webhook delivery: signed, retried, dead-lettered, recovered once; no receiver blocks another."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from alerts.delivery import Dispatcher
from alerts.errors import AlertError
from alerts.notifications import build_notification
from alerts.recorder import InMemoryAlertLog
from alerts.secretbox import SecretBox, new_key, new_webhook_secret
from alerts.subscriptions import Subscription
from alerts.webhooks import WebhookRefused, classify_status, signed_headers
from connectors.errors import ServiceUnavailable
from connectors.retry import Retrier, RetryPolicy
from tests.unit.alerts.helpers import lead, subscription

BOX = SecretBox(new_key())
SECRET = new_webhook_secret()


class Receiver:
    """Verifies every signature; can be down, refuse or hang per URL."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.down: set[str] = set()
        self.hang: set[str] = set()
        self.refuse: set[str] = set()
        self.bad_signatures = 0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        if url in self.hang:
            await asyncio.sleep(3600)
        if url in self.down:
            raise ServiceUnavailable("webhook: HTTP 503")
        if url in self.refuse:
            raise WebhookRefused(410)
        try:
            payload = Webhook(SECRET).verify(body, dict(headers))
        except Exception:
            self.bad_signatures += 1
            raise
        assert headers["webhook-id"]
        self.received.setdefault(url, []).append(payload)

    async def close(self) -> None:
        return None


def _sub(sid: str, **fields: Any) -> Subscription:
    return subscription(sid, **fields).changed(
        now="t", webhook_url=f"https://{sid}.example.org/hook", webhook_secret=BOX.seal(SECRET)
    )


def _note(sub: Subscription, lead_id: str, created_at: str | None = None) -> dict[str, Any]:
    at = created_at or datetime.now(UTC).isoformat()
    return build_notification(sub, lead(lead_id), review_url="http://r", created_at=at) | {
        "delivery_state": "pending"
    }


def _dispatcher(
    receiver: Receiver, subs: dict[str, Subscription], log: InMemoryAlertLog, **kw: Any
) -> tuple[Dispatcher, list[tuple[str, str]], list[tuple[str, str | None]]]:
    dead: list[tuple[str, str]] = []
    marks: list[tuple[str, str | None]] = []

    async def dead_letter(n: Mapping[str, Any], reason: str, _detail: str) -> None:
        dead.append((str(n["lead_id"]), reason))

    async def mark(sub_id: str, reason: str | None) -> None:
        marks.append((sub_id, reason))

    async def no_sleep(_s: float) -> None:
        await asyncio.sleep(0)

    dispatcher = Dispatcher(
        receiver,
        subscription=subs.get,
        open_secret=BOX.open,
        delivery_log=log,
        mark_failing=mark,
        dead_letter=dead_letter,
        **({"retrier": Retrier(RetryPolicy(base_s=0.001, cap_s=0.001), sleep=no_sleep)} | kw),
    )
    return dispatcher, dead, marks


async def _settle(log: InMemoryAlertLog, ids: list[str], timeout: float = 2.0) -> None:
    async def done() -> None:
        while any(log.docs[i].get("delivery_state") == "pending" for i in ids):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(done(), timeout)


async def test_deliveries_are_signed_and_marked_delivered() -> None:
    sub, receiver, log = _sub("a"), Receiver(), InMemoryAlertLog()
    dispatcher, dead, _ = _dispatcher(receiver, {"a": sub}, log)
    notes = [_note(sub, "l1"), _note(sub, "l2")]
    await log.create(notes)
    dispatcher.submit(notes)
    await _settle(log, [n["notification_id"] for n in notes])
    got = receiver.received[str(sub.webhook_url)]
    assert [p["data"]["lead_id"] for p in got] == ["l1", "l2"]
    assert receiver.bad_signatures == 0 and not dead
    await dispatcher.close()


async def test_a_hanging_receiver_does_not_hold_up_another_subscription() -> None:
    slow, fast = _sub("slow"), _sub("fast")
    receiver, log = Receiver(), InMemoryAlertLog()
    receiver.hang.add(str(slow.webhook_url))
    dispatcher, _, _ = _dispatcher(receiver, {"slow": slow, "fast": fast}, log)
    notes = [_note(slow, "l1"), _note(fast, "l1")]
    await log.create(notes)
    dispatcher.submit(notes)
    await _settle(log, [notes[1]["notification_id"]])
    assert str(fast.webhook_url) in receiver.received
    await dispatcher.close()


async def test_a_failing_receiver_is_dead_lettered_then_recovers_what_it_missed_once() -> None:
    sub, receiver, log = _sub("a"), Receiver(), InMemoryAlertLog()
    url = str(sub.webhook_url)
    receiver.down.add(url)
    subs = {"a": sub}
    dispatcher, dead, marks = _dispatcher(receiver, subs, log, deadline_s=0.05)
    first = _note(sub, "l1", "2026-01-01T00:00:00+00:00")
    await log.create([first])
    dispatcher.submit([first])
    await _settle(log, [first["notification_id"]])
    assert log.docs[first["notification_id"]]["delivery_state"] == "failed"
    assert dead == [("l1", "webhook_failed")]
    assert marks[0][0] == "a" and "webhook_failed" in str(marks[0][1])
    # While failing, new notifications wait in the index; a sweep retries once, still down.
    second = _note(sub, "l2", "2026-01-01T00:00:01+00:00")
    await log.create([second])
    dispatcher.submit([second])
    assert await dispatcher.sweep() == 0
    assert dead == [("l1", "webhook_failed")]  # not dead-lettered again per sweep
    receiver.down.clear()
    assert await dispatcher.sweep() == 2
    assert await dispatcher.sweep() == 0
    assert [p["data"]["lead_id"] for p in receiver.received[url]] == ["l1", "l2"]
    assert marks[-1] == ("a", None)
    await dispatcher.close()


async def test_a_refusing_receiver_is_not_retried() -> None:
    sub, receiver, log = _sub("a"), Receiver(), InMemoryAlertLog()
    receiver.refuse.add(str(sub.webhook_url))
    dispatcher, dead, _ = _dispatcher(receiver, {"a": sub}, log)
    note = _note(sub, "l1")
    await log.create([note])
    dispatcher.submit([note])
    await _settle(log, [note["notification_id"]])
    assert dead == [("l1", "webhook_refused")]
    await dispatcher.close()


class _DownOnce(Receiver):
    """Answers 503 to the first request of each URL, then takes deliveries."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: set[str] = set()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        if url not in self.failed:
            self.failed.add(url)
            raise ServiceUnavailable("webhook: HTTP 503")
        await super().post(url, body, headers)


@pytest.mark.parametrize("flaky", [False, True])
async def test_one_attempt_without_a_pause_and_a_failed_one_retried_after_one(flaky: bool) -> None:
    sub, log = _sub("a"), InMemoryAlertLog()
    receiver = _DownOnce() if flaky else Receiver()
    pauses: list[float] = []

    async def recorded(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    retrier = Retrier(RetryPolicy(base_s=0.25, cap_s=0.25), sleep=recorded)
    dispatcher, dead, _ = _dispatcher(receiver, {"a": sub}, log, retrier=retrier)
    notes = [_note(sub, "l1"), _note(sub, "l2")]
    await log.create(notes)
    dispatcher.submit(notes)
    await _settle(log, [n["notification_id"] for n in notes])
    got = receiver.received[str(sub.webhook_url)]
    assert [p["data"]["lead_id"] for p in got] == ["l1", "l2"]  # each once, in order
    assert not dead
    assert len(pauses) == (1 if flaky else 0)  # the retry paces as the retrier's policy
    assert all(0 <= pause <= 0.25 for pause in pauses)
    await dispatcher.close()


async def test_a_digest_sends_what_arrived_together_in_one_signed_delivery() -> None:
    sub = _sub("d", delivery="digest", digest_minutes=1, webhook_url="https://x.example.org/")
    receiver, log = Receiver(), InMemoryAlertLog()
    dispatcher, _, _ = _dispatcher(receiver, {"d": sub}, log, minute_s=0.2)
    notes = [_note(sub, f"l{i}") for i in range(3)]
    await log.create(notes)
    dispatcher.submit(notes[:1])
    await asyncio.sleep(0.05)
    assert not receiver.received  # the digest waits its period
    dispatcher.submit(notes[1:])
    await _settle(log, [n["notification_id"] for n in notes])
    (delivery,) = receiver.received[str(sub.webhook_url)]
    assert delivery["type"] == "lead.alert.digest"
    assert [n["lead_id"] for n in delivery["data"]["notifications"]] == ["l0", "l1", "l2"]
    await dispatcher.close()


async def test_a_rate_limit_spaces_deliveries() -> None:
    sub = _sub("r", rate_limit_per_minute=10)
    receiver, log = Receiver(), InMemoryAlertLog()
    dispatcher, _, _ = _dispatcher(receiver, {"r": sub}, log, minute_s=1.0)
    notes = [_note(sub, f"l{i}") for i in range(3)]
    await log.create(notes)
    started = asyncio.get_running_loop().time()
    dispatcher.submit(notes)
    await _settle(log, [n["notification_id"] for n in notes])
    # 10 a "minute" of 1 s: the third goes out no sooner than 0.2 s after the first.
    assert asyncio.get_running_loop().time() - started >= 0.19
    await dispatcher.close()


def test_the_signature_is_standard_webhooks() -> None:
    body = orjson.dumps({"type": "lead.alert"})
    at = datetime.now(UTC)
    headers = signed_headers(SECRET, "msg_1", body, at)
    assert Webhook(SECRET).verify(body, headers) == {"type": "lead.alert"}
    with pytest.raises(Exception, match="signature"):
        Webhook(new_webhook_secret()).verify(body, headers)


def test_a_secret_sealed_with_another_key_does_not_open() -> None:
    sealed = BOX.seal(SECRET)
    assert SECRET not in sealed
    assert BOX.open(sealed) == SECRET
    with pytest.raises(AlertError, match="cannot be opened"):
        SecretBox(new_key()).open(sealed)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (301, "refused"),
        (404, "refused"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_statuses(status: int, outcome: str) -> None:
    assert classify_status(status) == outcome


class Clock:
    """One fake time for every worker: wall clock and monotonic move together."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def mono(self) -> float:
        return self.t


class Gate(Receiver):
    """A receiver that holds each delivery until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        self.entered.set()
        await self.release.wait()
        await super().post(url, body, headers)


class SlowReads(InMemoryAlertLog):
    """The twin, yielding after each read: two sweeps both read before either claims."""

    async def undelivered(self, **kw: Any) -> Any:  # type: ignore[override]
        found = await super().undelivered(**kw)
        await asyncio.sleep(0.01)
        return found


def _worker(
    name: str, receiver: Receiver, subs: dict[str, Subscription], log: Any, clock: Clock, **kw: Any
) -> Dispatcher:
    dispatcher, _, _ = _dispatcher(
        receiver, subs, log, owner=name, lease_s=60.0, clock=clock.now, monotonic=clock.mono, **kw
    )
    return dispatcher


async def _created_by(dispatcher: Dispatcher, log: InMemoryAlertLog, note: dict[str, Any]) -> None:
    # As AlertService.on_written does: created claimed by the creator, then queued there.
    note.update(dispatcher.claim_fields())
    await log.create([note])
    dispatcher.submit([note])


async def test_another_sweep_leaves_what_the_creator_is_still_sending() -> None:
    sub, receiver, log, clock = _sub("bank"), Gate(), InMemoryAlertLog(), Clock()
    w1 = _worker("w1", receiver, {"bank": sub}, log, clock)
    w2 = _worker("w2", receiver, {"bank": sub}, log, clock)
    # Created long ago by the clock the old sweep went by: only the claim protects it now.
    note = _note(sub, "l1", "2026-01-01T00:00:00+00:00")
    await _created_by(w1, log, note)
    await asyncio.wait_for(receiver.entered.wait(), 2.0)  # w1 is sending it
    clock.t += 20.0  # a third of the lease: younger than it
    # (A sweep that took it would hang at the gate: bounded, it fails instead.)
    assert await asyncio.wait_for(w2.sweep(), 1.0) == 0
    assert await asyncio.wait_for(w1.sweep(), 1.0) == 0  # its own leaves what its queue holds
    receiver.release.set()
    await _settle(log, [note["notification_id"]])
    assert [p["data"]["lead_id"] for p in receiver.received[str(sub.webhook_url)]] == ["l1"]
    assert log.docs[note["notification_id"]]["delivery_state"] == "delivered"
    await w1.close()
    await w2.close()


async def test_a_queued_notification_taken_over_past_the_lease_is_not_sent_again() -> None:
    sub = _sub("d", delivery="digest", digest_minutes=1, webhook_url="https://d.example.org/")
    receiver, log, clock = Receiver(), InMemoryAlertLog(), Clock()
    w1 = _worker("w1", receiver, {"d": sub}, log, clock, minute_s=0.3)
    w2 = _worker("w2", receiver, {"d": sub}, log, clock)
    note = _note(sub, "l1")
    await _created_by(w1, log, note)  # w1's digest waits its period with it
    await asyncio.sleep(0.05)
    clock.t += 61.0  # past the lease: w1 counts as gone
    assert await w2.sweep() == 1
    assert log.docs[note["notification_id"]]["delivery_claimed_by"] == "w2"
    await asyncio.sleep(0.4)  # w1's digest period ends: its renewal finds the claim lost
    assert len(receiver.received[str(sub.webhook_url)]) == 1
    assert w1.lost_claims == 1 and w1.delivered == 0
    await w1.close()
    await w2.close()


async def test_the_creator_renews_a_claim_past_half_the_lease_and_sends_once() -> None:
    sub = _sub("d", delivery="digest", digest_minutes=1, webhook_url="https://d.example.org/")
    receiver, log, clock = Receiver(), InMemoryAlertLog(), Clock()
    w1 = _worker("w1", receiver, {"d": sub}, log, clock, minute_s=0.3)
    w2 = _worker("w2", receiver, {"d": sub}, log, clock)
    note = _note(sub, "l1")
    await _created_by(w1, log, note)
    log.docs[note["notification_id"]]["published"] = True  # the outbox wrote since (stamp moved)
    log._bump(note["notification_id"])
    await asyncio.sleep(0.05)
    clock.t += 40.0  # past half the lease, within it
    await _settle(log, [note["notification_id"]])
    stored = log.docs[note["notification_id"]]
    assert stored["delivery_claimed_by"] == "w1"
    assert stored["delivery_claimed_at"] == clock.now().isoformat()  # renewed before sending
    clock.t += 40.0  # the renewed claim is younger than the lease; delivered anyway
    assert await w2.sweep() == 0
    assert len(receiver.received[str(sub.webhook_url)]) == 1
    await w1.close()
    await w2.close()


async def test_two_sweeps_meeting_one_orphan_deliver_it_once() -> None:
    sub, receiver, log, clock = _sub("bank"), Receiver(), SlowReads(), Clock()
    w1 = _worker("w1", receiver, {"bank": sub}, log, clock)
    w2 = _worker("w2", receiver, {"bank": sub}, log, clock)
    dead = _worker("w0", receiver, {"bank": sub}, log, clock)
    orphans = [_note(sub, f"l{i}") | dead.claim_fields() for i in range(5)]
    await log.create(orphans)  # w0 created them and died before delivering
    clock.t += 61.0
    counts = await asyncio.gather(w1.sweep(), w2.sweep())
    assert sum(counts) == 5
    got = [p["data"]["lead_id"] for p in receiver.received[str(sub.webhook_url)]]
    assert sorted(got) == [f"l{i}" for i in range(5)]
    assert w1.lost_claims + w2.lost_claims == 5  # each lost the other's: read, then claimed
    assert await w1.sweep() == 0 and await w2.sweep() == 0
    for w in (w1, w2, dead):
        await w.close()


async def test_a_sweep_delivers_to_a_fast_receiver_while_another_hangs() -> None:
    slow, fast = _sub("slow"), _sub("fast")
    receiver, log = Receiver(), InMemoryAlertLog()
    receiver.hang.add(str(slow.webhook_url))
    dispatcher, _, _ = _dispatcher(receiver, {"slow": slow, "fast": fast}, log)
    # Left pending by a worker that died: the sweep meets the hanging receiver's first.
    notes = [_note(slow, "l1"), _note(slow, "l2"), _note(fast, "l1"), _note(fast, "l2")]
    await log.create(notes)
    sweep = asyncio.ensure_future(dispatcher.sweep())
    await _settle(log, [n["notification_id"] for n in notes[2:]], timeout=1.0)
    got = [p["data"]["lead_id"] for p in receiver.received[str(fast.webhook_url)]]
    assert got == ["l1", "l2"]  # in order, while the other receiver still hangs
    assert not sweep.done()
    sweep.cancel()
    await dispatcher.close()


class Hangs:
    """A poster that ignores every timeout, and counts the requests in flight."""

    def __init__(self, *, hang: bool) -> None:
        self.hang = hang
        self.in_flight = 0
        self.peak = 0
        self.done = 0
        self.release = asyncio.Event()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await (asyncio.sleep(3600) if self.hang else self.release.wait())
            self.done += 1
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        return None


async def test_an_attempt_is_cut_at_its_timeout_even_if_the_poster_ignores_it() -> None:
    sub, log = _sub("a"), InMemoryAlertLog()
    dispatcher, dead, marks = _dispatcher(
        Hangs(hang=True),  # type: ignore[arg-type]
        {"a": sub},
        log,
        attempt_timeout_s=0.05,
        deadline_s=0.2,
    )
    note = _note(sub, "l1")
    await log.create([note])
    dispatcher.submit([note])
    await _settle(log, [note["notification_id"]])
    assert log.docs[note["notification_id"]]["delivery_state"] == "failed"
    assert dead == [("l1", "webhook_failed")] and marks[0][0] == "a"
    await dispatcher.close()


async def test_requests_in_flight_are_bounded_over_all_subscriptions() -> None:
    poster, log = Hangs(hang=False), InMemoryAlertLog()
    subs = {f"s{i}": _sub(f"s{i}") for i in range(10)}
    dispatcher, _, _ = _dispatcher(poster, subs, log, max_in_flight=3)  # type: ignore[arg-type]
    notes = [_note(sub, "l1") for sub in subs.values()]
    await log.create(notes)
    dispatcher.submit(notes)
    await asyncio.sleep(0.05)
    assert poster.in_flight == 3  # ten subscriptions, three requests: the rest wait for a slot
    poster.release.set()
    await _settle(log, [n["notification_id"] for n in notes])
    assert poster.done == 10 and poster.peak == 3
    await dispatcher.close()
