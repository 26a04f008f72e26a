"""No campaign call bypasses the compliance gate: the only places that open an attempt or send
an Originate for one are in CampaignRunner.tick, after decide()."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "dialer", "ivr", "examples")


def calls(tree: ast.AST, attribute: str, owner: str | None = None) -> list[ast.Call]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute:
            target = node.func.value
            name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
            if owner is None or name == owner:
                out.append(node)
    return out


def test_attempts_are_opened_and_originated_only_by_the_gated_tick():
    places = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in ast.walk(tree):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                found = calls(function, "start", "attempts") + calls(function, "originate", "originator")
                if found:
                    places.append((str(path.relative_to(ROOT)), function.name))
    assert sorted(set(places)) == [("dialer/engine.py", "tick")], places


def test_the_tick_decides_before_it_opens_an_attempt():
    tree = ast.parse((ROOT / "dialer" / "engine.py").read_text(encoding="utf-8"))
    tick = next(f for f in ast.walk(tree) if isinstance(f, ast.AsyncFunctionDef) and f.name == "tick")
    decide_lines = [n.lineno for n in ast.walk(tick) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                    and n.func.id == "decide"]
    start = calls(tick, "start", "attempts")
    assert decide_lines and start and max(decide_lines) < start[0].lineno
    # The attempt is opened only for leads the gate allowed: inside `for lead, verdict in allowed`.
    loops = [n for n in ast.walk(tick) if isinstance(n, (ast.For, ast.AsyncFor))
             and isinstance(n.iter, ast.Name) and n.iter.id == "allowed"]
    assert loops and any(start[0] in list(ast.walk(loop)) for loop in loops)
