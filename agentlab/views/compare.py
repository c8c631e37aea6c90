"""``al.compare(runs)``: topologies side by side, accuracy (with intervals) against tokens per item,
seed by seed.

Runs are keyed by a label (one run per topology) or by (topology, seed) (an experiment's runs,
``al.load_runs(folder)``). A topology run at several seeds is summarised by the mean of its seeds'
accuracies and a 95% t-interval over them. Each run is tested against the first topology's run of
the same seed, paired item by item (McNemar's exact test and a paired bootstrap of the accuracy
difference); the first topology's own runs are the reference and get no test.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from agentlab.run import Run
from agentlab.stats import mcnemar_exact, mean_interval, paired_bootstrap
from agentlab.views.plots import Plot, accuracy_against_cost
from agentlab.views.svg import edge_tokens, graph_svg

Key = tuple[str, int | None]


def label_of(key: Key) -> str:
    topology, seed = key
    return topology if seed is None else f"{topology}/seed{seed}"


def runs_by_key(runs: Sequence[Run] | Mapping[Any, Run], number_repeats: bool = False) -> dict[Key, Run]:
    """Runs keyed by (topology, seed): a mapping's tuple keys as they are, its other keys as
    labels without a seed; a list's runs by their team and the seed their task was drawn with.
    Two runs of a list with one key are an error, or (``number_repeats``, for tables) "team #2"."""
    if isinstance(runs, Mapping):
        keys = [k if isinstance(k, tuple) else (str(k), None) for k in runs]
        keyed = dict(zip(keys, runs.values(), strict=True))
    else:
        keyed = {}
        for run in runs:
            seed = run.meta.get("task_options", {}).get("seed")
            key = (run.team, seed)
            repeat = 1
            while number_repeats and key in keyed:
                repeat += 1
                key = (f"{run.team} #{repeat}", seed)
            if key in keyed:
                labels = [r.team for r in runs]
                raise ValueError(
                    f"runs share a label {labels}; pass a dict {{label: run}} (or {{(label, seed): run}}) "
                    "to tell them apart"
                )
            keyed[key] = run
    if not keyed:
        raise ValueError("compare needs at least one run")
    return keyed


class Comparison:
    """One row per run (topology and seed): accuracy and its 95% interval, tokens per item, calls,
    and the paired tests against the first topology's run of the same seed; ``groups`` sums each
    topology up over its seeds."""

    def __init__(self, runs: Sequence[Run] | Mapping[Any, Run]) -> None:
        self.keyed = runs_by_key(runs)
        self.runs = list(self.keyed.values())
        self.labels = [label_of(k) for k in self.keyed]
        self.topologies = list(dict.fromkeys(k[0] for k in self.keyed))
        tasks = {r.task for r in self.runs}
        if len(tasks) > 1:
            raise ValueError(f"runs on different tasks {sorted(tasks)} are not comparable item by item")

    @property
    def reference(self) -> str:
        """The topology every other is tested against: the first given."""
        return self.topologies[0]

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for (topology, seed), run in self.keyed.items():
            low, high = run.interval
            base = self.keyed.get((self.reference, seed))
            tested = base is not None and topology != self.reference
            mine = {r.item_id: r.score for r in run.results}
            theirs = {r.item_id: r.score for r in base.results} if tested and base is not None else {}
            shared = sorted(mine.keys() & theirs.keys())
            a, b = [mine[i] for i in shared], [theirs[i] for i in shared]
            rows.append(
                {
                    "topology": topology,
                    "seed": seed,
                    "accuracy": run.accuracy,
                    "ci95": (low, high),
                    "tokens_per_item": run.usage.total_tokens / max(1, run.n_items),
                    "calls": run.calls,
                    "items": run.n_items,
                    "errors": len(run.errors),  # failed calls, as in the run's summary
                    "paired_with": label_of((self.reference, seed)) if shared else None,
                    "mcnemar_p_vs_first": mcnemar_exact(a, b) if shared else None,
                    # mean accuracy difference against the reference, its 95% interval and p
                    "bootstrap_vs_first": paired_bootstrap(a, b, samples=2000) if shared else None,
                    "warnings": run.warnings,
                }
            )
        return rows

    @cached_property
    def groups(self) -> list[dict[str, Any]]:
        """Per topology: its seeds, the mean accuracy and a 95% interval over them (the run's own
        interval when there is one seed), mean tokens per item."""
        out = []
        for topology in self.topologies:
            mine = [r for r in self.rows if r["topology"] == topology]
            if len(mine) == 1:
                mean, (low, high) = mine[0]["accuracy"], mine[0]["ci95"]
            else:
                mean, low, high = mean_interval([r["accuracy"] for r in mine])
                low, high = max(0.0, low), min(1.0, high)
            out.append(
                {
                    "topology": topology,
                    "seeds": len(mine),
                    "accuracy": mean,
                    "ci95": (low, high),
                    "tokens_per_item": sum(r["tokens_per_item"] for r in mine) / len(mine),
                }
            )
        return out

    @property
    def seeded(self) -> bool:
        return any(g["seeds"] > 1 for g in self.groups)

    def to_pandas(self) -> Any:
        """One row per run: topology, seed, accuracy, ci_low, ci_high, tokens_per_item, calls, items,
        errors, paired_with, mcnemar_p, difference, difference_low, difference_high, bootstrap_p."""
        import pandas

        rows = []
        for r in self.rows:
            boot = r["bootstrap_vs_first"]
            rows.append(
                {
                    "topology": r["topology"], "seed": r["seed"], "accuracy": r["accuracy"],
                    "ci_low": r["ci95"][0], "ci_high": r["ci95"][1], "tokens_per_item": r["tokens_per_item"],
                    "calls": r["calls"], "items": r["items"], "errors": r["errors"],
                    "paired_with": r["paired_with"], "mcnemar_p": r["mcnemar_p_vs_first"],
                    "difference": boot[0] if boot else None, "difference_low": boot[1][0] if boot else None,
                    "difference_high": boot[1][1] if boot else None, "bootstrap_p": boot[2] if boot else None,
                }
            )  # fmt: skip
        return pandas.DataFrame(rows)

    def table(self) -> str:
        lines = []
        if self.seeded:
            lines.append(f"{'topology':<18} {'seeds':>5} {'mean acc.':>9} {'95% CI':>13} {'tokens/item':>11}")
            for g in self.groups:
                ci, tokens = f"{g['ci95'][0]:.0%}–{g['ci95'][1]:.0%}", g["tokens_per_item"]
                lines.append(
                    f"{g['topology']:<18} {g['seeds']:>5} {g['accuracy']:>9.1%} {ci:>13} {tokens:>11.0f}"
                )
            lines.append("")
        header = ("topology", "seed", "accuracy", "95% CI", "tokens/item", "p vs ref.")
        lines.append("{:<18} {:>4} {:>8} {:>13} {:>11} {:>9}".format(*header))
        for r in self.rows:
            ci = f"{r['ci95'][0]:.0%}–{r['ci95'][1]:.0%}"
            p = "" if r["mcnemar_p_vs_first"] is None else f"{r['mcnemar_p_vs_first']:.3f}"
            seed = "" if r["seed"] is None else str(r["seed"])
            flag = " ⚠" if r["warnings"] else ""
            tokens = r["tokens_per_item"]
            lines.append(
                f"{r['topology']:<18} {seed:>4} {r['accuracy']:>8.1%} {ci:>13} {tokens:>11.0f} {p:>9}{flag}"
            )
        lines.append(f"(p: McNemar, paired with {self.reference}'s run of the same seed, item by item)")
        return "\n".join(lines)

    def plot(self) -> Plot:
        """Accuracy against tokens per item: each topology's mean with its interval, its seeds faint."""
        points = [(g["topology"], g["tokens_per_item"], g["accuracy"], *g["ci95"]) for g in self.groups]
        seeds = {
            t: [(r["tokens_per_item"], r["accuracy"]) for r in self.rows if r["topology"] == t]
            for t in self.topologies
        }
        title = f"{self.runs[0].task}: accuracy against cost"
        return accuracy_against_cost(points, seeds if self.seeded else None, title=title)

    def graphs_html(self) -> str:
        """Each topology's graph (its first run's); a learned one beside the graph it started from."""
        cells = []
        for topology in self.topologies:
            run = next(r for k, r in self.keyed.items() if k[0] == topology)
            if run.graph is not None:
                drawing = graph_svg(run.graph, edge_tokens(run.records), title=topology)
            elif run.results or run.records:
                first = run.results[0].item_id if run.results else run.records[0].item_id
                drawing = graph_svg(run.graph_of(first), title=f"{topology} (item {first})")
            else:
                continue
            if run.origin is not None:
                drawing = graph_svg(run.origin, title=f"{topology}: started from") + drawing
            cells.append(f"<div style='display:inline-block;margin:4px;vertical-align:top'>{drawing}</div>")
        return "<div>" + "".join(cells) + "</div>"

    def html(self, graphs: bool = True) -> str:
        """Warnings, the means over seeds (when there are seeds), one row per run with its paired
        test, the plot, and (``graphs``) each topology's graph."""
        from agentlab.views.health import warnings_html

        esc = html.escape
        scroll = "<div style='overflow-x:auto'>{}</div>"
        groups = ""
        if self.seeded:
            head = "".join(
                f"<th>{h}</th>"
                for h in ("topology", "seeds", "mean accuracy", "95% CI over seeds", "tokens/item")
            )
            body = "".join(
                f"<tr><td>{esc(g['topology'])}</td><td>{g['seeds']}</td><td>{g['accuracy']:.1%}</td>"
                f"<td>{g['ci95'][0]:.1%}–{g['ci95'][1]:.1%}</td><td>{g['tokens_per_item']:.0f}</td></tr>"
                for g in self.groups
            )
            groups = scroll.format(f"<table><tr>{head}</tr>{body}</table>")
        columns = ("topology", "seed", "accuracy", "95% CI", "tokens/item", "calls", "errors", "paired with",
                   "McNemar p", "difference [95% CI], bootstrap p")  # fmt: skip
        head = "".join(f"<th>{h}</th>" for h in columns)
        body, flagged = "", []
        for r in self.rows:
            p = "" if r["mcnemar_p_vs_first"] is None else f"{r['mcnemar_p_vs_first']:.3f}"
            boot = r["bootstrap_vs_first"]
            diff = f"{boot[0]:+.1%} [{boot[1][0]:+.1%}, {boot[1][1]:+.1%}], p={boot[2]:.3f}" if boot else ""
            seed = "" if r["seed"] is None else r["seed"]
            flag = " ⚠" if r["warnings"] else ""
            flagged += [f"{label_of((r['topology'], r['seed']))}: {w}" for w in r["warnings"]]
            body += (
                f"<tr><td>{esc(r['topology'])}{flag}</td><td>{seed}</td><td>{r['accuracy']:.1%}</td>"
                f"<td>{r['ci95'][0]:.1%}–{r['ci95'][1]:.1%}</td><td>{r['tokens_per_item']:.0f}</td>"
                f"<td>{r['calls']}</td><td>{r['errors']}</td><td>{esc(r['paired_with'] or '')}</td>"
                f"<td>{p}</td><td>{diff}</td></tr>"
            )
        note = (
            f"<p><small>Each run is paired item by item with {esc(self.reference)}'s run of the same seed "
            "(the first topology given is the reference): McNemar's exact test and a paired bootstrap "
            "of the accuracy difference.</small></p>"
        )
        runs = scroll.format(f"<table><tr>{head}</tr>{body}</table>")
        drawn = self.graphs_html() if graphs else ""
        return f"{warnings_html(flagged)}{groups}{runs}{note}{self.plot().text}{drawn}"

    def _repr_html_(self) -> str:
        return self.html()

    def to_html(self, path: str | Path) -> Path:
        from agentlab.views.report import STYLE, provenance_html

        path = Path(path)
        path.write_text(
            "<!doctype html><html><head><meta charset='utf-8'><title>comparison</title>"
            f"<style>{STYLE}</style></head><body>{provenance_html(self.runs)}{self.html()}</body></html>",
            encoding="utf-8",
        )
        return path

    def __repr__(self) -> str:
        return self.table()


def compare(runs: Sequence[Run] | Mapping[Any, Run]) -> Comparison:
    """``al.compare([run_a, run_b])``, ``al.compare({"star": run_a, "learned": run_b})``, or an
    experiment's runs by (topology, seed): ``al.compare(al.load_runs("runs/x"))``."""
    return Comparison(runs)
