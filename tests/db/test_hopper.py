"""The lead hopper and attempts on a real PostgreSQL: leases, SKIP LOCKED claims by several
dialers at once, attempts opened before the call and closed once, retries by the rules."""
from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from dialer import attempts, campaigns, hopper
from dialer.dispositions import Verdict
from dialer.facts import CallFacts

RULES = {"busy": {"delay_seconds": 300, "max_tries": 3}, "no_answer": {"delay_seconds": 600, "max_tries": 2},
         "machine": {"delay_seconds": 900, "max_tries": 2}, "failed": {"delay_seconds": 900, "max_tries": 1},
         "dropped": {"delay_seconds": 120, "max_tries": 3}}


async def make_campaign(pool, contacts: int, queue: str | None = None) -> int:
    spec = campaigns.validate_campaign({
        "kind": "collection", "name": "hopper test", "caller_id": "95588", "trunk": "PJSIP/bankcc-sim",
        "dial_mode": "progressive", "agent_queue": queue or f"q-{uuid.uuid4().hex[:12]}", "flow": "none",
        "retry_rules": RULES})
    campaign = await campaigns.create_campaign(pool, spec, by="test")
    await pool.executemany("INSERT INTO contacts (campaign_id, phone, name) VALUES ($1, $2, $3)",
                           [(campaign["id"], f"+86138{i:08d}", f"c{i}") for i in range(contacts)])
    return campaign["id"]


async def statuses(pool, campaign_id: int) -> dict[str, int]:
    rows = await pool.fetch("SELECT status, count(*) AS n FROM contacts WHERE campaign_id = $1 GROUP BY 1",
                            campaign_id)
    return {r["status"]: r["n"] for r in rows}


def scoped(campaign_id: int):
    """Dialer names of this test's own (tests share the database, and release() is per dialer)."""
    return lambda name: f"{name}-c{campaign_id}"


async def begin(pool, lead, owner):
    async with pool.acquire() as conn, conn.transaction():
        return await attempts.start(conn, lead, owner=owner, dial_mode="progressive",
                                    dial_string=f"PJSIP/{lead.phone}@bankcc-sim", decision={"pacing": {"calls": 1}})


def facts_for(attempt, **kw) -> CallFacts:
    return CallFacts(attempt.unique_id, attempt.action_id, originated_at=1000.0, **kw)


async def test_claim_leases_in_list_order_and_hides_leads_from_others(pool):
    campaign_id = await make_campaign(pool, 5)
    d = scoped(campaign_id)
    leads = await hopper.claim(pool, campaign_id, d("d1"), 3, lease_s=60)
    assert [lead.phone for lead in leads] == ["+8613800000000", "+8613800000001", "+8613800000002"]
    assert await statuses(pool, campaign_id) == {"scheduled": 3, "new": 2}
    row = await pool.fetchrow("SELECT lease_owner, lease_expires_at - now() AS left FROM contacts WHERE id = $1",
                              leads[0].contact_id)
    assert row["lease_owner"] == d("d1") and timedelta(seconds=55) < row["left"] <= timedelta(seconds=60)
    others = await hopper.claim(pool, campaign_id, d("d2"), 10, lease_s=60)
    assert {lead.phone for lead in others} == {"+8613800000003", "+8613800000004"}
    assert await hopper.claim(pool, campaign_id, d("d3"), 10, lease_s=60) == []


async def test_concurrent_claims_never_share_a_lead(database_url):
    pools = [await asyncpg.create_pool(database_url, min_size=1, max_size=2) for _ in range(6)]
    try:
        campaign_id = await make_campaign(pools[0], 300)
        d = scoped(campaign_id)

        async def dialer(index: int) -> list[int]:
            got: list[int] = []
            while batch := await hopper.claim(pools[index], campaign_id, d(f"d{index}"), 7, lease_s=60):
                got += [lead.contact_id for lead in batch]
            return got

        results = await asyncio.gather(*(dialer(i) for i in range(6)))
        claimed = [cid for r in results for cid in r]
        assert len(claimed) == len(set(claimed)) == 300
        assert sum(1 for r in results if r) >= 2  # they really did share the work
    finally:
        for p in pools:
            await p.close()


