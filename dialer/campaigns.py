"""Outbound campaigns: what one is, the states it goes through, and where it is stored.

The first half is pure (validation of a campaign definition, its retry rules
and schedule, and the state machine); the second half is the thin PostgreSQL
shell the HTTP API and the CLI share.

States::

    draft --start--> running --pause--> paused --finish--> finished --archive--> archived
      |                 ^ <---resume---   |                   ^
      |                 +-----finish------+-------------------+
      +---------------------archive--------------------------------------------> archived

A running campaign may also be finished directly (the dialer will do so when
its list is worked through).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

import asyncpg

from dialer.phones import PhoneError, validate_region

KINDS = ("activation", "installments", "collection", "care")
DIAL_MODES = ("preview", "progressive", "power", "predictive")
MACHINE_POLICIES = ("hangup", "message", "flow")
STATES = ("draft", "running", "paused", "finished", "archived")
ACTIONS = ("start", "pause", "resume", "finish", "archive")

TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "start"): "running",
    ("draft", "archive"): "archived",
    ("running", "pause"): "paused",
    ("running", "finish"): "finished",
    ("paused", "resume"): "running",
    ("paused", "finish"): "finished",
    ("finished", "archive"): "archived",
}
# Lists may be uploaded until the campaign is over.
UPLOAD_STATES = ("draft", "running", "paused")


class CampaignError(ValueError):
    """A campaign definition problem, tied to the field (dotted path) it is about."""

    def __init__(self, field: str, message: str, code: str = "invalid_field"):
        super().__init__(message)
        self.field, self.message, self.code = field, message, code


class IllegalTransition(ValueError):
    def __init__(self, state: str, action: str):
        self.state, self.action = state, action
        allowed = allowed_actions(state) if state in STATES else ()
        hint = f"allowed: {', '.join(allowed)}" if allowed else "no action is allowed any more"
        super().__init__(f"cannot {action} a campaign that is {state} ({hint})")


def transition(state: str, action: str) -> str:
    """The state after `action`; IllegalTransition if the machine has no such edge."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalTransition(state, action) from None


def allowed_actions(state: str) -> tuple[str, ...]:
    return tuple(a for a in ACTIONS if (state, a) in TRANSITIONS)


# --- retry rules --------------------------------------------------------------------------

DISPOSITIONS = ("busy", "no_answer", "machine", "failed", "dropped")
# delay_seconds: wait before the next try after a call ended this way.
# max_tries: total attempts a contact may have had for one more to follow such an end;
# 1 means a contact is never retried after it.
DEFAULT_RETRY_RULES: dict[str, dict[str, int]] = {
    "busy": {"delay_seconds": 300, "max_tries": 3},
    "no_answer": {"delay_seconds": 3600, "max_tries": 3},
    "machine": {"delay_seconds": 7200, "max_tries": 2},
    "failed": {"delay_seconds": 900, "max_tries": 2},
    "dropped": {"delay_seconds": 120, "max_tries": 3},  # answered but no agent was free
}
MIN_RETRY_DELAY_S = 60            # redialling a busy customer at once is harassment
MAX_RETRY_DELAY_S = 7 * 86_400
MAX_TRIES_LIMIT = 20


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CampaignError(field, f"{field} must be a whole number")
    if not low <= value <= high:
        raise CampaignError(field, f"{field} must be between {low} and {high}")
    return value


