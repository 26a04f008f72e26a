"""`hours`: branch on business hours (bank's local time, public holidays).

    office_hours:
      type: hours
      timezone: Asia/Shanghai
      schedule:                       # missing days are closed
        mon-fri: "08:00-20:00"
        sat: "09:00-12:00, 13:00-17:00"
      holidays: CN                    # public holidays closed; make-up working days open (optional)
      closed_dates: [2026-12-31]      # extra closures (optional)
      open_dates: []                  # extra openings (optional)
      if_open: main_menu
      if_closed: after_hours
"""
from __future__ import annotations

from datetime import date

from ivr.business_hours import BusinessHours, HoursError, parse_days, parse_ranges
from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class HoursNode(Node):
    type_name = "hours"
    schema = {
        "properties": {
            "timezone": {"type": "string", "examples": ["Asia/Shanghai"]},
            "schedule": {"type": "object", "additionalProperties": {"type": "string"}},
            "holidays": {"type": "string", "description": "country code for the public-holiday calendar"},
            "closed_dates": {"type": "array", "items": {"type": "string", "format": "date"}},
            "open_dates": {"type": "array", "items": {"type": "string", "format": "date"}},
            "if_open": {"type": "string"},
            "if_closed": {"type": "string"},
        },
        "required": ["timezone", "schedule", "if_open", "if_closed"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], hours: BusinessHours):
        super().__init__(node_id, exits)
        self.hours = hours

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "HoursNode":
        timezone = spec.text("timezone")
        schedule = spec.mapping("schedule")
        week: dict[int, tuple] = {}
        for days, ranges in schedule.items():
            try:
                parsed = parse_ranges(str(ranges))
                for day in parse_days(days):
                    if day in week:
                        raise HoursError(f"{days!r} repeats a day already scheduled")
                    week[day] = parsed
            except HoursError as exc:
                raise spec.error(str(exc), "schedule") from None
        country = spec.text("holidays", None)
        closed = _dates(spec, "closed_dates")
        opened = _dates(spec, "open_dates")
        spec.target("if_open", exit_name="open")
        spec.target("if_closed", exit_name="closed")
        try:
            hours = BusinessHours(timezone, week, country, closed, opened)
        except HoursError as exc:
            raise spec.error(str(exc), "holidays" if "calendar" in str(exc) else "timezone") from None
        return cls(spec.node_id, spec.exits, hours)

    async def run(self, call: CallContext) -> StepResult:
        is_open, why = self.hours.status(call.services.clock())
        return StepResult("open" if is_open else "closed", detail={"reason": why})


def _dates(spec: NodeSpec, key: str) -> frozenset[date]:
    raw = spec.value(key, [])
    if not isinstance(raw, list):
        raise spec.error(f"{key!r} must be a list of dates (YYYY-MM-DD)", key)
    out = set()
    for item in raw:
        if isinstance(item, date):
            out.add(item)
            continue
        try:
            out.add(date.fromisoformat(str(item)))
        except ValueError:
            raise spec.error(f"{item!r} in {key!r} is not a date (YYYY-MM-DD)", key) from None
    return frozenset(out)
