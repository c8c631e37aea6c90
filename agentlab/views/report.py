"""The run report (one self-contained HTML page) and the summary tables it and the notebook share."""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentlab.run import Run
from agentlab.views.health import warnings_html
from agentlab.views.items import SCRIPT, items_html
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
    "tool_errors",
    "model_seconds",
    "wall_seconds",
)


def summary_table(
    runs: Sequence[Run], labels: Sequence[str] | None = None, warnings: Sequence[list[str]] | None = None
) -> str:
    """One row per run; ``labels`` name the runs (a topology and its seed) in place of the team;
    ``warnings``, each run's, when the caller has read them already (each read walks the records)."""
    head = "".join(f"<th>{'run' if c == 'team' else c}</th>" for c in _COLUMNS)
    warnings = warnings if warnings is not None else [run.warnings for run in runs]
    rows = []
    for k, run in enumerate(runs):
        s = run.summary()
        s["team"] = labels[k] if labels else s["team"]
        s["accuracy"] = f"{s['accuracy']:.1%}"
        s["ci95"] = f"{s['ci95'][0]:.1%}–{s['ci95'][1]:.1%}"
        flag = "<td title='see the warnings above'>⚠</td>" if warnings[k] else "<td></td>"
        cells = "".join(f"<td>{html.escape(str(s[c]))}</td>" for c in _COLUMNS)
        rows.append(f"<tr>{flag}{cells}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def text_table(runs: Sequence[Run] | Mapping[Any, Run]) -> str:
    """The same summary as plain text, for terminals and logs, with each run's warnings after it."""
    from agentlab.views.compare import label_of, runs_by_key

    labelled = {label_of(key): run for key, run in runs_by_key(runs, number_repeats=True).items()}
    lines, warned = [], []
    for label, run in labelled.items():
        s, warnings = run.summary(), run.warnings  # each a pass over the run's records
        lo, hi = s["ci95"]
        lines.append(
            (
                label + (" ⚠" if warnings else ""),
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
        warned += [f"WARNING {label}: {w}" for w in warnings]
    header = ("run", "accuracy", "95% CI", "tokens/item", "computed", "cached", "errors", "model s",
              "seconds")  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([*(fmt.format(*r) for r in [header, *lines]), *(["", *warned] if warned else [])])


def report_html(runs: Sequence[Run] | Mapping[Any, Run], title: str | None = None) -> str:
    """One self-contained page: where the runs came from (model, settings, seeds, agentlab's
    version and commit, the date), warnings, the summary of every run (what was computed and what
    the cache answered, apart), the comparison when runs share a task (means over seeds, accuracy
    against tokens, paired tests), then each run's tools, graph and items, which filter and sort
    without a kernel. ``runs`` may be keyed: ``{label: run}`` or ``{(topology, seed): run}``."""
    from agentlab.views.compare import Comparison, label_of, runs_by_key

    esc = html.escape
    keyed = runs_by_key(runs, number_repeats=True)
    labelled = {label_of(key): run for key, run in keyed.items()}
    runs = list(labelled.values())
    title = title or ", ".join(dict.fromkeys(f"{r.team} on {r.task}" for r in runs))
    warned = {label: run.warnings for label, run in labelled.items()}
    sections = "".join(
        _run_section(label, run, len(labelled) > 1, warned[label]) for label, run in labelled.items()
    )
    comparable = len(keyed) > 1 and len({r.task for r in runs}) == 1
    comparison = f"<h2>Comparison</h2>{Comparison(keyed).html(graphs=False)}" if comparable else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{STYLE}</style>{SCRIPT}</head><body><h1>{esc(title)}</h1>{provenance_html(runs)}"
        f"{warnings_html([f'{label}: {w}' for label, ws in warned.items() for w in ws])}<h2>Runs</h2>"
        f"<div class='scroll'>{summary_table(runs, list(labelled), list(warned.values()))}</div>"
        f"{comparison}{sections}"
        "</body></html>"
    )


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;white-space:nowrap}.scroll{overflow-x:auto}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}.msg{margin:.5em 0 .5em 1em}"
    "details.item{margin:.2em 0}.controls{margin:.5em 0}.provenance td{white-space:normal}"
)