async def test_an_expired_lease_goes_to_whoever_claims_next(pool):
    campaign_id = await make_campaign(pool, 2)
    d = scoped(campaign_id)
    mine = await hopper.claim(pool, campaign_id, d("d1"), 2, lease_s=60)
    await pool.execute("UPDATE contacts SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
                       mine[0].contact_id)
    taken = await hopper.claim(pool, campaign_id, d("d2"), 5, lease_s=60)
    assert [lead.contact_id for lead in taken] == [mine[0].contact_id]
    # d1 learns on renewal that it lost the lead, and cannot dial it any more
    assert await hopper.renew(pool, d("d1"), [lead.contact_id for lead in mine], 60) == {mine[1].contact_id}
    assert await begin(pool, mine[0], owner=d("d1")) is None
    assert await begin(pool, taken[0], owner=d("d2")) is not None


async def test_release_puts_leads_back_as_they_were(pool):
    campaign_id = await make_campaign(pool, 3)
    d = scoped(campaign_id)
    leads = await hopper.claim(pool, campaign_id, d("d1"), 3, lease_s=60)
    await pool.execute("UPDATE contacts SET attempts = 1 WHERE id = $1", leads[2].contact_id)
    assert await hopper.release(pool, d("d1"), [leads[0].contact_id]) == 1
    assert await statuses(pool, campaign_id) == {"new": 1, "scheduled": 2}
    assert await hopper.release(pool, d("d2")) == 0  # not d2's
    assert await hopper.release(pool, d("d1")) == 2
    assert await statuses(pool, campaign_id) == {"new": 2, "retry": 1}
    row = await pool.fetchrow("SELECT lease_owner, lease_expires_at FROM contacts WHERE id = $1", leads[2].contact_id)
    assert tuple(row) == (None, None)


async def test_due_retries_come_first_and_future_ones_wait(pool):
    campaign_id = await make_campaign(pool, 4)
    d = scoped(campaign_id)
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM contacts WHERE campaign_id = $1 ORDER BY id",
                                             campaign_id)]
    retry = "UPDATE contacts SET status = 'retry', attempts = 1, next_attempt_at = now() + $2::interval WHERE id = $1"
    await pool.execute(retry, ids[3], timedelta(minutes=-1))
    await pool.execute(retry, ids[2], timedelta(hours=1))
    await pool.execute("UPDATE contacts SET status = 'done' WHERE id = $1", ids[1])
    leads = await hopper.claim(pool, campaign_id, d("d1"), 10, lease_s=60)
    assert sorted(lead.contact_id for lead in leads) == sorted([ids[3], ids[0]])
    assert await hopper.remaining(pool, campaign_id) == {"scheduled": 2, "retry": 1}


async def test_an_attempt_is_recorded_before_the_call_and_only_once(pool):
    campaign_id = await make_campaign(pool, 1)
    d = scoped(campaign_id)
    [lead] = await hopper.claim(pool, campaign_id, d("d1"), 1, lease_s=60)
    attempt = await begin(pool, lead, d("d1"))
    assert attempt.attempt_no == 1 and attempt.dial_string == "PJSIP/+8613800000000@bankcc-sim"
    row = await pool.fetchrow("SELECT * FROM attempts WHERE id = $1", attempt.id)
    assert (row["state"], row["unique_id"], row["action_id"], row["dialer_id"]) == (
        "originating", attempt.unique_id, attempt.action_id, d("d1"))
    assert json.loads(row["decision"]) == {"pacing": {"calls": 1}} and row["disposition"] is None
    contact = await pool.fetchrow("SELECT status, attempts, lease_owner FROM contacts WHERE id = $1", lead.contact_id)
    assert tuple(contact) == ("dialing", 1, None)
    assert await begin(pool, lead, d("d1")) is None  # no longer scheduled: cannot start twice
    # Even a bug elsewhere cannot open a second attempt for a contact that has one open.
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute("INSERT INTO attempts (campaign_id, contact_id, phone, attempt_no, dialer_id, dial_mode,"
                           " dial_string, action_id, unique_id) VALUES ($1, $2, 'x', 2, 'd9', 'progressive', 'x',"
                           " 'a2', 'u2')", campaign_id, lead.contact_id)