def validate_retry_rules(raw: Any) -> dict[str, dict[str, int]]:
    """Rules for every disposition; dispositions or keys left out take the defaults."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise CampaignError("retry_rules", "retry_rules must be an object keyed by disposition")
    unknown = sorted(set(raw) - set(DISPOSITIONS))
    if unknown:
        raise CampaignError(f"retry_rules.{unknown[0]}",
                            f"unknown disposition {unknown[0]!r} (use {', '.join(DISPOSITIONS)})")
    rules = {}
    for disposition in DISPOSITIONS:
        given = raw.get(disposition, {})
        path = f"retry_rules.{disposition}"
        if not isinstance(given, Mapping):
            raise CampaignError(path, f"{path} must be an object with delay_seconds and max_tries")
        extra = sorted(set(given) - {"delay_seconds", "max_tries"})
        if extra:
            raise CampaignError(f"{path}.{extra[0]}", f"unknown key {extra[0]!r} (use delay_seconds, max_tries)")
        rule = {**DEFAULT_RETRY_RULES[disposition], **given}
        rules[disposition] = {
            "delay_seconds": _whole(rule["delay_seconds"], f"{path}.delay_seconds", MIN_RETRY_DELAY_S,
                                    MAX_RETRY_DELAY_S),
            "max_tries": _whole(rule["max_tries"], f"{path}.max_tries", 1, MAX_TRIES_LIMIT),
        }
    return rules


# --- schedule -----------------------------------------------------------------------------

# Windows are in the callee's local time (contacts.time_zone), like the IVR's `hours` node;
# `time_zone` stands in for contacts whose zone is unknown and dates the start and end.
# dialer/schedule.py reads it; dialer/scheduler.py acts on it (APScheduler).
DEFAULT_SCHEDULE: dict[str, Any] = {"start_date": None, "end_date": None,
                                    "windows": {"mon-sun": "09:00-20:00"}, "holidays": None,
                                    "time_zone": "Asia/Shanghai", "auto_start": False}


def _iso_date(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CampaignError(field, f"{field} must be a date like 2026-01-31")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise CampaignError(field, f"{field} must be a date like 2026-01-31, not {value!r}") from None


def validate_schedule(raw: Any) -> dict[str, Any]:
    """{start_date, end_date, windows: {"mon-fri": "09:00-12:00, 14:00-20:00"}, holidays: "CN",
    time_zone: "Asia/Shanghai", auto_start: false}."""
    from common.weekly_hours import HoursError, parse_days, parse_ranges

    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise CampaignError("schedule", "schedule must be an object")
    extra = sorted(set(raw) - set(DEFAULT_SCHEDULE))
    if extra:
        raise CampaignError(f"schedule.{extra[0]}",
                            f"unknown key {extra[0]!r} (use {', '.join(DEFAULT_SCHEDULE)})")
    merged = {**DEFAULT_SCHEDULE, **raw}
    start = _iso_date(merged["start_date"], "schedule.start_date")
    end = _iso_date(merged["end_date"], "schedule.end_date")
    if start and end and end < start:
        raise CampaignError("schedule.end_date", "schedule.end_date is before schedule.start_date")
    windows = merged["windows"]
    if not isinstance(windows, Mapping) or not windows:
        raise CampaignError("schedule.windows", 'schedule.windows must map days to times, e.g. '
                                                '{"mon-fri": "09:00-20:00"}')
    seen: set[int] = set()
    clean_windows = {}
    for days, ranges in windows.items():
        field = f"schedule.windows.{days}"
        if not isinstance(ranges, str):
            raise CampaignError(field, f"{field} must be text like \"09:00-12:00, 14:00-20:00\"")
        try:
            parsed_days = parse_days(str(days))
            parse_ranges(ranges)
        except HoursError as exc:
            raise CampaignError(field, f"{field}: {exc}") from None
        if seen & set(parsed_days):
            raise CampaignError(field, f"{field} repeats a day already scheduled")
        seen |= set(parsed_days)
        clean_windows[str(days).strip().lower()] = ranges.strip()
    holidays = merged["holidays"]
    if holidays is not None:
        import holidays as holidays_lib

        if not isinstance(holidays, str) or holidays.strip().upper() not in holidays_lib.list_supported_countries():
            raise CampaignError("schedule.holidays", f"no public-holiday calendar for {holidays!r} (e.g. CN)")
        holidays = holidays.strip().upper()
    zone = merged["time_zone"]
    if not isinstance(zone, str) or not _known_zone(zone.strip()):
        raise CampaignError("schedule.time_zone", f"schedule.time_zone must be an IANA zone such as Asia/Shanghai, "
                                                  f"not {zone!r}")
    if not isinstance(merged["auto_start"], bool):
        raise CampaignError("schedule.auto_start", "schedule.auto_start must be true or false")
    return {"start_date": start, "end_date": end, "windows": clean_windows, "holidays": holidays,
            "time_zone": zone.strip(), "auto_start": merged["auto_start"]}


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- the campaign definition --------------------------------------------------------------

_CALLER_ID = re.compile(r"^\+?\d{3,20}$")
_TRUNK = re.compile(r"^[A-Za-z0-9_./@:#*+-]{1,80}$")
_NAME_LIKE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

REQUIRED = ("kind", "name", "caller_id", "trunk", "dial_mode", "agent_queue", "flow")
OPTIONAL = ("machine_policy", "machine_target", "retry_rules", "schedule", "default_region")


@dataclass(frozen=True)
class CampaignSpec:
    kind: str
    name: str
    caller_id: str
    trunk: str
    dial_mode: str
    agent_queue: str
    flow: str
    machine_policy: str = "hangup"
    machine_target: str | None = None  # prompt to leave (message) or flow to run (flow)
    retry_rules: dict[str, dict[str, int]] | None = None
    schedule: dict[str, Any] | None = None
    default_region: str = "CN"


def _text(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise CampaignError(field, f"{field} is required" if value in (None, "") else f"{field} must be text")
    return value.strip()


def _choice(payload: Mapping[str, Any], field: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = payload.get(field, default)
    if value not in choices:
        if value is None:
            raise CampaignError(field, f"{field} is required (one of {', '.join(choices)})")
        raise CampaignError(field, f"{field} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _pattern(payload: Mapping[str, Any], field: str, pattern: re.Pattern, what: str) -> str:
    value = _text(payload, field)
    if not pattern.match(value):
        raise CampaignError(field, f"{field} must be {what}")
    return value


def validate_campaign(payload: Any) -> CampaignSpec:
    """A checked, defaulted CampaignSpec from API/CLI input; CampaignError names the first bad field."""
    if not isinstance(payload, Mapping):
        raise CampaignError("", "a campaign must be a JSON object")
    unknown = sorted(set(payload) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise CampaignError(unknown[0], f"unknown field {unknown[0]!r}")
    kind = _choice(payload, "kind", KINDS)
    name = _text(payload, "name")
    if len(name) > 200 or _CONTROL.search(name):
        raise CampaignError("name", "name must be at most 200 characters on one line")
    caller_id = _pattern(payload, "caller_id", _CALLER_ID, "3 to 20 digits, optionally after a +")
    trunk = _pattern(payload, "trunk", _TRUNK, "a dial prefix or trunk such as PJSIP/cn-mobile")
    dial_mode = _choice(payload, "dial_mode", DIAL_MODES)
    agent_queue = _pattern(payload, "agent_queue", _NAME_LIKE, "a queue name (letters, digits, _ . -)")
    flow = _pattern(payload, "flow", _NAME_LIKE, "a flow name (letters, digits, _ . -)")
    policy = _choice(payload, "machine_policy", MACHINE_POLICIES, "hangup")
    target = payload.get("machine_target")
    if policy == "hangup":
        if target not in (None, ""):
            raise CampaignError("machine_target", "machine_target is only used with machine_policy message or flow")
        target = None
    else:
        what = "prompt to leave" if policy == "message" else "flow to run"
        if target in (None, ""):
            raise CampaignError("machine_target", f"machine_policy {policy} needs machine_target: the {what}")
        target = _pattern(payload, "machine_target", _NAME_LIKE, f"the {what} (letters, digits, _ . -)")
    try:
        region = validate_region(payload.get("default_region", "CN") or "")
    except PhoneError as exc:
        raise CampaignError("default_region", str(exc)) from None
    return CampaignSpec(kind=kind, name=name, caller_id=caller_id, trunk=trunk, dial_mode=dial_mode,
                        agent_queue=agent_queue, flow=flow, machine_policy=policy, machine_target=target,
                        retry_rules=validate_retry_rules(payload.get("retry_rules")),
                        schedule=validate_schedule(payload.get("schedule")), default_region=region)


# --- storage (the effectful shell) --------------------------------------------------------

class CampaignNotFound(LookupError):
    def __init__(self, campaign_id: int):
        super().__init__(f"no campaign {campaign_id}")
        self.campaign_id = campaign_id


_COLUMNS = ("id, kind, name, caller_id, trunk, dial_mode, agent_queue, flow_name, machine_policy, machine_target,"
            " retry_rules, schedule, default_region, state, created_by, created_at, updated_at")


def campaign_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "name": row["name"], "caller_id": row["caller_id"],
            "trunk": row["trunk"], "dial_mode": row["dial_mode"], "agent_queue": row["agent_queue"],
            "flow": row["flow_name"], "machine_policy": row["machine_policy"],
            "machine_target": row["machine_target"], "retry_rules": json.loads(row["retry_rules"]),
            "schedule": json.loads(row["schedule"]), "default_region": row["default_region"],
            "state": row["state"], "allowed_actions": list(allowed_actions(row["state"])),
            "created_by": row["created_by"], "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat()}


async def create_campaign(pool: asyncpg.Pool, spec: CampaignSpec, *, by: str) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO campaigns (kind, name, caller_id, trunk, dial_mode, agent_queue, flow_name, machine_policy,"
            " machine_target, retry_rules, schedule, default_region, created_by)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {_COLUMNS}",
            spec.kind, spec.name, spec.caller_id, spec.trunk, spec.dial_mode, spec.agent_queue, spec.flow,
            spec.machine_policy, spec.machine_target, json.dumps(spec.retry_rules), json.dumps(spec.schedule),
            spec.default_region, by)
        await conn.execute("INSERT INTO campaign_events (campaign_id, action, from_state, to_state, actor)"
                           " VALUES ($1, 'create', NULL, 'draft', $2)", row["id"], by)
    return campaign_json(row)


async def get_campaign(pool: asyncpg.Pool, campaign_id: int, *, details: bool = True) -> dict[str, Any]:
    """The campaign; with `details`, its contact counts by status and its event history."""
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM campaigns WHERE id = $1", campaign_id)
    if row is None:
        raise CampaignNotFound(campaign_id)
    out = campaign_json(row)
    if details:
        counts = await pool.fetch("SELECT status, count(*) AS n FROM contacts WHERE campaign_id = $1"
                                  " GROUP BY status ORDER BY status", campaign_id)
        out["contacts"] = {"total": sum(r["n"] for r in counts), "by_status": {r["status"]: r["n"] for r in counts}}
        out["events"] = [{"action": e["action"], "from": e["from_state"], "to": e["to_state"], "by": e["actor"],
                          "at": e["at"].isoformat()} for e in await pool.fetch(
            "SELECT action, from_state, to_state, actor, at FROM campaign_events WHERE campaign_id = $1"
            " ORDER BY id", campaign_id)]
    return out


async def list_campaigns(pool: asyncpg.Pool, *, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM campaigns WHERE ($1::text IS NULL OR state = $1)"
                            " ORDER BY id DESC LIMIT $2", state, limit)
    return [campaign_json(r) for r in rows]


async def apply_action(pool: asyncpg.Pool, campaign_id: int, action: str, *, by: str) -> dict[str, Any]:
    """Move the campaign through `action` and record who did it; IllegalTransition if it may not."""
    async with pool.acquire() as conn, conn.transaction():
        state = await conn.fetchval("SELECT state FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id)
        if state is None:
            raise CampaignNotFound(campaign_id)
        new_state = transition(state, action)
        await conn.execute("UPDATE campaigns SET state = $2, updated_at = now() WHERE id = $1", campaign_id, new_state)
        await conn.execute("INSERT INTO campaign_events (campaign_id, action, from_state, to_state, actor)"
                           " VALUES ($1, $2, $3, $4, $5)", campaign_id, action, state, new_state, by)
    return await get_campaign(pool, campaign_id, details=False)
