"""Who may do what: roles, permissions, API tokens, and rate limits. Pure; the store is common/users.py.

    role_allows("campaign_manager", "dnc.write")     # False: managers cannot edit do-not-call lists
    token = new_token()                              # shown once to the user: "bcc_…"
    token_hash(token)                                # what the database keeps

Roles are what the contact centre's people do (issue #8): a campaign manager runs
campaigns and their lists; a flow designer edits and deploys IVR flows; compliance
owns do-not-call lists, policy packs and calling windows; a supervisor watches
everything and may pause or resume campaigns; an admin does all of it and manages
users. Each route names the one permission it needs; the role matrix below is the
only place that says which role has it, so the API's behaviour and its tests
(every role × every write route) read from one table.

Tokens are 256 random bits, so a plain SHA-256 is the right hash at rest (a slow
password hash protects guessable secrets; these are not guessable), and lookups
are by hash, so no comparison leaks timing about a stored token.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field

TOKEN_PREFIX = "bcc_"
_TOKEN = re.compile(r"^bcc_[A-Za-z0-9_-]{43}$")
USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")

PERMISSIONS = (
    "calls.read",          # IVR call records and their steps
    "stats.read",          # live statistics and analytics
    "campaigns.read",
    "campaigns.write",     # create and change campaigns
    "campaigns.control",   # start, pause, resume, finish, archive
    "lists.read",          # uploads and their error reports
    "lists.upload",
    "attempts.read",       # attempts, dispositions, CSV export
    "dnc.read",
    "dnc.write",           # add, import, remove do-not-call entries
    "policies.read",       # policy packs, calling windows, explain
    "policies.write",      # edit packs and select them for campaigns
    "flows.read",          # flows, versions, lint results, diagrams
    "flows.deploy",        # validate, deploy, roll back
    "users.admin",         # add users, rotate tokens, change roles
)

_READ_ALL = frozenset(p for p in PERMISSIONS if p.endswith(".read"))

ROLES: dict[str, frozenset[str]] = {
    "campaign_manager": frozenset({"calls.read", "stats.read", "campaigns.read", "campaigns.write",
                                   "campaigns.control", "lists.read", "lists.upload", "attempts.read",
                                   "dnc.read", "policies.read", "flows.read"}),
    "flow_designer": frozenset({"calls.read", "stats.read", "campaigns.read", "flows.read", "flows.deploy"}),
    "compliance": frozenset({"calls.read", "stats.read", "campaigns.read", "lists.read", "attempts.read",
                             "dnc.read", "dnc.write", "policies.read", "policies.write", "flows.read"}),
    "supervisor": _READ_ALL | {"campaigns.control"},
    "admin": frozenset(PERMISSIONS),
}


class AuthError(ValueError):
    pass


def role_allows(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise AuthError(f"unknown permission {permission!r}")  # a typo in a route must not mean "allowed"
    return permission in ROLES.get(role, frozenset())


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    return role


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not USER_NAME.match(name):
        raise AuthError("a user name is 2-64 characters: lowercase letters, digits, '.', '_' or '-', "
                        "starting with a letter")
    return name


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_token(text: str) -> bool:
    return bool(_TOKEN.match(text or ""))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class RateLimiter:
    """A token bucket per key (an address for logins, a user for uploads): `rate` per second, `burst` at once.

    `now` comes from outside (time.monotonic by default) so tests need no sleeping.
    """

    rate: float
    burst: int
    clock: object = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    max_keys: int = 100_000  # a flood of distinct keys must not grow memory without bound

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._forget_full(now)
        return allowed

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again (0 if it may now)."""
        tokens, last = self._buckets.get(key, (float(self.burst), self.clock()))
        tokens = min(float(self.burst), tokens + (self.clock() - last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        refill = self.burst / self.rate
        for key, (_, last) in list(self._buckets.items()):
            if now - last >= refill:  # its bucket is full again: forgetting it changes nothing
                del self._buckets[key]