async def test_progress_then_close_moves_the_contact_by_the_rules(pool):
    campaign_id = await make_campaign(pool, 1)
    d = scoped(campaign_id)
    [lead] = await hopper.claim(pool, campaign_id, d("d1"), 1, lease_s=60)
    attempt = await begin(pool, lead, d("d1"))
    ringing = facts_for(attempt, ring_at=1000.5, channel="PJSIP/bankcc-sim-1", channel_created=True)
    await attempts.progress(pool, attempt.id, ringing)
    queue = await pool.fetchval("SELECT agent_queue FROM campaigns WHERE id = $1", campaign_id)
    assert await attempts.in_flight(pool, queue) == (1, 0)
    ended = CallFacts(attempt.unique_id, attempt.action_id, originated_at=1000.0, ring_at=1000.5,
                      channel="PJSIP/bankcc-sim-1", channel_created=True, originate_response="Failure",
                      originate_reason=0, end_at=1001.0, hangup_cause=17, hangup_cause_text="User busy")
    now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    step = await attempts.close(pool, attempt.id, ended, Verdict("busy", "customer", "busy"), closed_by="events",
                                now=now)
    assert (step.status, step.next_attempt_at) == ("retry", now + timedelta(seconds=300))
    row = await pool.fetchrow("SELECT * FROM attempts WHERE id = $1", attempt.id)
    assert (row["state"], row["disposition"], row["hangup_cause"], row["hangup_by"], row["next_status"]) == (
        "ended", "busy", 17, "customer", "retry")
    assert row["ring_seconds"] == pytest.approx(1.0) and row["end_at"].timestamp() == 1001.0
    assert row["closed_by"] == "events" and json.loads(row["facts"])["hangup_cause"] == 17
    contact = await pool.fetchrow("SELECT status, next_attempt_at, last_disposition FROM contacts WHERE id = $1",
                                  lead.contact_id)
    assert tuple(contact) == ("retry", now + timedelta(seconds=300), "busy")
    assert await attempts.close(pool, attempt.id, ended, Verdict("busy", "customer", "busy"),
                                closed_by="events") is None  # closing twice changes nothing
    assert await attempts.in_flight(pool, queue) == (0, 0)


async def test_a_contact_stops_at_done_or_when_its_tries_are_used(pool):
    campaign_id = await make_campaign(pool, 2)
    d = scoped(campaign_id)
    first, second = await hopper.claim(pool, campaign_id, d("d1"), 2, lease_s=60)
    reached = await begin(pool, first, d("d1"))
    await attempts.close(pool, reached.id, facts_for(reached), Verdict("answered_human", "agent", "talked"),
                         closed_by="events")
    await hopper.release(pool, d("d1"))
    outcomes = []
    for _ in range(5):
        await pool.execute("UPDATE contacts SET next_attempt_at = now() WHERE status = 'retry'")  # time passes
        leads = await hopper.claim(pool, campaign_id, d("d1"), 5, lease_s=60)
        if not leads:
            break
        attempt = await begin(pool, leads[0], d("d1"))
        step = await attempts.close(pool, attempt.id, facts_for(attempt), Verdict("no_answer", "system", "rang"),
                                    closed_by="events")
        outcomes.append((attempt.attempt_no, step.status))
    assert outcomes == [(1, "retry"), (2, "failed")]  # no_answer: max_tries 2
    assert await statuses(pool, campaign_id) == {"done": 1, "failed": 1}
    assert await hopper.remaining(pool, campaign_id) == {}


async def test_reconciliation_sees_own_and_orphaned_attempts_only(pool):
    campaign_id = await make_campaign(pool, 3)
    d = scoped(campaign_id)
    leads = await hopper.claim(pool, campaign_id, d("d1"), 3, lease_s=60)
    a1 = await begin(pool, leads[0], owner=d("d1"))
    await hopper.release(pool, d("d1"))
    [lead2] = await hopper.claim(pool, campaign_id, d("d2"), 1, lease_s=60)
    [lead3] = await hopper.claim(pool, campaign_id, d("d3"), 1, lease_s=60)
    assert await begin(pool, lead2, owner=d("d2")) and await begin(pool, lead3, owner=d("d3"))
    await attempts.heartbeat(pool, d("d1"), starting=True)
    await attempts.heartbeat(pool, d("d2"), starting=True)
    # d3 never registered (or its row is gone): its attempts are orphans
    ours = {r["id"] for r in await pool.fetch("SELECT id FROM attempts WHERE campaign_id = $1", campaign_id)}

    async def to_check():  # other tests' attempts are orphans too: look at this campaign's
        return [r for r in await attempts.open_for_reconcile(pool, d("d1"), stale_after_s=30) if r["id"] in ours]

    rows = await to_check()
    assert {(r["dialer_id"], r["own"]) for r in rows} == {(d("d1"), True), (d("d3"), False)}
    # d2 stops beating: now its attempt is d1's to check too
    await pool.execute("UPDATE dialer_nodes SET heartbeat_at = now() - interval '1 minute' WHERE id = $1", d("d2"))
    rows = await to_check()
    assert {r["dialer_id"] for r in rows} == {d("d1"), d("d2"), d("d3")}
    d2_row = next(r for r in rows if r["dialer_id"] == d("d2"))
    assert await attempts.take_over(pool, d2_row["id"], d("d2"), d("d1"))
    assert not await attempts.take_over(pool, d2_row["id"], d("d2"), d("d4"))  # taken already
    assert a1.id in {r["id"] for r in rows}


