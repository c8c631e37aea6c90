"""The result of ``team.run(task)``: every message, every item's answer, and the metrics."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentlab.graph import CommGraph
from agentlab.message import Message, Usage
from agentlab.stats import wilson_interval


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    prediction: Any
    reference: Any
    score: float
    answers: dict[str, Any] = field(default_factory=dict)  # each voter's extracted answer


@dataclass
class Run:
    """Records and metrics of one run; inspecting it never calls a model.

    ``model_seconds`` is the time spent inside model calls (langchain-core's call path included);
    the rest of ``wall_seconds`` is the engine's own.
    """

    team: str
    task: str
    rounds: int
    records: Sequence[Message]  # a list, or a run folder's records read from disk (DiskRecords)
    results: list[ItemResult]
    wall_seconds: float
    model_seconds: float
    steps: int = 0
    stopped: str | None = None  # why the run ended early (a budget), None when every item finished
    graph: CommGraph | None = None  # the team's graph, when every item ran on the same one
    graphs: dict[str, CommGraph] = field(default_factory=dict)  # per item, when they differ
    origin: CommGraph | None = None  # what a learned graph started from (drawn beside it)

    def graph_of(self, item_id: str) -> CommGraph:
        """The graph ``item_id`` ran on; rebuilt from its messages when the run does not know it."""
        known = self.graphs.get(item_id) or self.graph
        return known if known is not None else graph_from_messages(self.messages(item_id))

    @property
    def n_items(self) -> int:
        return len(self.results)

    @property
    def accuracy(self) -> float:
        return sum(r.score for r in self.results) / self.n_items if self.results else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of the accuracy."""
        return wilson_interval(sum(r.score for r in self.results), self.n_items)

    @property
    def usage(self) -> Usage:
        return sum((m.usage for m in self.records), Usage())

    @property
    def calls(self) -> int:
        return len(self.records)

    @property
    def cache_hits(self) -> int:
        return sum(m.cached for m in self.records)

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.records if m.error is not None]

    def usage_by_agent(self) -> dict[str, Usage]:
        totals: dict[str, Usage] = defaultdict(Usage)
        for m in self.records:
            totals[m.sender] += m.usage
        return dict(totals)

    def usage_by_round(self) -> dict[int, Usage]:
        totals: dict[int, Usage] = defaultdict(Usage)
        for m in self.records:
            totals[m.round] += m.usage
        return dict(totals)

    def messages(self, item_id: str) -> list[Message]:
        return [m for m in self.records if m.item_id == item_id]

    def summary(self) -> dict[str, Any]:
        low, high = self.interval
        # one pass over the records: they may be read from disk (a run folder's DiskRecords)
        usage, calls, hits, errors = Usage(), 0, 0, 0
        for m in self.records:
            usage += m.usage
            calls += 1
            hits += m.cached
            errors += m.error is not None
        return {
            "team": self.team,
            "task": self.task,
            "items": self.n_items,
            "rounds": self.rounds,
            "accuracy": round(self.accuracy, 4),
            "ci95": (round(low, 4), round(high, 4)),
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "tokens_per_item": round(usage.total_tokens / max(1, self.n_items), 1),
            "calls": calls,
            "cache_hits": hits,
            "errors": errors,
            "wall_seconds": round(self.wall_seconds, 2),
            "stopped": self.stopped,
        }

    def __repr__(self) -> str:
        s = self.summary()
        low, high = s["ci95"]
        return (
            f"Run({s['team']} on {s['task']}: accuracy {s['accuracy']:.1%} [95% CI {low:.1%}–{high:.1%}] "
            f"over {s['items']} items × {s['rounds']} rounds; tokens {s['prompt_tokens']} prompt + "
            f"{s['completion_tokens']} completion; {s['calls']} calls, {s['cache_hits']} cached, "
            f"{s['errors']} errors; {s['wall_seconds']} s"
            + (f"; STOPPED EARLY: {self.stopped}" if self.stopped else "")
            + ")"
        )

    def _repr_html_(self) -> str:
        from agentlab.views.svg import edge_tokens, graph_svg

        drawing = ""
        if self.graph is not None:
            drawing = graph_svg(
                self.graph, edge_tokens(self.records), title="graph (edge width: tokens carried)"
            )
        return summary_table([self]) + drawing

    def show(self) -> Any:
        """An interactive explorer (ipywidgets): the graph, a step slider, an item picker, each message."""
        from agentlab.views.explorer import Explorer

        return Explorer(self)

    def to_html(self, path: str | Path) -> Path:
        """A self-contained HTML report: summary, tokens per agent, every item's transcript."""
        return write_report([self], path)


