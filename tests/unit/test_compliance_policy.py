"""Policy packs: the shipped ones load, every rule says where it comes from, errors name file:line."""
from __future__ import annotations

from pathlib import Path

import pytest

from dialer.compliance.policy import PolicyError, load_pack_text, load_packs, PACKS_DIR

SHIPPED = ("cn-collection", "cn-marketing", "us-tcpa", "uk-ofcom")
GOOD = (PACKS_DIR / "cn-collection.yaml").read_text(encoding="utf-8")


def test_the_four_packs_ship_and_cite_their_sources():
    packs = load_packs([PACKS_DIR])
    assert set(SHIPPED) <= set(packs)
    for pack in packs.values():
        for source in (pack.windows.source, pack.ring_source, pack.dnc_source, pack.consent_source,
                       pack.caps.source, pack.abandonment.source):
            assert len(source) > 20, pack.label
    assert packs["us-tcpa"].abandonment.max_rate == 0.03
    assert packs["uk-ofcom"].abandonment.window_hours == 24
    assert packs["uk-ofcom"].caps.after_abandoned_hours == 72
    assert packs["cn-collection"].caps.per_number.per_day == 6
    assert packs["cn-marketing"].consent_required


def error_for(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_pack_text(text, "bad.yaml")
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_an_unknown_key_is_named_with_its_line():
    text = GOOD.replace("  min_seconds: 15", "  min_second: 15\n  min_seconds: 15")
    err = error_for(text)
    assert str(err).startswith(f"bad.yaml:{line_of(text, 'min_second:')}:")
    assert "ring_time.min_second" in str(err)


def test_a_rule_without_a_source_is_refused():
    text = GOOD.replace("  source: Bank policy, issue #6", "  note: x")  # not present: use the abandonment one
    start = GOOD.index("abandonment:\n  source:")
    end = GOOD.index("  max_rate:")
    text = GOOD[:start] + "abandonment:\n" + GOOD[end:]
    err = error_for(text)
    assert "missing abandonment.source" in str(err)
    assert str(err).startswith(f"bad.yaml:{line_of(text, 'max_rate:')}:")


def test_a_bad_window_is_named():
    text = GOOD.replace('mon-sun: "08:00-22:00"', 'mon-sun: "08:00-25:00"')
    err = error_for(text)
    assert f"bad.yaml:{line_of(text, '25:00')}:" in str(err) and "calling_windows.default.mon-sun" in str(err)


def test_bad_values_are_named():
    assert "unknown time zone" in str(error_for(GOOD.replace("[Asia/Shanghai]", "[Asia/Beijing]")))
    assert "max_rate must be between 0 and 1" in str(error_for(GOOD.replace("max_rate: 0.03", "max_rate: 3")))
    assert "per_day must be a whole number" in str(error_for(GOOD.replace("per_day: 6", "per_day: six")))
    assert "no holiday calendar" in str(error_for(GOOD.replace("calendar: CN", "calendar: XX")))
    assert "YAML syntax error" in str(error_for(GOOD + "\n  - : :\n]"))


def test_two_packs_with_one_name_are_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(PolicyError, match="also defined in"):
        load_packs([tmp_path])