async def test_several_dialers_work_a_campaign_to_the_end_without_dialling_twice(database_url):
    """Three dialers claim, start and close attempts at random, with retries made due at
    once. Every contact ends done or failed, within its tries, one attempt at a time."""
    pools = [await asyncpg.create_pool(database_url, min_size=1, max_size=3) for _ in range(3)]
    rng = random.Random(5)
    try:
        campaign_id = await make_campaign(pools[0], 60)
        d = scoped(campaign_id)

        async def dialer(index: int) -> None:
            pool, owner, idle = pools[index], d(f"stress-{index}"), 0
            while idle < 5:
                await pool.execute("UPDATE contacts SET next_attempt_at = now() WHERE campaign_id = $1"
                                   " AND status = 'retry'", campaign_id)
                leads = await hopper.claim(pool, campaign_id, owner, 4, lease_s=60)
                if not leads:
                    idle += 1
                    await asyncio.sleep(0.02)
                    continue
                idle = 0
                for lead in leads:
                    attempt = await begin(pool, lead, owner=owner)
                    assert attempt is not None
                    await asyncio.sleep(rng.random() / 200)
                    disposition = rng.choice(["answered_human", "busy", "no_answer", "machine", "failed", "dropped"])
                    await attempts.close(pool, attempt.id, facts_for(attempt), Verdict(disposition, None, "x"),
                                         closed_by="events")

        await asyncio.gather(*(dialer(i) for i in range(3)))
        pool = pools[0]
        assert set(await statuses(pool, campaign_id)) <= {"done", "failed"}
        rows = await pool.fetch("SELECT contact_id, array_agg(attempt_no ORDER BY id) AS nos,"
                                " array_agg(disposition ORDER BY id) AS ds FROM attempts WHERE campaign_id = $1"
                                " GROUP BY contact_id", campaign_id)
        assert len(rows) == 60
        limit = {"busy": 3, "no_answer": 2, "machine": 2, "failed": 1, "dropped": 3}
        for r in rows:
            assert r["nos"] == list(range(1, len(r["nos"]) + 1))
            for no, d in zip(r["nos"][:-1], r["ds"][:-1]):  # every attempt but the last was retried
                assert d != "answered_human" and no < limit[d]
            last = r["ds"][-1]
            assert last == "answered_human" or r["nos"][-1] >= limit[last]
        assert len({r["dialer_id"] for r in await pool.fetch("SELECT DISTINCT dialer_id FROM attempts"
                                                              " WHERE campaign_id = $1", campaign_id)}) == 3
    finally:
        for p in pools:
            await p.close()


async def test_campaigns_sharing_a_queue_are_paced_together(pool):
    queue = f"shared-{uuid.uuid4().hex[:8]}"
    counts = []
    for _ in range(2):
        campaign_id = await make_campaign(pool, 1, queue=queue)
        d = scoped(campaign_id)
        [lead] = await hopper.claim(pool, campaign_id, d("d1"), 1, lease_s=60)
        await begin(pool, lead, d("d1"))
        counts.append(await attempts.in_flight(pool, queue))
    assert counts == [(1, 0), (2, 0)]


async def test_the_hopper_only_holds_contacts_whose_calling_window_is_open(pool):
    campaign_id = await make_campaign(pool, 4)
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM contacts WHERE campaign_id = $1 ORDER BY id", campaign_id)]
    await pool.execute("UPDATE contacts SET time_zone = 'America/New_York' WHERE id = ANY($1)", ids[:2])
    open_now = ["Asia/Shanghai"]
    h = hopper.Hopper(pool, scoped(campaign_id)("z"), campaign_id, size=10, lease_s=60,
                      open_zones=lambda: list(open_now), default_zone="Asia/Shanghai")
    await h.refill()
    assert sorted(lead.contact_id for lead in h.leads) == ids[2:]  # unknown zone counts as the campaign's
    open_now[:] = ["America/New_York"]
    await h.refill()
    assert sorted(lead.contact_id for lead in h.leads) == ids[:2]  # Shanghai closed: given back, New York taken
    assert await statuses(pool, campaign_id) == {"scheduled": 2, "new": 2}
    open_now[:] = []
    await h.refill()
    assert not h.leads and await statuses(pool, campaign_id) == {"new": 4}