def provenance_html(runs: Sequence[Run]) -> str:
    """Models and their settings, run settings, the tasks' options (seeds), agentlab's version,
    commit and the date, from each run's ``meta``."""
    esc = html.escape
    metas = [r.meta for r in runs if r.meta]
    if not metas:
        return ""
    models = {json.dumps(m, sort_keys=True): m for meta in metas for m in meta.get("models", [])}
    settings = {json.dumps(meta.get("settings", {}), sort_keys=True) for meta in metas}
    seeds = sorted({str(meta.get("task_options", {}).get("seed")) for meta in metas})
    options = {json.dumps(meta.get("task_options", {}), sort_keys=True) for meta in metas}
    first = metas[0]
    rows = [
        ("models", "; ".join(", ".join(f"{k}={v}" for k, v in m.items()) for m in models.values())),
        ("run settings", " | ".join(sorted(settings)) if settings != {"{}"} else "defaults"),
        ("task options", " | ".join(sorted(options))),
        ("seeds", ", ".join(seeds)),
        ("agentlab", f"{first.get('agentlab')} (commit {first.get('commit') or 'unknown: not a checkout'})"),
        ("date", ", ".join(sorted({meta.get("date", "") for meta in metas}))),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='provenance'>{body}</table>"


def tools_table(run: Run) -> str:
    """The tools a run's agents called: calls, failures, and an example of each (its arguments,
    what came back, the error)."""
    esc = html.escape
    uses: dict[str, list] = defaultdict(list)
    for m in run.records:
        for use in m.tool_calls:
            uses[use.name].append(use)
    if not uses:
        return ""
    rows = []
    for name, calls in uses.items():
        failed = [u for u in calls if u.error is not None]
        example = calls[0]
        shown = esc(example.error or example.output)[:200]
        rows.append(
            f"<tr><td>{esc(name)}</td><td>{len(calls)}</td><td>{len(failed)}</td>"
            f"<td><code>{esc(json.dumps(example.args))[:200]}</code></td><td>{shown}</td>"
            f"<td>{esc(failed[0].error or '')[:200] if failed else ''}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("tool", "calls", "errors", "e.g. arguments", "its result", "an error")
    )
    return f"<h3>Tools</h3><div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def graph_view(run: Run) -> str:
    """The graph the run used: the team's, edges weighted by tokens; where each item had its own,
    the distinct ones with the items that ran on each; a routed run's routes are per item."""
    if run.graph is not None:
        return graph_svg(run.graph, edge_tokens(run.records), title="graph (edge width: tokens carried)")
    routed = not run.graphs
    graphs = run.graphs or {r.item_id: run.graph_of(r.item_id) for r in run.results[:ROUTES_DRAWN]}
    if not graphs:
        return ""
    distinct: dict[Any, list[str]] = defaultdict(list)
    for item, graph in graphs.items():
        distinct[(graph.spatial, graph.temporal, graph.decision, graph.silent, graph.by_round)].append(item)
    drawings = []
    for items in list(distinct.values())[:4]:
        drawings.append(
            "<div style='display:inline-block;vertical-align:top;margin:4px'>"
            + graph_svg(graphs[items[0]], title=f"{len(items)} item(s), e.g. {items[0]}")
            + "</div>"
        )
    more = f"<p>… and {len(distinct) - 4} more graphs</p>" if len(distinct) > 4 else ""
    how = (
        f"Routed at run time: who heard whom in the first {len(graphs)} items' routes, "
        f"{len(distinct)} distinct (each item's route step by step is in its entry below)"
        if routed
        else f"{len(distinct)} distinct graph(s) across {len(graphs)} items"
    )
    return f"<p>{how}:</p>{''.join(drawings)}{more}"


ROUTES_DRAWN = 50  # items whose route a routed run's summary draws from


def write_report(runs: Sequence[Run] | Mapping[Any, Run], path: str | Path, title: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(runs, title), encoding="utf-8")
    return path


REPORT_ITEMS = 200  # transcripts in a report; a 10,000-item run would make a page nobody opens


def _run_section(label: str, run: Run, several: bool, warnings: list[str]) -> str:
    esc = html.escape
    agents = "".join(
        f"<tr><td>{esc(a)}</td><td>{u.prompt_tokens}</td><td>{u.completion_tokens}</td></tr>"
        for a, u in run.usage_by_agent().items()
    )
    isolations = Counter(r.scoring["isolation"] for r in run.results if "isolation" in r.scoring)
    scored = (
        "<p>Scored by running the code in the sandbox: "
        + ", ".join(f"{esc(k)} ({n} items)" for k, n in sorted(isolations.items()))
        + (
            " — <b>the in-process guard only, not a boundary</b>"
            if any("guard" in k for k in isolations)
            else ""
        )
        + "</p>"
        if isolations
        else ""
    )
    heading = f"<h2>{esc(label)}: {esc(run.team)} on {esc(run.task)}</h2>" if several else "<h2>The run</h2>"
    return (
        f"{heading}{warnings_html(warnings)}{scored}{graph_view(run)}{tools_table(run)}"
        f"<h3>Tokens per agent</h3><table><tr><th>agent</th><th>prompt</th><th>completion</th></tr>{agents}"
        f"</table><h3>Items</h3>{items_html(run, REPORT_ITEMS)}"
    )
