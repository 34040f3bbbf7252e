"""The officers' review service (issue 15): search, read, reveal and decide leads, audited.

Modules, in the order a request meets them:

| module | what |
|---|---|
| ``security.py`` | argon2id passwords, signed expiring session cookies, CSRF tokens, login limits |
| ``users.py`` | the ``review-users`` index: who may log in, with which role and districts |
| ``roles.py`` | the role x action matrix, one table |
| ``workflow.py`` | the lead's status transitions (pure) |
| ``leads.py`` | reads scoped to district aliases, and the one optimistic review write |
| ``audit.py`` | the append-only ``audit`` index and its ``audit`` topic mirror |
| ``app.py`` / ``pages.py`` / ``api.py`` | the Starlette app: pages and the JSON API |
"""

__all__: list[str] = []
