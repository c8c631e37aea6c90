"""``al.compare(runs)``: topologies side by side, accuracy (with intervals) against tokens per item."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from agentlab.run import Run
from agentlab.stats import mcnemar_exact, paired_bootstrap
from agentlab.views.svg import Point, edge_tokens, graph_svg, scatter_svg


class Svg:
    """An SVG string that notebooks display as a picture."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_svg_(self) -> str:
        return self.text

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.text, encoding="utf-8")
        return path


class Comparison:
    """One row per run: accuracy and its 95% interval, tokens per item, calls, and a paired McNemar
    test against the first run on the items both finished."""

    def __init__(self, runs: Sequence[Run] | Mapping[str, Run]) -> None:
        if isinstance(runs, Mapping):
            self.labels, self.runs = list(runs), list(runs.values())
        else:
            self.runs = list(runs)
            self.labels = [r.team for r in self.runs]
        if not self.runs:
            raise ValueError("compare needs at least one run")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(
                f"runs share a label {self.labels}; pass a dict {{label: run}} to tell them apart"
            )
        tasks = {r.task for r in self.runs}
        if len(tasks) > 1:
            raise ValueError(f"runs on different tasks {sorted(tasks)} are not comparable item by item")

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        first = {r.item_id: r.score for r in self.runs[0].results}
        rows = []
        for label, run in zip(self.labels, self.runs, strict=True):
            low, high = run.interval
            mine = {r.item_id: r.score for r in run.results}
            shared = sorted(first.keys() & mine.keys())
            rows.append(
                {
                    "topology": label,
                    "accuracy": run.accuracy,
                    "ci95": (low, high),
                    "tokens_per_item": run.usage.total_tokens / max(1, run.n_items),
                    "calls": run.calls,
                    "items": run.n_items,
                    "mcnemar_p_vs_first": (
                        mcnemar_exact([mine[i] for i in shared], [first[i] for i in shared])
                        if run is not self.runs[0] and shared
                        else None
                    ),
                    # mean accuracy difference against the first, its 95% interval and p
                    "bootstrap_vs_first": (
                        paired_bootstrap([mine[i] for i in shared], [first[i] for i in shared], samples=2000)
                        if run is not self.runs[0] and shared
                        else None
                    ),
                }
            )
        return rows

    def table(self) -> str:
        lines = [f"{'topology':<14} {'accuracy':>8} {'95% CI':>13} {'tokens/item':>11} {'p vs first':>10}"]
        for r in self.rows:
            ci = f"{r['ci95'][0]:.0%}–{r['ci95'][1]:.0%}"
            p = "" if r["mcnemar_p_vs_first"] is None else f"{r['mcnemar_p_vs_first']:.3f}"
            lines.append(
                f"{r['topology']:<14} {r['accuracy']:>8.1%} {ci:>13} {r['tokens_per_item']:>11.0f} {p:>10}"
            )
        return "\n".join(lines)

    def plot(self) -> Svg:
        points = [Point(r["topology"], r["tokens_per_item"], r["accuracy"], *r["ci95"]) for r in self.rows]
        return Svg(scatter_svg(points, title=f"{self.runs[0].task}: accuracy against cost"))

    def graphs_html(self) -> str:
        """Each run's graph; a learned one beside the graph its learning started from."""
        cells = []
        for label, run in zip(self.labels, self.runs, strict=True):
            if run.graph is not None:
                drawing = graph_svg(run.graph, edge_tokens(run.records), width=240, height=170, title=label)
            else:
                first = run.results[0].item_id if run.results else run.records[0].item_id
                drawing = graph_svg(
                    run.graph_of(first), width=240, height=170, title=f"{label} (item {first})"
                )
            if run.origin is not None:
                drawing = (
                    graph_svg(run.origin, width=240, height=170, title=f"{label}: started from") + drawing
                )
            cells.append(f"<div style='display:inline-block;margin:4px'>{drawing}</div>")
        return "<div>" + "".join(cells) + "</div>"

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{h}</th>" for h in ("topology", "accuracy", "95% CI", "tokens/item", "calls", "p vs first")
        )
        body = ""
        for r in self.rows:
            p = "" if r["mcnemar_p_vs_first"] is None else f"{r['mcnemar_p_vs_first']:.3f}"
            body += (
                f"<tr><td>{html.escape(r['topology'])}</td><td>{r['accuracy']:.1%}</td>"
                f"<td>{r['ci95'][0]:.1%}–{r['ci95'][1]:.1%}</td><td>{r['tokens_per_item']:.0f}</td>"
                f"<td>{r['calls']}</td><td>{p}</td></tr>"
            )
        return f"<table><tr>{head}</tr>{body}</table>{self.plot().text}{self.graphs_html()}"

    def to_html(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>comparison</title></head>"
            f"<body style='font-family:sans-serif'>{self._repr_html_()}</body></html>",
            encoding="utf-8",
        )
        return path

    def __repr__(self) -> str:
        return self.table()


def compare(runs: Sequence[Run] | Mapping[str, Run]) -> Comparison:
    """``al.compare([run_a, run_b])`` or ``al.compare({"star": run_a, "learned": run_b})``."""
    return Comparison(runs)
