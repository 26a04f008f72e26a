"""What an outbound flow knows about the customer it is talking to.

When a campaign call is answered by a person and the campaign routes people to
a flow, the dialplan runs `AGI(agi://…/<flow>,,<attempt id>)` (asterisk/conf/
extensions.conf, [bankcc-outbound]). The IVR looks the attempt up and gives
flows with `direction: outbound` these variables:

    contact          map: name, account_ref, due_amount, due_date, custom (the upload's
                     extra columns), attempt_no  (the number is `caller`, as on inbound calls)
    campaign_id, campaign_kind, attempt_id

`contact.account_ref` is the bank's customer or account reference a flow passes
to the back-end (e.g. /installments/{contact.account_ref}/offer). The rows come straight from the dialer's
tables, so what the campaign manager uploaded is what the flow says.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

import asyncpg

_LOOKUP = """
SELECT a.id AS attempt_id, a.campaign_id, a.attempt_no, cp.kind,
       c.name, c.account_ref, c.due_amount, c.due_date, c.custom
FROM attempts a JOIN contacts c ON c.id = a.contact_id JOIN campaigns cp ON cp.id = a.campaign_id
WHERE a.id = $1"""


def parse_attempt_id(text: str | None) -> int | None:
    """The AGI argument carrying BANKCC_ATTEMPT_ID; None when absent or not a positive integer."""
    text = (text or "").strip()
    if not text.isdigit() or len(text) > 18:
        return None
    value = int(text)
    return value if value > 0 else None


def outbound_variables(row: Mapping[str, Any]) -> dict[str, Any]:
    """Flow variables from one attempt/contact/campaign row (pure)."""
    custom = row["custom"]
    if isinstance(custom, str):  # asyncpg hands jsonb over as text unless a codec is set
        import json
        custom = json.loads(custom)
    due = row["due_amount"]
    return {
        "contact": {
            "name": row["name"] or "",
            "account_ref": row["account_ref"] or "",
            "due_amount": Decimal(due) if due is not None else None,
            "due_date": row["due_date"].isoformat() if row["due_date"] is not None else None,
            "custom": dict(custom or {}),
            "attempt_no": row["attempt_no"],
        },
        "campaign_id": row["campaign_id"],
        "campaign_kind": row["kind"],
        "attempt_id": row["attempt_id"],
    }


async def load_outbound_variables(pool: asyncpg.Pool, attempt_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(_LOOKUP, attempt_id)
    return outbound_variables(row) if row is not None else None
