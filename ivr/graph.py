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


# --- SVG, for the flow designer's page (no JavaScript library needed) -------------------------

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 150, 40, 24, 56, 20
_COLOURS = {"menu": "#dbeafe", "collect": "#dbeafe", "ask": "#dbeafe", "branch": "#fef3c7", "switch": "#fef3c7",
            "hours": "#fef3c7", "http": "#ede9fe", "transfer": "#dcfce7", "hangup": "#fee2e2", "return": "#fee2e2",
            "subflow": "#e0f2fe", "result": "#fce7f3"}


def layers(flow: Flow) -> list[list[str]]:
    """Nodes by breadth-first depth from the start (unreachable ones last), in discovery order."""
    depth = {flow.start: 0}
    order = [flow.start]
    for node_id in order:
        for target in flow.nodes[node_id].exits.values():
            if target not in depth:
                depth[target] = depth[node_id] + 1
                order.append(target)
    rest = [n for n in flow.nodes if n not in depth]
    out: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for node_id in order:
        out[depth[node_id]].append(node_id)
    if rest:
        out.append(rest)
    return out


def svg(flow: Flow) -> str:
    """The flow as an SVG drawing: one box per node by depth, an arrow per exit (labelled unless `next`)."""
    from html import escape

    rows = layers(flow)
    widest = max(len(row) for row in rows)
    width = _MARGIN * 2 + widest * (_BOX_W + _GAP_X)
    height = _MARGIN * 2 + len(rows) * (_BOX_H + _GAP_Y)
    where: dict[str, tuple[float, float]] = {}
    for level, row in enumerate(rows):
        offset = (width - len(row) * (_BOX_W + _GAP_X)) / 2
        for index, node_id in enumerate(row):
            where[node_id] = (offset + index * (_BOX_W + _GAP_X) + _GAP_X / 2, _MARGIN + level * (_BOX_H + _GAP_Y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for node_id, node in flow.nodes.items():
        x1, y1 = where[node_id]
        for exit_name, target in node.exits.items():
            x2, y2 = where[target]
            sx, sy, tx, ty = x1 + _BOX_W / 2, y1 + _BOX_H, x2 + _BOX_W / 2, y2
            dash = ' stroke-dasharray="4 3"' if exit_name == "error" else ""
            if ty > sy:  # downwards: a straight arrow
                path = f"M {sx:.0f} {sy:.0f} L {tx:.0f} {ty:.0f}"
            else:  # back up (a retry, a loop): curve out to the side
                bend = max(x1, x2) + _BOX_W + _GAP_X / 2
                path = (f"M {x1 + _BOX_W:.0f} {y1 + _BOX_H / 2:.0f} C {bend:.0f} {y1 + _BOX_H / 2:.0f} "
                        f"{bend:.0f} {y2 + _BOX_H / 2:.0f} {x2 + _BOX_W:.0f} {y2 + _BOX_H / 2:.0f}")
            parts.append(f'<path d="{path}" fill="none" stroke="#555"{dash} marker-end="url(#arrow)">'
                         f'<title>{escape(node_id)} → {escape(target)} ({escape(exit_name)})</title></path>')
            if exit_name != "next" and ty > sy:
                parts.append(f'<text x="{(sx + tx) / 2 + 3:.0f}" y="{(sy + ty) / 2:.0f}" fill="#333">'
                             f'{escape(exit_name)}</text>')
    for node_id, node in flow.nodes.items():
        x, y = where[node_id]
        colour = _COLOURS.get(node.type_name, "#f3f4f6")
        start = ' stroke-width="2.5"' if node_id == flow.start else ""
        parts.append(f'<g class="node" data-node="{escape(node_id)}"><rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" '
                     f'height="{_BOX_H}" rx="6" fill="{colour}" stroke="#333"{start}/>'
                     f'<text x="{x + _BOX_W / 2:.0f}" y="{y + 16:.0f}" text-anchor="middle" font-weight="bold">'
                     f'{escape(node_id[:22])}</text><text x="{x + _BOX_W / 2:.0f}" y="{y + 31:.0f}" '
                     f'text-anchor="middle" fill="#555">{escape(node.type_name)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
