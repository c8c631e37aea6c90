"""Pure rendering: communication graphs, token bars and accuracy-against-cost plots as inline SVG or
HTML strings. Nothing is fetched from anywhere, so saved notebooks and reports render offline, on
GitHub and on nbviewer, without a kernel."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentlab.graph import CommGraph, FinalAgent
from agentlab.message import Message, Usage

SPATIAL_COLOR, TEMPORAL_COLOR, DECIDER_COLOR = "#3b6fb6", "#c7772b", "#2f8f4e"
PROMPT, COMPLETION = "#9ecae1", "#3182bd"
Edge = tuple[str, str]


def layout(graph: CommGraph, width: float, height: float) -> dict[str, tuple[float, float]]:
    """Layered left to right when there are spatial edges (messages flow one way), else a circle."""
    pad = 40.0
    if graph.spatial:
        columns = graph.layers
        pos = {}
        for c, column in enumerate(columns):
            x = pad + (width - 2 * pad) * (c / max(1, len(columns) - 1) if len(columns) > 1 else 0.5)
            for r, agent in enumerate(column):
                pos[agent] = (x, pad + (height - 2 * pad) * ((r + 0.5) / len(column)))
        return pos
    n = len(graph.agents)
    radius = min(width, height) / 2 - pad
    return {
        a: (
            width / 2 + radius * math.cos(2 * math.pi * i / n - math.pi / 2) * (n > 1),
            height / 2 + radius * math.sin(2 * math.pi * i / n - math.pi / 2) * (n > 1),
        )
        for i, a in enumerate(graph.agents)
    }


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
    width: int = 360,
    height: int = 240,
    title: str | None = None,
) -> str:
    """The graph as SVG: spatial edges solid (blue), temporal edges dashed (orange, curved), edge
    width by ``weights`` (tokens carried), the deciding agent green, ``active`` agents ringed."""
    pos = layout(graph, width, height)
    weights = weights or {}
    heaviest = max(weights.values(), default=0) or 1
    esc = html.escape

    def stroke(edge: Edge) -> float:
        return 1.2 + 5.0 * weights.get(edge, 0) / heaviest

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='11'>",
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
    node_r = 14
    for kind, edges in (("s", graph.spatial), ("t", graph.temporal)):
        color = SPATIAL_COLOR if kind == "s" else TEMPORAL_COLOR
        dash = "" if kind == "s" else " stroke-dasharray='5,3'"
        for u, v in edges:
            (x1, y1), (x2, y2) = pos[u], pos[v]
            label = f"<title>{esc(u)} → {esc(v)}: {weights.get((u, v), 0):g} tokens</title>"
            common = f"fill='none' stroke='{color}' stroke-width='{stroke((u, v)):.1f}'{dash} opacity='0.75'"
            if u == v:  # re-reading its own last message: a loop above the node
                parts.append(
                    f"<path d='M{x1 - 6:.1f},{y1 - node_r:.1f} C{x1 - 22:.1f},{y1 - 42:.1f} {x1 + 22:.1f},"
                    f"{y1 - 42:.1f} {x1 + 6:.1f},{y1 - node_r:.1f}' {common} marker-end='url(#arrow-{kind})'>"
                    f"{label}</path>"
                )
                continue
            d = math.hypot(x2 - x1, y2 - y1) or 1
            ex, ey = x2 - (x2 - x1) * node_r / d, y2 - (y2 - y1) * node_r / d
            sx, sy = x1 + (x2 - x1) * node_r / d, y1 + (y2 - y1) * node_r / d
            bend = 0 if kind == "s" else 0.25
            cx, cy = (sx + ex) / 2 - (ey - sy) * bend, (sy + ey) / 2 + (ex - sx) * bend
            parts.append(
                f"<path d='M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}' {common} "
                f"marker-end='url(#arrow-{kind})'>{label}</path>"
            )
    decider = graph.decision.agent if isinstance(graph.decision, FinalAgent) else None
    for agent in graph.agents:
        x, y = pos[agent]
        fill = DECIDER_COLOR if agent == decider else "#ffffff"
        ring = (
            " stroke='#d62728' stroke-width='3.5'" if agent in active else " stroke='#333' stroke-width='1.2'"
        )
        short = agent if len(agent) <= 8 else agent[:7] + "…"
        parts.append(
            f"<g><title>{esc(agent)}</title>"
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{node_r}' fill='{fill}'{ring}/>"
            f"<text x='{x:.1f}' y='{y + node_r + 12:.1f}' text-anchor='middle' fill='#222'>"
            f"{esc(short)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


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


@dataclass(frozen=True)
class Point:
    label: str
    tokens: float  # per item
    accuracy: float
    low: float
    high: float


def scatter_svg(points: Sequence[Point], width: int = 480, height: int = 320, title: str = "") -> str:
    """Accuracy (with its 95% interval) against tokens per item, one labelled point per topology."""
    esc = html.escape
    left, right, top, bottom = 52, 20, 24, 40
    xmax = max((p.tokens for p in points), default=1) * 1.1 or 1

    def sx(v: float) -> float:
        return left + (width - left - right) * v / xmax

    def sy(v: float) -> float:
        return top + (height - top - bottom) * (1 - v)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='11'>",
        f"<rect x='{left}' y='{top}' width='{width - left - right}' height='{height - top - bottom}' "
        "fill='none' stroke='#999'/>",
    ]
    if title:
        parts.append(f"<text x='{left}' y='14' font-weight='bold'>{esc(title)}</text>")
    for k in range(6):
        v = k / 5
        parts.append(
            f"<text x='{left - 6}' y='{sy(v) + 4:.1f}' text-anchor='end'>{v:.0%}</text>"
            f"<line x1='{left}' x2='{width - right}' y1='{sy(v):.1f}' y2='{sy(v):.1f}' stroke='#eee'/>"
        )
        t = xmax * k / 5
        parts.append(f"<text x='{sx(t):.1f}' y='{height - bottom + 14}' text-anchor='middle'>{t:.0f}</text>")
    parts.append(
        f"<text x='{(left + width - right) / 2}' y='{height - 6}' text-anchor='middle'>tokens per item</text>"
        f"<text transform='translate(12,{(top + height - bottom) / 2}) rotate(-90)' text-anchor='middle'>"
        "accuracy (95% CI)</text>"
    )
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    for i, p in enumerate(points):
        color = palette[i % len(palette)]
        x = sx(p.tokens)
        parts.append(
            f"<g><title>{esc(p.label)}: {p.accuracy:.1%} [{p.low:.1%}, {p.high:.1%}], "
            f"{p.tokens:.0f} tokens/item</title>"
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{sy(p.low):.1f}' y2='{sy(p.high):.1f}' "
            f"stroke='{color}' stroke-width='2'/><circle cx='{x:.1f}' cy='{sy(p.accuracy):.1f}' r='5' "
            f"fill='{color}'/><text x='{x + 8:.1f}' y='{sy(p.accuracy) + 4:.1f}' fill='{color}'>"
            f"{esc(p.label)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