_COLUMNS = (
    "team",
    "task",
    "items",
    "accuracy",
    "ci95",
    "tokens_per_item",
    "calls",
    "cache_hits",
    "errors",
    "wall_seconds",
)


def graph_from_messages(messages: Sequence[Message]) -> CommGraph:
    """The graph a set of messages implies: an edge is spatial when its receiver spoke later in the
    same round, temporal otherwise."""
    agents = list(dict.fromkeys(m.sender for m in messages))
    step_of = {(m.round, m.sender): m.step for m in messages}
    spatial, temporal = set(), set()
    for m in messages:
        for receiver in m.receivers:
            later = step_of.get((m.round, receiver), -1) > m.step
            (spatial if later else temporal).add((m.sender, receiver))
    return CommGraph(agents or ["?"], sorted(spatial), sorted(temporal))


def summary_table(runs: Sequence[Run]) -> str:
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    rows = []
    for run in runs:
        s = run.summary()
        s["accuracy"] = f"{s['accuracy']:.1%}"
        s["ci95"] = f"{s['ci95'][0]:.1%}–{s['ci95'][1]:.1%}"
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(s[c]))}</td>" for c in _COLUMNS) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def text_table(runs: Sequence[Run]) -> str:
    """The same summary as plain text, for terminals and logs."""
    lines = []
    for run in runs:
        s = run.summary()
        lo, hi = s["ci95"]
        lines.append(
            (
                s["team"],
                f"{s['accuracy']:.1%}",
                f"{lo:.1%}–{hi:.1%}",
                str(s["tokens_per_item"]),
                str(s["calls"]),
                str(s["cache_hits"]),
                str(s["errors"]),
                f"{s['wall_seconds']:.1f}",
            )
        )
    header = ("team", "accuracy", "95% CI", "tokens/item", "calls", "cached", "errors", "seconds")
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [header, *lines])


def report_html(runs: Sequence[Run], title: str | None = None) -> str:
    """One self-contained page: the summary of every run, then each run's tokens and transcripts."""
    esc = html.escape
    title = title or ", ".join(f"{r.team} on {r.task}" for r in runs)
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}.msg{margin:.5em 0 .5em 1em}"
    )
    sections = "".join(_run_section(run) for run in runs)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{style}</style></head><body><h1>{esc(title)}</h1>{summary_table(runs)}{sections}</body></html>"
    )


def write_report(runs: Sequence[Run], path: str | Path, title: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(runs, title), encoding="utf-8")
    return path


REPORT_ITEMS = 200  # transcripts in a report; a 10,000-item run would make a page nobody opens


def _run_section(run: Run) -> str:
    esc = html.escape
    agents = "".join(
        f"<tr><td>{esc(a)}</td><td>{u.prompt_tokens}</td><td>{u.completion_tokens}</td></tr>"
        for a, u in run.usage_by_agent().items()
    )
    from agentlab.views.explorer import message_html
    from agentlab.views.svg import edge_tokens, graph_svg

    shown = {r.item_id for r in run.results[:REPORT_ITEMS]}
    by_item: dict[str, list[Message]] = defaultdict(list)
    for m in run.records:
        if m.item_id in shown:
            by_item[m.item_id].append(m)
    items = []
    for result in run.results[:REPORT_ITEMS]:
        mark = "✔" if result.score >= 1 else "✘"
        turns = "".join(message_html(m) for m in by_item[result.item_id])
        items.append(
            f"<details><summary>{mark} {esc(result.item_id)}: predicted {esc(str(result.prediction))}, "
            f"reference {esc(str(result.reference))}</summary>{turns}</details>"
        )
    if run.graph is not None:
        drawing = graph_svg(run.graph, edge_tokens(run.records), title="edge width: tokens carried")
    elif run.results:
        first = run.results[0].item_id
        drawing = graph_svg(run.graph_of(first), edge_tokens(by_item[first]), title=f"graph of item {first}")
    else:
        drawing = ""
    if len(run.results) > REPORT_ITEMS:
        more = len(run.results) - REPORT_ITEMS
        items.append(f"<p>… {more} more items: see results.jsonl and records.jsonl</p>")
    return (
        f"<h2>{esc(run.team)} on {esc(run.task)}</h2>{drawing}"
        f"<h3>Tokens per agent</h3><table><tr><th>agent</th>"
        f"<th>prompt</th><th>completion</th></tr>{agents}</table><h3>Items</h3>{''.join(items)}"
    )
