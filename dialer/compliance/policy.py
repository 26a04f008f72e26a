"""Policy packs: the rules a campaign is dialled under, versioned, loaded from YAML.

A pack is one YAML file (dialer/compliance/packs/*.yaml) with a name, a version and one
section per rule; every section must say where the rule comes from (`source:`), so a
compliance officer can trace each number in it to a regulation or guideline. A
campaign is dialled under the pack selected for it (store.py: campaign_policy), else
under the default pack for its kind (DEFAULT_PACK_BY_KIND).

Problems are PolicyError with the file, line and column of the offending key, like
flow files (ivr/located_yaml.py).

    pack = load_pack_text(text, "cn-collection.yaml")
    pack.name, pack.version, pack.label          # "cn-collection", 3, "cn-collection@3"
"""
from __future__ import annotations

import hashlib
import json
import os
import zoneinfo
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.weekly_hours import HoursError, parse_days, parse_ranges
from ivr.located_yaml import LocatedMap, Location, YamlSourceError, load_located

PACKS_DIR = Path(__file__).parent / "packs"
KINDS = ("activation", "installments", "collection", "care")
DIAL_MODES = ("preview", "progressive", "power", "predictive")
DNC_SCOPES = ("global", "campaign")
# A campaign with no explicit selection is dialled under its kind's default. Each is the
# strictest shipped pack for that kind of call in China, where the bank's customers are.
DEFAULT_PACK_BY_KIND = {"collection": "cn-collection", "activation": "cn-marketing",
                        "installments": "cn-marketing", "care": "cn-marketing"}

Ranges = tuple[tuple[time, time], ...]


class PolicyError(ValueError):
    """A pack that cannot be used, with the place that makes it so."""

    def __init__(self, location: Location | str, message: str):
        super().__init__(f"{location}: {message}")
        self.location, self.message = location, message


@dataclass(frozen=True)
class WeeklyWindows:
    """Allowed local times per weekday (0 = Monday); a missing day has no window."""
    days: tuple[Ranges, ...]  # 7 entries

    def on(self, weekday: int) -> Ranges:
        return self.days[weekday]


@dataclass(frozen=True)
class HolidayRule:
    calendar: str | None          # country code for the `holidays` package, e.g. CN; None: no calendar
    subdivision: str | None
    on_holiday: str | Ranges      # "closed" | "weekday" | "weekend" | "same" | explicit ranges
    makeup_workday: str           # "weekday" (调休 working days use the Monday-Friday windows) | "same"


@dataclass(frozen=True)
class WindowRule:
    by_kind: dict[str, WeeklyWindows]
    default: WeeklyWindows
    holidays: HolidayRule
    fallback_zones: tuple[str, ...]  # zones assumed for an unknown callee zone: the call must fit all
    setup_margin_s: float            # added to the ring time at the window's end (Originate, network)
    source: str

    def for_kind(self, kind: str) -> WeeklyWindows:
        return self.by_kind.get(kind, self.default)


@dataclass(frozen=True)
class CapRule:
    per_day: int | None           # callee's local calendar day
    per_7_days: int | None        # rolling 7 × 24 h
    lifetime: int | None          # within this campaign
    counts: str                   # all | unanswered


@dataclass(frozen=True)
class CapsRule:
    per_number: CapRule
    per_contact: CapRule
    min_gap_minutes: float
    after_abandoned_hours: float
    source: str


@dataclass(frozen=True)
class AbandonmentRule:
    max_rate: float               # abandoned / live-answered
    window_hours: float
    connect_within_seconds: float  # a live answer not with an agent within this is abandoned
    safe_harbor: bool              # a message is played on every abandoned call
    enforce_for_modes: tuple[str, ...]  # dial modes that can over-dial and so are held when over budget
    source: str


