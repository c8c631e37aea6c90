"""Pure rendering: communication graphs and token bars as inline SVG or HTML strings. Nothing is
fetched from anywhere, so saved notebooks and reports render offline, on GitHub and on nbviewer,
without a kernel. (Charts are matplotlib's: ``views.plots``.)"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from agentlab.graph import CommGraph, FinalAgent
from agentlab.message import Message, Usage

SPATIAL_COLOR, TEMPORAL_COLOR, DECIDER_COLOR = "#3b6fb6", "#c7772b", "#2f8f4e"
PROMPT, COMPLETION = "#9ecae1", "#3182bd"
Edge = tuple[str, str]


NODE_R, CHAR_W, LINE = 14, 6.6, 14  # node radius, a character's width at 11px, a text line


class Box(NamedTuple):
    left: float
    top: float
    right: float
    bottom: float

    def meets(self, other: Box) -> bool:
        return not (
            self.right <= other.left or other.right <= self.left
            or self.bottom <= other.top or other.bottom <= self.top
        )  # fmt: skip


class Label(NamedTuple):
    x: float
    y: float
    anchor: str  # SVG text-anchor: start, middle or end

    def box(self, text: str) -> Box:
        width = CHAR_W * len(text) + 2
        left = {"start": self.x, "middle": self.x - width / 2, "end": self.x - width}[self.anchor]
        return Box(left, self.y - 10, left + width, self.y + 3)


def layout(graph: CommGraph) -> tuple[dict[str, tuple[float, float]], dict[str, Label]]:
    """Where each agent and its full name go, such that no node or name overlaps another: layered
    left to right when there are spatial edges (messages flow one way), else a circle whose
    radius grows until the names, set outside it, fit."""
    if graph.spatial:
        return _layered(graph.layers)
    return _circle(graph.agents)


def _layered(columns: Sequence[Sequence[str]]) -> tuple[dict[str, tuple[float, float]], dict[str, Label]]:
    widths = [max(2 * NODE_R, *(CHAR_W * len(a) + 2 for a in column)) for column in columns]
    ring = NODE_R + 6  # a self edge's ring
    row = 2 * ring + LINE + 12
    tallest = max(len(column) for column in columns)
    pos, labels, x = {}, {}, widths[0] / 2
    for c, column in enumerate(columns):
        if c:
            x += widths[c - 1] / 2 + 36 + widths[c] / 2
        top = (tallest - len(column)) * row / 2
        for r, agent in enumerate(column):
            y = top + NODE_R + r * row
            pos[agent] = (x, y)
            labels[agent] = Label(x, y + ring + 13, "middle")
    return pos, labels


def _circle(agents: Sequence[str]) -> tuple[dict[str, tuple[float, float]], dict[str, Label]]:
    n = len(agents)
    if n == 1:
        return {agents[0]: (0.0, 0.0)}, {agents[0]: Label(0.0, NODE_R + LINE, "middle")}
    radius = max(40.0, n * (2 * NODE_R + 8) / (2 * math.pi))
    for _ in range(60):
        pos, labels = {}, {}
        for i, agent in enumerate(agents):
            angle = 2 * math.pi * i / n - math.pi / 2
            cos, sin = math.cos(angle), math.sin(angle)
            x, y = radius * cos, radius * sin
            pos[agent] = (x, y)
            out = NODE_R + 8  # past the ring a self edge draws
            if cos > 0.35:
                labels[agent] = Label(x + out, y + 4, "start")
            elif cos < -0.35:
                labels[agent] = Label(x - out, y + 4, "end")
            else:
                labels[agent] = Label(x, y + out + 10 if sin > 0 else y - out - 2, "middle")
        boxes = [_node_box(pos[a]) for a in agents] + [labels[a].box(a) for a in agents]
        if not any(p.meets(q) for k, p in enumerate(boxes) for q in boxes[k + 1 :]):
            break
        radius *= 1.15
    return pos, labels


def _node_box(at: tuple[float, float]) -> Box:
    x, y = at
    r = NODE_R + 6
    return Box(x - r, y - r, x + r, y + r)


def edge_tokens(messages: Sequence[Message]) -> dict[Edge, int]:
    """Tokens each edge carried: a message's completion tokens, once per agent that heard it."""
    weights: dict[Edge, int] = {}
    for m in messages:
        for receiver in m.receivers:
            weights[(m.sender, receiver)] = weights.get((m.sender, receiver), 0) + m.usage.completion_tokens
    return weights


