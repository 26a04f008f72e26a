"""The compliance gate: no campaign call breaks a calling window, a do-not-call entry, an attempt
cap or the abandonment budget, and every decision can be explained afterwards.

    decision.py        decide(contact, campaign, pack, history, now) -> Allow | Deny | Defer (pure)
    model.py           the data it decides about, and the verdicts
    calling_window.py  callee's local time, holidays and make-up working days, DST, ring time at the end
    dnc.py             global and per-campaign do-not-call lists
    attempt_caps.py    per number / per contact, per day / 7 days / lifetime, gaps, after an abandon
    abandonment.py     AbandonmentBudget: definition, rate, headroom for the pacer
    calendar.py        public holidays and 调休 working days (`holidays` package)
    policy.py          versioned policy packs (packs/*.yaml) with file:line errors
    store.py           PostgreSQL: packs, selections, history in one query, DNC, refusals, audit
    explain.py         "why was / wasn't this number called at that time?"

The dialer's CampaignRunner.tick (dialer/engine.py) is the only code that opens an attempt,
and it does so only for leads decide() allowed (tests/unit/test_compliance_gate_paths.py).
"""
