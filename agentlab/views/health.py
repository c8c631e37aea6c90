"""Failures that must not pass silently: the share of a run's calls that failed, of its tool calls
that raised, of its items that ended in an error or with no answer read, of a simulation's actions
the environment could not use. Past a threshold each becomes a warning the notebook display, the
report and the CLI show.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from agentlab.views.frames import why_not

if TYPE_CHECKING:
    from agentlab.envs.simulate import Simulation
    from agentlab.run import Run

FAILED = 0.05  # of calls, tool calls or items: past this a run's failures are a warning
UNANSWERED = 0.2  # of items whose answer could not be read: weak models miss some formats


def _share(part: int, whole: int, threshold: float) -> bool:
    return whole > 0 and part > 0 and part / whole >= threshold


def _first(errors: Counter[str]) -> str:
    ((error, _),) = errors.most_common(1)
    return f"{error[:160]}{' (and others)' if len(errors) > 1 else ''}"


def run_warnings(run: Run) -> list[str]:
    found = []
    calls = failed = uses = broken = 0
    errors: Counter[str] = Counter()
    tool_errors: Counter[str] = Counter()
    failures: dict[str, str] = {}  # each item's first failed call
    for m in run.records:
        calls += 1
        if m.error is not None:
            failed += 1
            errors[m.error] += 1
            failures.setdefault(m.item_id, m.error)
        for use in m.tool_calls:
            uses += 1
            if use.error is not None:
                broken += 1
                tool_errors[f"{use.name}: {use.error}"] += 1
    if _share(failed, calls, FAILED):
        found.append(
            f"{failed} of {calls} model calls failed ({failed / calls:.0%}); most often: {_first(errors)}"
        )
    if _share(broken, uses, FAILED):
        found.append(
            f"{broken} of {uses} tool calls failed ({broken / uses:.0%}); most often: {_first(tool_errors)}"
        )
    items = len(run.results)
    reasons = [why_not(r, failures.get(r.item_id)) for r in run.results]
    errored = Counter(reason for reason in reasons if reason is not None)
    if _share(sum(errored.values()), items, FAILED):
        n = sum(errored.values())
        found.append(
            f"{n} of {items} items ended in an error, not an answer ({n / items:.0%}): {_first(errored)}"
        )
    unanswered = sum(
        reason is None and r.prediction is None and r.score < 1
        for r, reason in zip(run.results, reasons, strict=True)
    )
    if _share(unanswered, items, UNANSWERED):
        found.append(
            f"{unanswered} of {items} items had no answer the task could read ({unanswered / items:.0%}): "
            "check the replies' format against the task's extractor"
        )
    unfit = sum(r.scoring.get("unparsed_after_reask", 0) for r in run.results)
    asked = sum(r.scoring.get("reasks", 0) for r in run.results)
    if _share(unfit, asked, UNANSWERED):
        found.append(f"{unfit} of {asked} replies asked again still did not fit the task's format")
    return found


def simulation_warnings(sim: Simulation) -> list[str]:
    found = []
    actions = invalid = 0
    stopped: Counter[str] = Counter()
    for episode in sim.timeline:
        for row in episode:
            actions += len(row["rewards"])
            invalid += len(row.get("invalid", {}))
            if row.get("error"):
                stopped[row["error"]] += 1
    if _share(invalid, actions, FAILED):
        found.append(
            f"{invalid} of {actions} actions were invalid ({invalid / actions:.0%}): the environment could "
            "not read them (see each step's 'invalid' in the timeline)"
        )
    if stopped:
        found.append(f"{sum(stopped.values())} discussions ended early: {_first(stopped)}")
    if _share(sim.failed_calls, sim.calls, FAILED):
        found.append(
            f"{sim.failed_calls} of {sim.calls} model calls failed ({sim.failed_calls / sim.calls:.0%})"
        )
    return found


def warnings_html(warnings: list[str]) -> str:
    import html

    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    return (
        "<div class='agentlab-warning' style='border:2px solid #c44e52;background:#fdecea;"
        "padding:.4em .8em;margin:.5em 0'><b>⚠ Look before trusting these numbers:</b>"
        f"<ul style='margin:.2em 0'>{items}</ul></div>"
    )
