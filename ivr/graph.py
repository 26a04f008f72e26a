"""`ivr flow graph`: a flow as a Mermaid flowchart (renders in GitLab/GitHub and mermaid.live)."""
from __future__ import annotations

from ivr.flow import Flow

_SHAPES = {"menu": ("{", "}"), "collect": ("{", "}"), "ask": ("{", "}"), "branch": ("{{", "}}"),
           "switch": ("{{", "}}"), "hours": ("{{", "}}"), "hangup": ("([", "])"), "transfer": ("[[", "]]"),
           "return": ("([", "])"), "subflow": ("[[", "]]"), "http": ("[(", ")]")}


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f"  start((start)) --> {flow.start}"]
    for node_id, node in flow.nodes.items():
        left, right = _SHAPES.get(node.type_name, ("[", "]"))
        lines.append(f'  {node_id}{left}"{node_id}<br/><small>{node.type_name}</small>"{right}')
    for node_id, node in flow.nodes.items():
        for exit_name, target in node.exits.items():
            arrow = "-.->" if exit_name == "error" else "-->"
            label = "" if exit_name == "next" else f"|{exit_name}|"
            lines.append(f"  {node_id} {arrow}{label} {target}")
    return "\n".join(lines) + "\n"
