"""A run's items as a static page can show them without a kernel: each item's outcome (right,
wrong, unanswered, error, apart), tokens, the graph it ran on or its route step by step, and its
transcript, with filters and sorting in a few lines of inline JavaScript (no CDN, nothing fetched).
"""

from __future__ import annotations

import html
from collections import defaultdict
from typing import TYPE_CHECKING

from agentlab.views.explorer import message_html
from agentlab.views.frames import call_errors, outcome, why_not
from agentlab.views.svg import edge_tokens, graph_svg

if TYPE_CHECKING:
    from agentlab.message import Message
    from agentlab.run import ItemResult, Run

MARKS = {"right": "✔ right", "wrong": "✘ wrong", "unanswered": "? no answer read", "error": "⚠ error"}
COLOURS = {"right": "#2f8f4e", "wrong": "#d62728", "unanswered": "#c7772b", "error": "#8c1d40"}


def route_timeline(messages: list[Message]) -> str:
    """Who spoke at each step of a route, to whom, and what (the first line of it)."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{m.round}</td><td>{esc(m.sender)}</td><td>{esc(', '.join(m.receivers) or '—')}</td>"
        f"<td>{esc((m.content.strip().splitlines() or [''])[0][:120])}</td></tr>"
        for m in sorted(messages, key=lambda m: (m.round, m.step))
    )
    return (
        "<table class='route'><tr><th>step</th><th>spoke</th><th>heard by</th><th>said (first line)</th></tr>"
        f"{rows}</table>"
    )


def item_html(run: Run, result: ItemResult, messages: list[Message], failure: str | None) -> str:
    """One item, its outcome read with ``failure``, its first failed call's error."""
    esc = html.escape
    kind = outcome(result, failure)
    tokens = sum(m.usage.total_tokens for m in messages)
    reason = why_not(result, failure)
    why = f" — {esc(reason)}" if reason else ""
    scoring = f" ({esc(str(result.scoring['outcome']))})" if "outcome" in result.scoring else ""
    routed = run.graph is None and not run.graphs
    if routed:
        how = f"<h4>Route</h4>{route_timeline(messages)}"
    elif run.graph is None:
        how = graph_svg(run.graph_of(result.item_id), edge_tokens(messages), title="its graph")
    else:
        how = ""
    turns = "".join(message_html(m) for m in messages)
    return (
        f"<details class='item' data-outcome='{kind}' data-tokens='{tokens}'>"
        f"<summary><span style='color:{COLOURS[kind]};font-weight:bold'>{MARKS[kind]}</span>{scoring} "
        f"{esc(result.item_id)}: predicted {esc(str(result.prediction))}, reference "
        f"{esc(str(result.reference))}{why} <small>({tokens} tokens)</small></summary>{how}{turns}</details>"
    )


def items_html(run: Run, most: int) -> str:
    """The first ``most`` items, with a filter by outcome and a sort by tokens that work offline."""
    by_item: dict[str, list[Message]] = defaultdict(list)
    shown = {r.item_id for r in run.results[:most]}
    for m in run.records:
        if m.item_id in shown:
            by_item[m.item_id].append(m)
    counts = defaultdict(int)
    failures = call_errors(run.records)
    for r in run.results:
        counts[outcome(r, failures.get(r.item_id))] += 1
    boxes = "".join(
        f"<label style='margin-right:1em'><input type='checkbox' checked value='{kind}' "
        f"onchange='agentlabFilter(this)'> {MARKS[kind]} ({counts[kind]})</label>"
        for kind in MARKS
    )
    items = "".join(
        item_html(run, r, by_item[r.item_id], failures.get(r.item_id)) for r in run.results[:most]
    )
    more = (
        f"<p>… {len(run.results) - most} more items: see results.jsonl and records.jsonl</p>"
        if len(run.results) > most
        else ""
    )
    return (
        f"<div class='explorer'><div class='controls'>{boxes}"
        "<button onclick='agentlabSort(this)'>most tokens first</button></div>"
        f"<div class='items'>{items}</div>{more}</div>"
    )


SCRIPT = """
<script>
function agentlabFilter(box) {
  const root = box.closest('.explorer');
  const on = new Set([...root.querySelectorAll('.controls input:checked')].map(b => b.value));
  root.querySelectorAll('details.item').forEach(d => {
    d.style.display = on.has(d.dataset.outcome) ? '' : 'none';
  });
}
function agentlabSort(button) {
  const list = button.closest('.explorer').querySelector('.items');
  [...list.children].sort((a, b) => b.dataset.tokens - a.dataset.tokens).forEach(d => list.appendChild(d));
}
</script>
"""
