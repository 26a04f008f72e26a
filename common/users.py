"""Users, their API tokens and page sessions in PostgreSQL (the rules are in common/auth.py).

    token = await add_user(pool, "li.na", "campaign_manager", by="admin")   # shown once
    user = await user_for_token(pool, token)        # User("li.na", "campaign_manager") or None
    token = await rotate_token(pool, "li.na", by="admin")                   # the old one stops working
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from common.auth import AuthError, check_role, check_user_name, looks_like_token, new_token, token_hash

SESSION_TTL = timedelta(hours=8)  # one working shift


@dataclass(frozen=True)
class User:
    name: str
    role: str


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str


async def _audit(conn, by: str, action: str, name: str) -> None:
    """User changes go to the same append-only audit as API writes (migration 0010)."""
    await conn.execute("INSERT INTO api_audit (actor, method, path, target, status) VALUES ($1, 'USER', $2, $3, 200)",
                       by, action, name)


async def add_user(pool: asyncpg.Pool, name: str, role: str, *, by: str) -> str:
    check_user_name(name)
    check_role(role)
    token = new_token()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO users (name, role, token_hash, created_by) VALUES ($1, $2, $3, $4)",
                               name, role, token_hash(token), by)
            await _audit(conn, by, f"users.add:{role}", name)
    except asyncpg.UniqueViolationError:
        raise AuthError(f"user {name!r} exists (rotate its token instead)") from None
    return token


async def rotate_token(pool: asyncpg.Pool, name: str, *, by: str) -> str:
    token = new_token()
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.execute("UPDATE users SET token_hash = $2, token_created_at = now() WHERE name = $1",
                                  name, token_hash(token))
        if done.endswith(" 0"):
            raise AuthError(f"no user {name!r}")
        await conn.execute("DELETE FROM user_sessions WHERE user_name = $1", name)  # sessions die with the token
        await _audit(conn, by, "users.rotate-token", name)
    return token


async def set_disabled(pool: asyncpg.Pool, name: str, disabled: bool, *, by: str = "unknown") -> None:
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.execute("UPDATE users SET disabled = $2 WHERE name = $1", name, disabled)
        if done.endswith(" 0"):
            raise AuthError(f"no user {name!r}")
        await _audit(conn, by, "users.disable" if disabled else "users.enable", name)
        if disabled:
            await conn.execute("DELETE FROM user_sessions WHERE user_name = $1", name)


async def list_users(pool: asyncpg.Pool) -> list[dict]:
    rows = await pool.fetch("SELECT name, role, disabled, token_created_at, created_by, created_at FROM users"
                            " ORDER BY name")
    return [dict(r) for r in rows]


async def user_for_token(pool: asyncpg.Pool, token: str) -> User | None:
    if not looks_like_token(token):
        return None
    row = await pool.fetchrow("SELECT name, role FROM users WHERE token_hash = $1 AND NOT disabled", token_hash(token))
    return User(row["name"], row["role"]) if row else None


async def open_session(pool: asyncpg.Pool, user: User) -> tuple[str, Session]:
    """A new page session: (cookie value, session). The cookie value is not stored, only its hash."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await pool.execute("DELETE FROM user_sessions WHERE expires_at < now()")
    await pool.execute("INSERT INTO user_sessions (id_hash, user_name, csrf_token, expires_at)"
                       " VALUES ($1, $2, $3, now() + $4::interval)", token_hash(session_id), user.name, csrf,
                       SESSION_TTL)
    return session_id, Session(user, csrf)


async def session_for(pool: asyncpg.Pool, session_id: str) -> Session | None:
    if not session_id or len(session_id) > 100:
        return None
    row = await pool.fetchrow(
        "SELECT u.name, u.role, s.csrf_token FROM user_sessions s JOIN users u ON u.name = s.user_name"
        " WHERE s.id_hash = $1 AND s.expires_at > now() AND NOT u.disabled", token_hash(session_id))
    return Session(User(row["name"], row["role"]), row["csrf_token"]) if row else None


async def close_session(pool: asyncpg.Pool, session_id: str) -> None:
    await pool.execute("DELETE FROM user_sessions WHERE id_hash = $1", token_hash(session_id or ""))


async def bootstrap_admin(pool: asyncpg.Pool, *, token: str | None, token_file) -> str | None:
    """Make sure someone can log in to a fresh installation; returns where the token is, or None.

    BANKCC_ADMIN_TOKEN (`token`) set: user `admin` gets exactly that token (deployments and tests
    choose it). Otherwise, when there are no users at all, `admin` is created with a new token
    written to `token_file` (mode 0600): read it once, then make personal users and rotate it.
    """
    import os

    if token:
        if not looks_like_token(token):
            raise AuthError("BANKCC_ADMIN_TOKEN must look like the tokens `dialer users add` prints (bcc_ + 43 "
                            "characters)")
        await pool.execute("INSERT INTO users (name, role, token_hash, created_by) VALUES ('admin', 'admin', $1,"
                           " 'BANKCC_ADMIN_TOKEN') ON CONFLICT (name) DO UPDATE SET token_hash = EXCLUDED.token_hash,"
                           " role = 'admin', disabled = false", token_hash(token))
        return "BANKCC_ADMIN_TOKEN"
    if await pool.fetchval("SELECT count(*) FROM users"):
        return None
    new = await add_user(pool, "admin", "admin", by="first start")
    token_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(new + "\n")
    return str(token_file)
