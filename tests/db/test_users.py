"""Users, tokens and sessions on a real PostgreSQL (common/users.py)."""
import uuid

import pytest

from common import users
from common.auth import AuthError, token_hash


def name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


async def test_token_works_until_rotated_and_only_its_hash_is_stored(pool):
    who = name()
    token = await users.add_user(pool, who, "compliance", by="admin")
    assert await users.user_for_token(pool, token) == users.User(who, "compliance")
    stored = await pool.fetchval("SELECT token_hash FROM users WHERE name = $1", who)
    assert stored == token_hash(token) and token not in stored
    session_id, session = await users.open_session(pool, users.User(who, "compliance"))
    assert (await users.session_for(pool, session_id)).csrf_token == session.csrf_token
    new = await users.rotate_token(pool, who, by="admin")
    assert await users.user_for_token(pool, token) is None
    assert await users.user_for_token(pool, new) == users.User(who, "compliance")
    assert await users.session_for(pool, session_id) is None  # sessions end with the old token
    with pytest.raises(AuthError):
        await users.add_user(pool, who, "admin", by="admin")
    with pytest.raises(AuthError):
        await users.rotate_token(pool, name(), by="admin")


async def test_disabled_users_and_garbage_get_nothing(pool):
    who = name()
    token = await users.add_user(pool, who, "supervisor", by="admin")
    session_id, _ = await users.open_session(pool, users.User(who, "supervisor"))
    await users.set_disabled(pool, who, True)
    assert await users.user_for_token(pool, token) is None
    assert await users.session_for(pool, session_id) is None
    await users.set_disabled(pool, who, False)
    assert await users.user_for_token(pool, token) is not None
    for garbage in ("", "bcc_", "x" * 5000, "' OR 1=1 --"):
        assert await users.user_for_token(pool, garbage) is None
        assert await users.session_for(pool, garbage) is None
    with pytest.raises(AuthError):
        await users.add_user(pool, "Robert'); DROP TABLE users;--", "admin", by="admin")
    with pytest.raises(AuthError):
        await users.add_user(pool, name(), "root", by="admin")
