"""The review service's actions, each checked against the role matrix and audited.

Pages and the JSON API (``pages.py``, ``api.py``) are thin: they parse a request, call one
method here and render what it returns or the error it raises. Every method records one audit
entry before it returns or raises (no record, no data: an audit write that fails is a 503).

Errors (``ReviewError`` carries the HTTP status and a reason safe to show)::

    ReviewError
    ├── Refused        403: role may not, or the lead is not in one's districts / does not
    │                  exist (one answer for both)
    ├── LoginFailed    401 (wrong name or password, disabled) / 429 (rate limited)
    └── Invalid        400 / 409: bad input, or the workflow does not allow it now
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from connectors.errors import ReviewConflict
from elasticsearch import AsyncElasticsearch
from matchers.errors import TracerError

from review.audit import AuditTrail, Outcome, audit_entry, audit_query
from review.elastic import es_call
from review.leads import LeadFilters, LeadHit, LeadReader
from review.roles import Action, allowed
from review.security import LoginLimiter, SessionCodec, verify_password
from review.users import User, UserStore
from review.workflow import TransitionRefused, check_note, transition

__all__ = [
    "NOT_YOURS",
    "Invalid",
    "LoginFailed",
    "Refused",
    "ReviewConfig",
    "ReviewError",
    "ReviewService",
]

#: The one answer for a lead outside one's districts and a lead that does not exist.
NOT_YOURS: Final = "无权访问：您的辖区内没有这条线索 / Not allowed: no such lead in your districts"
_AUDIT_FILTERS: Final = ("actor", "action", "lead_id", "since", "until")
_NOT_ROLE: Final = "无权执行此操作 / Your role may not do this"


class ReviewError(TracerError):
    """An action that did not happen, with its HTTP status and a reason safe to show."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Refused(ReviewError):
    """403: not this role's, or not this user's districts."""


class LoginFailed(ReviewError):
    """401 / 429: the login did not succeed."""


class Invalid(ReviewError):
    """400 / 409: bad input, a status the action does not apply to, or someone decided first."""


