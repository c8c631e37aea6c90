"""The run report (one self-contained HTML page) and the summary tables it and the notebook share."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from agentlab.message import Message
from agentlab.run import Run
from agentlab.views.explorer import message_html
from agentlab.views.svg import edge_tokens, graph_svg

_COLUMNS = (
    "team",
    "task",
    "items",
    "accuracy",
    "ci95",
    "tokens_per_item",
    "computed_calls",
    "computed_tokens",
    "cache_hits",
    "cached_tokens",
    "errors",
    "model_seconds",
    "wall_seconds",
)


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
                str(s["computed_calls"]),
                str(s["cache_hits"]),
                str(s["errors"]),
                f"{s['model_seconds']:.1f}",
                f"{s['wall_seconds']:.1f}",
            )
        )
    header = (
        "team",
        "accuracy",
        "95% CI",
        "tokens/item",
        "computed",
        "cached",
        "errors",
        "model s",
        "seconds",
    )
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [header, *lines])


def report_html(runs: Sequence[Run] | Mapping[str, Run], title: str | None = None) -> str:
    """One self-contained page: the summary of every run (what was computed and what the cache
    answered, apart), accuracy against tokens with intervals and the paired tests when runs share a
    task, then each run's tokens and transcripts. ``runs`` may be labelled: ``{label: run}``."""
    esc = html.escape
    labelled = dict(runs) if isinstance(runs, Mapping) else _labelled(runs)
    runs = list(labelled.values())
    title = title or ", ".join(f"{r.team} on {r.task}" for r in runs)
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}.msg{margin:.5em 0 .5em 1em}"
    )
    sections = "".join(_run_section(run) for run in runs)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{style}</style></head><body><h1>{esc(title)}</h1>{summary_table(runs)}"
        f"{_comparison(labelled)}{sections}</body></html>"
    )


def _labelled(runs: Sequence[Run]) -> dict[str, Run]:
    """Runs by their team's name, numbered where names repeat (seeds of one topology)."""
    counts = Counter(r.team for r in runs)
    seen: Counter[str] = Counter()
    out = {}
    for run in runs:
        seen[run.team] += 1
        out[run.team if counts[run.team] == 1 else f"{run.team} #{seen[run.team]}"] = run
    return out


def _comparison(runs: Mapping[str, Run]) -> str:
    """Accuracy against tokens per item with 95% intervals, and each run's paired tests against
    the first on the items both finished, when there are runs to compare on one task."""
    if len(runs) < 2 or len({r.task for r in runs.values()}) > 1:
        return ""
    from agentlab.views.compare import Comparison

    comparison = Comparison(runs)
    rows = []
    for row in comparison.rows[1:]:
        p = row["mcnemar_p_vs_first"]
        boot = row["bootstrap_vs_first"]
        diff = f"{boot[0]:+.1%} [{boot[1][0]:+.1%}, {boot[1][1]:+.1%}], p={boot[2]:.3f}" if boot else ""
        rows.append(
            f"<tr><td>{html.escape(row['topology'])}</td><td>{'' if p is None else f'{p:.3f}'}</td>"
            f"<td>{diff}</td></tr>"
        )
    first = html.escape(comparison.labels[0])
    return (
        f"<h2>Accuracy against cost</h2>{comparison.plot().text}"
        f"<h3>Paired tests against {first}</h3><table><tr><th>run</th><th>McNemar exact p</th>"
        f"<th>accuracy difference, bootstrap 95% interval</th></tr>{''.join(rows)}</table>"
    )


def write_report(runs: Sequence[Run] | Mapping[str, Run], path: str | Path, title: str | None = None) -> Path:
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
    shown = {r.item_id for r in run.results[:REPORT_ITEMS]}
    by_item: dict[str, list[Message]] = defaultdict(list)
    for m in run.records:
        if m.item_id in shown:
            by_item[m.item_id].append(m)
    items = []
    for result in run.results[:REPORT_ITEMS]:
        mark = "✔" if result.score >= 1 else "✘"
        turns = "".join(message_html(m) for m in by_item[result.item_id])
        outcome = f" ({esc(result.scoring['outcome'])})" if "outcome" in result.scoring else ""
        items.append(
            f"<details><summary>{mark}{outcome} {esc(result.item_id)}: predicted "
            f"{esc(str(result.prediction))}, reference {esc(str(result.reference))}</summary>"
            f"{turns}</details>"
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
    isolations = Counter(r.scoring["isolation"] for r in run.results if "isolation" in r.scoring)
    scored = (
        "<p>Scored by running the code in the sandbox: "
        + ", ".join(f"{esc(k)} ({n} items)" for k, n in sorted(isolations.items()))
        + (" — <b>the in-process guard only, not a boundary</b>" if "guard" in isolations else "")
        + "</p>"
        if isolations
        else ""
    )
    return (
        f"<h2>{esc(run.team)} on {esc(run.task)}</h2>{scored}{drawing}"
        f"<h3>Tokens per agent</h3><table><tr><th>agent</th>"
        f"<th>prompt</th><th>completion</th></tr>{agents}</table><h3>Items</h3>{''.join(items)}"
    )