@dataclass(frozen=True)
class Pack:
    name: str
    version: int
    title: str
    jurisdiction: str
    windows: WindowRule
    ring_min_seconds: float
    ring_source: str
    dnc_scopes: tuple[str, ...]
    dnc_source: str
    consent_required: bool
    consent_source: str
    caps: CapsRule
    abandonment: AbandonmentRule
    obligations: tuple[dict[str, str], ...] = ()  # duties outside the gate (e.g. recording), listed in decisions
    text: str = field(default="", repr=False, compare=False)  # the YAML as loaded, stored per version

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def ring_allowance_s(self, ring_timeout_s: float) -> float:
        """How long before a window's end the last call may be placed: it may ring this long."""
        return max(ring_timeout_s, self.ring_min_seconds) + self.windows.setup_margin_s


# --- reading ---------------------------------------------------------------------------------

class _Reader:
    """Typed access to one mapping of a pack; unknown keys are errors (a typo is not a default)."""

    def __init__(self, data: Any, where: Location, path: str):
        if not isinstance(data, LocatedMap):
            raise PolicyError(where, f"{path or 'the pack'} must be a mapping")
        self.data, self.path, self.read = data, path, set()

    def at(self, key: str | None = None) -> Location:
        return self.data.where(key)

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, default: Any = ...) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is ...:
                raise PolicyError(self.at(), f"missing {self._name(key)}")
            return default
        return self.data[key]

    def sub(self, key: str, required: bool = True) -> "_Reader | None":
        value = self.get(key, ... if required else None)
        if value is None:
            return None
        return _Reader(value, self.at(key), self._name(key))

    def text(self, key: str, default: Any = ...) -> Any:
        value = self.get(key, default)
        if value is default:
            return value
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(self.at(key), f"{self._name(key)} must be non-empty text")
        return value.strip()

    def number(self, key: str, low: float, high: float, default: Any = ..., whole: bool = False) -> Any:
        value = self.get(key, default)
        if value is default or value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
            raise PolicyError(self.at(key), f"{self._name(key)} must be a {'whole ' if whole else ''}number")
        if not low <= value <= high:
            raise PolicyError(self.at(key), f"{self._name(key)} must be between {low:g} and {high:g}, not {value}")
        return value

    def flag(self, key: str, default: Any = ...) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise PolicyError(self.at(key), f"{self._name(key)} must be true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, default)
        if value not in choices:
            raise PolicyError(self.at(key), f"{self._name(key)} must be one of {', '.join(choices)}, not {value!r}")
        return value

    def source(self) -> str:
        return self.text("source")

    def done(self) -> None:
        extra = [k for k in self.data if k not in self.read]
        if extra:
            raise PolicyError(self.at(extra[0]), f"unknown key {self._name(extra[0])!r}")


def _weekly(reader: _Reader) -> WeeklyWindows:
    days: list[Ranges] = [() for _ in range(7)]
    seen: set[int] = set()
    for spec, ranges in reader.data.items():
        reader.read.add(spec)
        where, name = reader.at(spec), reader._name(spec)
        if not isinstance(ranges, str):
            raise PolicyError(where, f"{name} must be text like \"08:00-21:00\"")
        try:
            parsed_days, parsed = parse_days(spec), parse_ranges(ranges)
        except HoursError as exc:
            raise PolicyError(where, f"{name}: {exc}") from None
        if seen & set(parsed_days):
            raise PolicyError(where, f"{name} repeats a day already given")
        seen |= set(parsed_days)
        ordered = tuple(sorted(parsed))
        for (_, end), (start, _) in zip(ordered, ordered[1:]):
            if start < end:
                raise PolicyError(where, f"{name}: ranges overlap")
        for day in parsed_days:
            days[day] = ordered
    return WeeklyWindows(tuple(days))


def _zone(value: Any, where: Location, name: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(where, f"{name} must be an IANA time zone such as Asia/Shanghai")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PolicyError(where, f"{name}: unknown time zone {value!r}") from None
    return value


def _windows(r: _Reader) -> WindowRule:
    source = r.source()
    default = _weekly(r.sub("default"))
    by_kind: dict[str, WeeklyWindows] = {}
    kinds = r.sub("by_kind", required=False)
    if kinds is not None:
        for kind in kinds.data:
            if kind not in KINDS:
                raise PolicyError(kinds.at(kind), f"{kinds._name(kind)}: unknown campaign kind (use {', '.join(KINDS)})")
            by_kind[kind] = _weekly(kinds.sub(kind))
        kinds.read |= set(kinds.data)
    h = r.sub("holidays")
    calendar = h.get("calendar", None)
    if calendar is not None:
        import holidays as holidays_lib

        if not isinstance(calendar, str) or calendar.upper() not in holidays_lib.list_supported_countries():
            raise PolicyError(h.at("calendar"), f"{h._name('calendar')}: no holiday calendar {calendar!r} (e.g. CN)")
        calendar = calendar.upper()
    subdivision = h.text("subdivision", None)
    raw_on = h.get("on_holiday", "closed")
    if raw_on in ("closed", "weekday", "weekend", "same"):
        on_holiday: str | Ranges = raw_on
    else:
        try:
            on_holiday = tuple(sorted(parse_ranges(raw_on))) if isinstance(raw_on, str) else None
        except HoursError as exc:
            raise PolicyError(h.at("on_holiday"), f"{h._name('on_holiday')}: {exc}") from None
        if on_holiday is None:
            raise PolicyError(h.at("on_holiday"), f"{h._name('on_holiday')} must be closed, weekday, weekend, same "
                                                  "or time ranges like \"10:00-18:00\"")
    makeup = h.choice("makeup_workday", ("weekday", "same"), "weekday")
    if "source" in h.data:
        h.source()
    h.done()
    zones_raw = r.get("fallback_zones")
    if not isinstance(zones_raw, list) or not zones_raw:
        raise PolicyError(r.at("fallback_zones"), f"{r._name('fallback_zones')} must be a non-empty list of zones")
    zones = tuple(_zone(z, r.at("fallback_zones"), r._name("fallback_zones")) for z in zones_raw)
    margin = r.number("setup_margin_seconds", 0, 600, 5)
    r.done()
    return WindowRule(by_kind, default, HolidayRule(calendar, subdivision, on_holiday, makeup), zones, float(margin),
                      source)


def _cap(r: _Reader | None) -> CapRule:
    if r is None:
        return CapRule(None, None, None, "all")
    cap = CapRule(r.number("per_day", 1, 1000, None, whole=True), r.number("per_7_days", 1, 10_000, None, whole=True),
                  r.number("lifetime", 1, 100_000, None, whole=True), r.choice("counts", ("all", "unanswered"), "all"))
    r.done()
    return cap


def parse_pack(data: Any, file: str) -> Pack:
    r = _Reader(data, Location(file, 1, 1), "")
    name = r.text("pack")
    if not all(c.isalnum() or c in "-_." for c in name) or len(name) > 60:
        raise PolicyError(r.at("pack"), "pack must be a short name (letters, digits, - _ .)")
    version = r.number("version", 1, 1_000_000, whole=True)
    title = r.text("title")
    jurisdiction = r.text("jurisdiction")

    windows = _windows(r.sub("calling_windows"))

    ring = r.sub("ring_time")
    ring_min = float(ring.number("min_seconds", 0, 300))
    ring_source = ring.source()
    ring.done()

    dnc = r.sub("do_not_call")
    scopes = dnc.get("scopes", list(DNC_SCOPES))
    if not isinstance(scopes, list) or not scopes or any(s not in DNC_SCOPES for s in scopes):
        raise PolicyError(dnc.at("scopes"), f"do_not_call.scopes must list some of {', '.join(DNC_SCOPES)}")
    dnc_source = dnc.source()
    dnc.done()

    consent = r.sub("consent")
    consent_required = consent.flag("required")
    consent_source = consent.source()
    consent.done()

    c = r.sub("attempt_caps")
    caps = CapsRule(_cap(c.sub("per_number", required=False)), _cap(c.sub("per_contact", required=False)),
                    float(c.number("min_gap_minutes", 0, 7 * 24 * 60, 0)),
                    float(c.number("after_abandoned_hours", 0, 24 * 30, 0)), c.source())
    c.done()

    a = r.sub("abandonment")
    modes = a.get("enforce_for_modes", ["power", "predictive"])
    if not isinstance(modes, list) or any(m not in DIAL_MODES for m in modes):
        raise PolicyError(a.at("enforce_for_modes"), f"abandonment.enforce_for_modes must list dial modes "
                                                     f"({', '.join(DIAL_MODES)})")
    abandonment = AbandonmentRule(float(a.number("max_rate", 0, 1)), float(a.number("window_hours", 1, 24 * 366)),
                                  float(a.number("connect_within_seconds", 0, 60)), a.flag("safe_harbor"),
                                  tuple(modes), a.source())
    a.done()

    obligations = []
    raw_obligations = r.get("obligations", [])
    if not isinstance(raw_obligations, list):
        raise PolicyError(r.at("obligations"), "obligations must be a list")
    for item in raw_obligations:
        o = _Reader(item, r.at("obligations"), "obligations[]")
        obligations.append({"duty": o.text("duty"), "enforced_by": o.text("enforced_by"), "source": o.source()})
        o.done()
    r.done()
    return Pack(name, version, title, jurisdiction, windows, ring_min, ring_source, tuple(scopes), dnc_source,
                consent_required, consent_source, caps, abandonment, tuple(obligations))


def load_pack_text(text: str, file: str) -> Pack:
    try:
        data = load_located(text, file)
    except YamlSourceError as exc:
        raise PolicyError(exc.location, exc.message) from None
    pack = parse_pack(data, file)
    object.__setattr__(pack, "text", text)
    return pack


def load_pack_file(path: Path) -> Pack:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(Location(str(path), 1, 1), f"file is not UTF-8 ({exc.reason})") from None
    return load_pack_text(text, str(path))


def pack_dirs() -> list[Path]:
    """The shipped packs, then BANKCC_COMPLIANCE_PACKS_DIR's (os.pathsep-separated) if set."""
    extra = [Path(p) for p in os.environ.get("BANKCC_COMPLIANCE_PACKS_DIR", "").split(os.pathsep) if p]
    return [PACKS_DIR, *extra]


def load_packs(dirs: list[Path] | None = None) -> dict[str, Pack]:
    """Every pack by name; a name given twice is an error naming both files."""
    packs: dict[str, Pack] = {}
    files: dict[str, Path] = {}
    for folder in dirs if dirs is not None else pack_dirs():
        for path in sorted(folder.glob("*.yaml")):
            pack = load_pack_file(path)
            if pack.name in packs:
                raise PolicyError(Location(str(path), 1, 1), f"pack {pack.name!r} is also defined in {files[pack.name]}")
            packs[pack.name], files[pack.name] = pack, path
    return packs


@lru_cache(maxsize=1)
def shipped_packs() -> dict[str, Pack]:
    return load_packs()


def default_pack_name(kind: str) -> str:
    """BANKCC_COMPLIANCE_DEFAULT_PACK names one pack for every kind (test rigs); else by kind."""
    return os.environ.get("BANKCC_COMPLIANCE_DEFAULT_PACK") or DEFAULT_PACK_BY_KIND.get(kind, "cn-marketing")


def rule_source(pack: Pack, rule: str) -> str:
    """Where the rule named in a decision (e.g. attempt_caps.per_number.per_day) comes from."""
    head = rule.split(".", 1)[0]
    return {"do_not_call": pack.dnc_source, "consent": pack.consent_source, "ring_time": pack.ring_source,
            "calling_window": pack.windows.source, "attempt_caps": pack.caps.source,
            "abandonment_budget": pack.abandonment.source}.get(head, "")


def pack_json(pack: Pack) -> dict[str, Any]:
    return {"pack": pack.name, "version": pack.version, "label": pack.label, "title": pack.title,
            "jurisdiction": pack.jurisdiction, "sha256": pack.sha256}


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
