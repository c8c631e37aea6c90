"""The result of ``team.run(task)``: every message, every item's answer, and the metrics."""

from __future__ import annotations

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
    scoring: dict[str, Any] = field(default_factory=dict)  # how it was scored (e.g. the sandbox's isolation)
    error: str | None = None  # why the item has no answer (a route that could not go on)


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
    # where it came from: models and their settings, run settings, the task's options, agentlab's
    # version and commit, the date (agentlab.provenance)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self, per: str = "message") -> Any:
        """A pandas DataFrame: one row per message (``per="message"``) or per item (``"item"``);
        the columns are documented in ``agentlab.views.frames``."""
        from agentlab.views.frames import items_frame, messages_frame

        if per not in ("message", "item"):
            raise ValueError(f"per is 'message' or 'item'; got {per!r}")
        return messages_frame(self) if per == "message" else items_frame(self)

    @property
    def warnings(self) -> list[str]:
        """Failures past their threshold: calls or tool calls that failed, items that ended in an
        error or with no answer read (``agentlab.views.health``)."""
        from agentlab.views.health import run_warnings

        return run_warnings(self)

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
        usage, computed, calls, hits, errors, tool_errors = Usage(), Usage(), 0, 0, 0, 0
        for m in self.records:
            usage += m.usage
            calls += 1
            hits += m.cached
            errors += m.error is not None
            tool_errors += sum(t.error is not None for t in m.tool_calls)
            if not m.cached:
                computed += m.usage
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
            # what this run computed, apart from what the call cache answered (those tokens were
            # paid for when the calls first ran): a rerun from the cache is not free, only cheap
            "computed_calls": calls - hits,
            "computed_tokens": computed.total_tokens,
            "cached_tokens": usage.total_tokens - computed.total_tokens,
            "errors": errors,  # failed model calls
            "tool_errors": tool_errors,  # failed tool calls (the turn goes on: the agent is told)
            "model_seconds": round(self.model_seconds, 2),
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
            + "".join(f"\n  WARNING: {w}" for w in self.warnings)
        )

    def _repr_html_(self) -> str:
        from agentlab.views.health import warnings_html
        from agentlab.views.report import graph_view, summary_table, tools_table

        warnings = self.warnings  # a pass over the records: read once
        return (
            warnings_html(warnings)
            + summary_table([self], warnings=[warnings])
            + tools_table(self)
            + graph_view(self)
        )

    def show(self) -> Any:
        """An interactive explorer (ipywidgets): the graph, a step slider, an item picker, each message."""
        from agentlab.views.explorer import Explorer

        return Explorer(self)

    def to_html(self, path: str | Path) -> Path:
        """A self-contained HTML report: summary, tokens per agent, every item's transcript."""
        from agentlab.views.report import write_report

        return write_report([self], path)


def graph_from_messages(messages: Sequence[Message]) -> CommGraph:
    """The graph a set of messages implies: an edge is spatial when its receiver spoke later in the
    same round, temporal otherwise."""
    agents = list(dict.fromkeys([*(m.sender for m in messages), *(r for m in messages for r in m.receivers)]))
    step_of = {(m.round, m.sender): m.step for m in messages}
    spatial, temporal = set(), set()
    for m in messages:
        for receiver in m.receivers:
            later = step_of.get((m.round, receiver), -1) > m.step
            (spatial if later else temporal).add((m.sender, receiver))
    return CommGraph(agents or ["?"], sorted(spatial), sorted(temporal))