def graph_svg(
    graph: CommGraph,
    weights: Mapping[Edge, float] | None = None,
    active: Sequence[str] = (),
    title: str | None = None,
) -> str:
    """The graph as SVG, sized to fit it: spatial edges solid (blue), temporal edges dashed (orange,
    curved), an agent re-reading its own last message ringed dashed, edge width by ``weights``
    (tokens carried), the deciding agent green, ``active`` agents ringed red, every agent by its
    full name, a legend of the kinds of edge it has."""
    esc = html.escape
    pos, labels = layout(graph)
    weights = weights or {}
    heaviest = max(weights.values(), default=0) or 1
    decider = graph.decision.agent if isinstance(graph.decision, FinalAgent) else None
    kinds = [
        kind for kind, present in (
            ("spatial", bool(graph.spatial)),
            ("temporal", any(u != v for u, v in graph.temporal)),
            ("self", any(u == v for u, v in graph.temporal)),
            ("decides", decider is not None),
        ) if present
    ]  # fmt: skip
    boxes = [_node_box(p) for p in pos.values()] + [labels[a].box(a) for a in graph.agents]
    left, top = min(b.left for b in boxes) - 8, min(b.top for b in boxes) - 8
    drawn_w, drawn_h = max(b.right for b in boxes) - left + 8, max(b.bottom for b in boxes) - top + 8
    head = LINE + 6 if title else 0
    width = max(drawn_w, CHAR_W * len(title or "") + 16, 250 if kinds else 0)
    height = head + drawn_h + LINE * len(kinds) + (6 if kinds else 0)
    dx, dy = -left + (width - drawn_w) / 2, head - top

    def at(agent: str) -> tuple[float, float]:
        return pos[agent][0] + dx, pos[agent][1] + dy

    def stroke(edge: Edge) -> float:
        return 1.2 + 5.0 * weights.get(edge, 0) / heaviest

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}' font-family='sans-serif' font-size='11'>",
        "<defs>"
        + "".join(
            f"<marker id='arrow-{k}' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='9' markerHeight='9' "
            f"markerUnits='userSpaceOnUse' "
            f"orient='auto-start-reverse'><path d='M0,0L10,5L0,10z' fill='{c}'/></marker>"
            for k, c in (("s", SPATIAL_COLOR), ("t", TEMPORAL_COLOR))
        )
        + "</defs>",
    ]
    if title:
        parts.append(f"<text x='6' y='14' font-weight='bold'>{esc(title)}</text>")
    for kind, edges in (("s", graph.spatial), ("t", graph.temporal)):
        color = SPATIAL_COLOR if kind == "s" else TEMPORAL_COLOR
        dash = "" if kind == "s" else " stroke-dasharray='5,3'"
        for u, v in edges:
            (x1, y1), (x2, y2) = at(u), at(v)
            label = f"<title>{esc(u)} → {esc(v)}: {weights.get((u, v), 0):g} tokens</title>"
            common = f"fill='none' stroke='{color}' stroke-width='{stroke((u, v)):.1f}'{dash} opacity='0.75'"
            if u == v:  # re-reading its own last message: a dashed ring around the node
                parts.append(
                    f"<circle cx='{x1:.1f}' cy='{y1:.1f}' r='{NODE_R + 4}' {common}>{label}</circle>"
                )
                continue
            d = math.hypot(x2 - x1, y2 - y1) or 1
            ex, ey = x2 - (x2 - x1) * NODE_R / d, y2 - (y2 - y1) * NODE_R / d
            sx, sy = x1 + (x2 - x1) * NODE_R / d, y1 + (y2 - y1) * NODE_R / d
            bend = 0 if kind == "s" else 0.25
            cx, cy = (sx + ex) / 2 - (ey - sy) * bend, (sy + ey) / 2 + (ex - sx) * bend
            parts.append(
                f"<path d='M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}' {common} "
                f"marker-end='url(#arrow-{kind})'>{label}</path>"
            )
    for agent in graph.agents:
        x, y = at(agent)
        fill = DECIDER_COLOR if agent == decider else "#ffffff"
        ring = (
            " stroke='#d62728' stroke-width='3.5'" if agent in active else " stroke='#333' stroke-width='1.2'"
        )
        name = labels[agent]
        parts.append(
            f"<g><title>{esc(agent)}</title>"
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{NODE_R}' fill='{fill}'{ring}/>"
            f"<text x='{name.x + dx:.1f}' y='{name.y + dy:.1f}' text-anchor='{name.anchor}' fill='#222'>"
            f"{esc(agent)}</text></g>"
        )
    parts += _legend(kinds, head + drawn_h)
    parts.append("</svg>")
    return "".join(parts)


