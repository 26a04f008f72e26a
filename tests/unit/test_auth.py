"""Roles, permissions, tokens and rate limits (common/auth.py)."""
import pytest

from common.auth import (PERMISSIONS, ROLES, AuthError, RateLimiter, check_role, check_user_name, looks_like_token,
                         new_token, role_allows, token_hash)


@pytest.mark.parametrize("role, permission, allowed", [
    ("campaign_manager", "campaigns.control", True),
    ("campaign_manager", "lists.upload", True),
    ("campaign_manager", "dnc.write", False),        # the examples
    ("campaign_manager", "policies.write", False),
    ("flow_designer", "flows.deploy", True),
    ("flow_designer", "campaigns.control", False),
    ("flow_designer", "lists.upload", False),
    ("compliance", "dnc.write", True),
    ("compliance", "policies.write", True),
    ("compliance", "flows.deploy", False),
    ("compliance", "campaigns.write", False),
    ("supervisor", "campaigns.control", True),
    ("supervisor", "campaigns.write", False),
    ("supervisor", "dnc.write", False),
    ("admin", "users.admin", True),
])
def test_role_matrix(role, permission, allowed):
    assert role_allows(role, permission) is allowed


def test_only_admins_manage_users_and_everyone_reads_campaigns():
    assert [r for r in ROLES if role_allows(r, "users.admin")] == ["admin"]
    assert all(role_allows(r, "campaigns.read") for r in ROLES)
    assert ROLES["admin"] == frozenset(PERMISSIONS)
    assert all(p.endswith(".read") or p == "campaigns.control" for p in ROLES["supervisor"])


def test_unknown_permission_or_role_is_an_error_never_allowed():
    with pytest.raises(AuthError):
        role_allows("admin", "campaigns.wrte")
    assert not role_allows("janitor", "campaigns.read")
    with pytest.raises(AuthError):
        check_role("janitor")


def test_tokens_are_random_recognisable_and_hashed():
    a, b = new_token(), new_token()
    assert a != b and looks_like_token(a) and len(a) == 47
    assert token_hash(a) != token_hash(b) and len(token_hash(a)) == 64 and a not in token_hash(a)
    assert not looks_like_token("bcc_short") and not looks_like_token("Bearer " + a)


@pytest.mark.parametrize("name, ok", [("li.na", True), ("ops-2", True), ("Admin", False), ("a", False),
                                      ("x" * 65, False), ("1abc", False), ("a b", False), ("ab'--", False)])
def test_user_names(name, ok):
    if ok:
        assert check_user_name(name) == name
    else:
        with pytest.raises(AuthError):
            check_user_name(name)


def test_rate_limiter_allows_a_burst_then_the_rate():
    now = [0.0]
    limiter = RateLimiter(rate=0.5, burst=3, clock=lambda: now[0])
    assert [limiter.allow("10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("10.0.0.2")  # keys are independent
    assert limiter.retry_after("10.0.0.1") == pytest.approx(2.0)
    now[0] = 2.0
    assert limiter.allow("10.0.0.1") and not limiter.allow("10.0.0.1")


def test_rate_limiter_memory_is_bounded():
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=1, clock=lambda: now[0], max_keys=100)
    for i in range(1000):
        now[0] += 2.0  # every earlier bucket has refilled: forgettable
        limiter.allow(f"k{i}")
    assert len(limiter._buckets) <= 101
