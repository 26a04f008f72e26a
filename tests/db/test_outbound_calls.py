"""Outbound IVR calls on a real PostgreSQL: the contact a flow reads, and results linked to the attempt."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from dialer import hopper
from ivr.call_log import CallStart, PgCallLog
from ivr.outbound import load_outbound_variables
from tests.db.test_hopper import begin, make_campaign, scoped


async def test_flow_reads_the_attempts_contact_and_results_land_on_the_call(pool):
    campaign_id = await make_campaign(pool, 1)
    await pool.execute("UPDATE contacts SET account_ref = 'C1004', due_amount = 560.75, due_date = '2026-12-05',"
                       " custom = '{\"branch\": \"Pudong\"}' WHERE campaign_id = $1", campaign_id)
    [lead] = await hopper.claim(pool, campaign_id, scoped(campaign_id)("me"), 1, lease_s=60)
    attempt = await begin(pool, lead, scoped(campaign_id)("me"))

    variables = await load_outbound_variables(pool, attempt.id)
    assert variables["contact"] == {"name": "c0", "account_ref": "C1004", "due_amount": Decimal("560.75"),
                                    "due_date": "2026-12-05", "custom": {"branch": "Pudong"}, "attempt_no": 1}
    assert variables["campaign_kind"] == "collection" and variables["attempt_id"] == attempt.id
    assert await load_outbound_variables(pool, attempt.id + 10_000) is None

    log = PgCallLog(pool)
    call_id = await log.call_started(CallStart("PJSIP/bankcc-sim-1", "1.1", lead.phone, "s", "outbound_collection",
                                               "abc", "zh-CN", datetime.now(timezone.utc), attempt_id=attempt.id))
    await log.results(call_id, {"collection": "promised", "promise_amount": "560.75"})
    await log.results(call_id, {"promise_date": "2026-11-26", "collection": "promised"})
    row = await pool.fetchrow("SELECT attempt_id, results FROM calls WHERE id = $1", call_id)
    assert row["attempt_id"] == attempt.id
    assert json.loads(row["results"]) == {"collection": "promised", "promise_amount": "560.75",
                                          "promise_date": "2026-11-26"}