LEGEND = {
    "spatial": "spatial: heard in the same round",
    "temporal": "temporal: heard in the next round",
    "self": "self: re-reads its own last message",
    "decides": "its answer is the team's",
}


def _legend(kinds: Sequence[str], top: float) -> list[str]:
    parts = []
    for k, kind in enumerate(kinds):
        y = top + 4 + LINE * k + 5
        if kind == "spatial":
            mark = (
                f"<line x1='8' x2='30' y1='{y}' y2='{y}' stroke='{SPATIAL_COLOR}' stroke-width='2' "
                "marker-end='url(#arrow-s)'/>"
            )
        elif kind == "temporal":
            mark = (
                f"<line x1='8' x2='30' y1='{y}' y2='{y}' stroke='{TEMPORAL_COLOR}' stroke-width='2' "
                "stroke-dasharray='5,3' marker-end='url(#arrow-t)'/>"
            )
        elif kind == "self":
            mark = (
                f"<circle cx='19' cy='{y}' r='5' fill='none' stroke='{TEMPORAL_COLOR}' stroke-width='2' "
                "stroke-dasharray='3,2'/>"
            )
        else:
            mark = f"<circle cx='19' cy='{y}' r='5' fill='{DECIDER_COLOR}' stroke='#333'/>"
        parts.append(f"{mark}<text x='36' y='{y + 4}' fill='#444'>{html.escape(LEGEND[kind])}</text>")
    return parts


def token_bars_html(usage: Mapping[str, Usage], title: str = "tokens per agent") -> str:
    """Horizontal bars, prompt (light) then completion (dark) tokens, one per agent or edge."""
    esc = html.escape
    most = max((u.total_tokens for u in usage.values()), default=0) or 1
    rows = []
    label = "width:9em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"
    for name, u in usage.items():
        p, c = 100 * u.prompt_tokens / most, 100 * u.completion_tokens / most
        rows.append(
            f"<div style='display:flex;align-items:center;gap:6px;margin:2px 0'>"
            f"<span style='{label}'>{esc(name)}</span>"
            f"<span style='flex:1;display:flex;height:12px;background:#f2f2f2'>"
            f"<span title='prompt {u.prompt_tokens}' style='width:{p:.1f}%;background:{PROMPT}'></span>"
            f"<span title='completion {u.completion_tokens}' style='width:{c:.1f}%;background:{COMPLETION}'>"
            f"</span></span><span style='width:8em;text-align:right'>"
            f"{u.prompt_tokens}+{u.completion_tokens}</span></div>"
        )
    legend = (
        f"<small><span style='color:{PROMPT}'>■</span> prompt "
        f"<span style='color:{COMPLETION}'>■</span> completion</small>"
    )
    body = "".join(rows)
    return f"<div style='font-family:sans-serif;font-size:12px'><b>{esc(title)}</b> {legend}{body}</div>"