@dataclass(frozen=True, slots=True)
class ReviewConfig:
    """Names and bounds of one deployment (from ``tracer.settings``)."""

    leads_alias: str = "leads"
    users_index: str = "review-users"
    audit_index: str = "audit"
    events_alias: str = "events"
    audit_topic: str | None = "audit"
    session_seconds: float = 1800.0
    secure_cookie: bool = False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ReviewService:
    """Users, leads and the audit trail behind the pages and the API.

    Args:
        client: the async Elasticsearch client.
        config: names and bounds.
        codec: signs sessions and CSRF tokens.
        trail: where audit records go.
        limiter: the login limit (a fresh one by default).
        clock: the wall clock (tests move it).
    """

    def __init__(
        self,
        client: AsyncElasticsearch,
        config: ReviewConfig,
        codec: SessionCodec,
        trail: AuditTrail,
        *,
        limiter: LoginLimiter | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.client = client
        self.config = config
        self.codec = codec
        self.trail = trail
        self.users = UserStore(client, config.users_index)
        self.reader = LeadReader(client, config.leads_alias, config.events_alias)
        self.limiter = limiter or LoginLimiter()
        self.clock = clock

    async def audit(
        self,
        user: User | None,
        action: str,
        outcome: Outcome,
        address: str,
        *,
        actor: str | None = None,
        lead_id: str | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record one audit entry (raises when Elasticsearch does not take it)."""
        entry = audit_entry(
            actor=user.username if user else (actor or "-"),
            role=user.role if user else "-",
            action=action,
            outcome=outcome,
            address=address,
            now=self.clock(),
            lead_id=lead_id,
            reason=reason,
            details=details,
        )
        await self.trail.record(entry)

    async def login(self, username: str, password: str, address: str) -> tuple[User, str]:
        """Check a login; return the user and their session cookie.

        Raises:
            LoginFailed: 429 when rate limited (checked before the password), else 401.
        """
        username = username.strip().lower()[:64]
        which = self.limiter.blocked(username, address)
        if which is not None:
            await self.audit(None, "login", "limited", address, actor=username, reason=which)
            raise LoginFailed("登录尝试过多，请稍后再试 / Too many attempts; try again later", 429)
        found = await self.users.get(username)
        user, hashed = found if found else (None, None)
        if not verify_password(hashed, password) or user is None or user.disabled:
            self.limiter.failed(username, address)
            why = "disabled" if user is not None and user.disabled else "bad_credentials"
            await self.audit(None, "login", "failed", address, actor=username, reason=why)
            raise LoginFailed("用户名或密码错误 / Wrong username or password", 401)
        self.limiter.succeeded(username)
        _, cookie = self.codec.issue(user.username)
        await self.audit(user, "login", "allowed", address)
        return user, cookie

    async def authenticate(self, cookie: str | None) -> tuple[User, str] | None:
        """The user of a session cookie and the session's CSRF token, if valid and enabled."""
        session = self.codec.read(cookie)
        if session is None:
            return None
        found = await self.users.get(session.username)
        if found is None or found[0].disabled:
            return None
        return found[0], self.codec.csrf_token(session.sid)

    async def require(
        self, user: User, action: Action, address: str, *, lead_id: str | None = None
    ) -> None:
        """Refuse (403, audited) when ``user``'s role may not do ``action``."""
        if not allowed(user.role, action):
            await self.audit(user, action, "refused", address, lead_id=lead_id, reason="role")
            raise Refused(_NOT_ROLE, 403)

    async def search(
        self, user: User, filters: LeadFilters, address: str
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of the user's districts' leads."""
        await self.require(user, "search", address)
        await self.audit(user, "search", "allowed", address, details=filters.as_details())
        return await self.reader.search(user.districts, filters)

    async def queue(self, user: User, address: str) -> list[dict[str, Any]]:
        """The leads assigned to the user."""
        await self.require(user, "queue", address)
        await self.audit(user, "queue", "allowed", address)
        return await self.reader.queue(user.districts, user.username)

    async def audit_search(
        self, user: User, params: dict[str, str], address: str, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Audit records by actor, action, lead and time range, newest first (itself audited)."""
        await self.require(user, "audit_read", address)
        wanted = {k: params[k].strip()[:128] for k in _AUDIT_FILTERS if params.get(k, "").strip()}
        await self.audit(user, "audit_read", "allowed", address, details=wanted)
        query = audit_query(**wanted)
        found = await es_call(
            lambda: self.client.search(
                index=self.config.audit_index,
                query=query,
                sort=[{"@timestamp": "desc"}],
                size=min(limit, 1000),
                ignore_unavailable=True,
            )
        )
        return [hit["_source"] for hit in found["hits"]["hits"]]

    async def list_users(self, user: User, address: str) -> list[User]:
        """Every user (administrators)."""
        await self.require(user, "users_manage", address)
        await self.audit(user, "users_manage", "allowed", address, details={"what": "list"})
        return await self.users.list_users()

    async def _lead(self, user: User, action: Action, lead_id: str, address: str) -> LeadHit:
        await self.require(user, action, address, lead_id=lead_id)
        hit = await self.reader.get(user.districts, lead_id)
        if hit is None:
            await self.audit(user, action, "refused", address, lead_id=lead_id, reason="scope")
            raise Refused(NOT_YOURS, 403)
        return hit

    async def view(
        self, user: User, lead_id: str, address: str
    ) -> tuple[LeadHit, list[dict[str, Any]]]:
        """A lead and the person's other leads (timeline), in the user's districts."""
        hit = await self._lead(user, "view", lead_id, address)
        await self.audit(user, "view", "allowed", address, lead_id=lead_id)
        timeline = await self.reader.person_leads(user.districts, str(hit.lead["person_id"]))
        return hit, timeline

    async def reveal(self, user: User, lead_id: str, address: str) -> dict[str, str]:
        """The full numbers of a lead's event (audited; the numbers never enter the record)."""
        hit = await self._lead(user, "reveal", lead_id, address)
        numbers = await self.reader.event_numbers(hit.lead)
        outcome: Outcome = "allowed" if numbers else "failed"
        shown = {"fields": sorted(numbers)} if numbers else {"fields": []}
        reason = None if numbers else "event_not_archived"
        await self.audit(
            user, "reveal", outcome, address, lead_id=lead_id, reason=reason, details=shown
        )
        return numbers

    async def change(
        self,
        user: User,
        action: Action,
        lead_id: str,
        address: str,
        *,
        verdict: str | None = None,
        note: str | None = None,
        assignee: str | None = None,
        seen: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """Claim, decide, reopen or reassign a lead; return its new review state.

        ``seen`` is the (sequence number, primary term) the user's page was rendered with: a
        change made since then by anyone makes this one a conflict, so nobody decides blind.

        Raises:
            Refused: role or districts.
            Invalid: 400 (bad verdict, note, assignee) or 409 (status, or someone was first).
        """
        if action not in ("claim", "decide", "reopen", "reassign"):
            raise Invalid("unknown action", 400)
        hit = await self._lead(user, action, lead_id, address)
        details: dict[str, Any] = {"verdict": verdict, "assignee": assignee}
        try:
            new_status, review = await self._next(
                user, action, hit, verdict=verdict, note=note, assignee=assignee, seen=seen
            )
            await self._write_review(hit, {"status": new_status, "review": review})
        except TransitionRefused as exc:
            outcome: Outcome = "conflict" if exc.status == 409 else "invalid"
            await self.audit(
                user, action, outcome, address, lead_id=lead_id, reason=exc.reason, details=details
            )
            raise Invalid(exc.reason, exc.status) from exc
        except ReviewConflict as exc:
            why = "someone_else_first"
            await self.audit(
                user, action, "conflict", address, lead_id=lead_id, reason=why, details=details
            )
            raise Invalid(
                "别人已先处理了这条线索，您的操作未保存；请重新打开查看 / Someone else changed "
                "this lead first; nothing of yours was saved: open it again",
                409,
            ) from exc
        details["status"] = new_status
        await self.audit(user, action, "allowed", address, lead_id=lead_id, details=details)
        return {"status": new_status, "review": review}

    async def _write_review(self, hit: LeadHit, changes: dict[str, Any]) -> None:
        """The store's conditional review write, then a refresh of the lead's district.

        Refreshed at once so the officer's queue and search show the decision on the next
        page (one small district index; a decision is a rare write).
        """
        await self.reader.store.set_review(
            str(hit.lead["lead_id"]),
            hit.lead.get("district"),
            changes,
            if_seq_no=hit.seq_no,
            if_primary_term=hit.primary_term,
        )
        await es_call(lambda: self.client.indices.refresh(index=hit.index))

    async def _next(
        self,
        user: User,
        action: Action,
        hit: LeadHit,
        *,
        verdict: str | None,
        note: str | None,
        assignee: str | None,
        seen: tuple[int, int] | None,
    ) -> tuple[str, dict[str, Any]]:
        if seen is not None and seen != (hit.seq_no, hit.primary_term):
            raise ReviewConflict(str(hit.lead["lead_id"]))  # changed since the page was shown
        current = str(hit.lead.get("status", "new"))
        new_status = transition(action, current, verdict)  # type: ignore[arg-type]
        now = self.clock().isoformat()
        review: dict[str, Any] = {"updated_by": user.username, "updated_at": now}
        if action == "claim":
            review["assignee"] = user.username
        elif action == "decide":
            review |= {
                "note": check_note(note, required=True),
                "decided_by": user.username,
                "decided_at": now,
            }
        elif action == "reopen":
            review |= {
                "note": check_note(note, required=True),
                "decided_by": None,
                "decided_at": None,
            }
        else:
            review["assignee"] = await self._assignee(user, assignee, hit)
        return new_status, review

    async def _assignee(self, user: User, assignee: str | None, hit: LeadHit) -> str:
        found = await self.users.get((assignee or "").strip().lower())
        district = str(hit.lead.get("district") or "")
        if found is None or found[0].disabled or found[0].role not in ("officer", "supervisor"):
            raise TransitionRefused("no such officer", status=400)
        if district not in found[0].districts:
            raise TransitionRefused("that officer does not work this lead's district", status=400)
        return found[0].username
