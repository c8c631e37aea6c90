"""Runs, comparisons, simulations and run folders as pandas DataFrames with flat columns.

Messages (``run.to_pandas()``), one row per agent call:

==================  ============================================================================
item                the item's id
sender              the agent that spoke
receivers           who heard it, comma-separated ("" for nobody)
round, step         its round (a route's step) and the runtime step that made it
prompt_tokens       exact, as the model counted them (completion_tokens, cached_tokens likewise)
latency             seconds of its batch, divided among its calls
cached              True when the call cache answered it
error               why the call failed, or None
model               the model that answered
tool_calls          how many tools it called in its turn; tool_errors: how many of those failed
tools               the tools' names, comma-separated
rejected            replies of its turn the task asked again about
content             what it said
==================  ============================================================================

Items (``run.to_pandas(per="item")``): item, prediction, reference, score, correct, error (why the
item has no answer: its protocol's error, or a failed call), outcome ("right", "wrong",
"unanswered": no answer could be read, or "error"), calls, failed_calls,
prompt_tokens, completion_tokens, tokens. A run folder's runs (``al.load_runs(folder).to_pandas()``)
add ``topology`` and ``seed``; a simulation's steps (``sim.to_pandas()``) have episode, step, phase,
each key of the state as ``state.<key>``, each agent's reward as ``reward.<agent>`` and the number
of invalid actions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from agentlab.envs.simulate import Simulation
    from agentlab.message import Message
    from agentlab.run import ItemResult, Run

MESSAGE_COLUMNS = (
    "item", "sender", "receivers", "round", "step", "prompt_tokens", "completion_tokens", "cached_tokens",
    "latency", "cached", "error", "model", "tool_calls", "tool_errors", "tools", "rejected", "content",
)  # fmt: skip
ITEM_COLUMNS = (
    "item", "prediction", "reference", "score", "correct", "error", "outcome", "calls", "failed_calls",
    "prompt_tokens", "completion_tokens", "tokens",
)  # fmt: skip


def _pandas() -> Any:
    import pandas

    return pandas


def outcome(result: ItemResult, call_error: str | None = None) -> str:
    """How an item ended: "right", "wrong", "unanswered" (no answer could be read) or "error"
    (``why_not`` has a reason: its protocol failed, or a failed call left it no answer)."""
    if why_not(result, call_error) is not None:
        return "error"
    if result.score >= 1:
        return "right"
    return "unanswered" if result.prediction is None else "wrong"


def call_errors(records: Iterable[Message]) -> dict[str, str]:
    """Each item's first failed call's error, for the items that have one."""
    found: dict[str, str] = {}
    for m in records:
        if m.error is not None and m.item_id not in found:
            found[m.item_id] = m.error
    return found


def why_not(result: ItemResult, call_error: str | None) -> str | None:
    """Why an item has no answer: its protocol's error, or the failed call that left it none."""
    if result.error is not None:
        return result.error
    if result.prediction is None and result.score < 1 and call_error is not None:
        return f"a call failed: {call_error}"
    return None


def messages_frame(run: Run) -> pd.DataFrame:
    rows = []
    for m in run.records:
        u = m.usage
        rows.append(
            (
                m.item_id, m.sender, ",".join(m.receivers), m.round, m.step, u.prompt_tokens,
                u.completion_tokens, u.cached_tokens, m.latency, m.cached, m.error, m.model,
                len(m.tool_calls), sum(t.error is not None for t in m.tool_calls),
                ",".join(t.name for t in m.tool_calls), len(m.rejected), m.content,
            )
        )  # fmt: skip
    if not rows:
        raise ValueError(
            f"run of {run.team} on {run.task} has no records to tabulate: it made no call (an empty task, "
            "or a run folder's records not read back); per='item' tabulates its results"
        )
    return _pandas().DataFrame(rows, columns=MESSAGE_COLUMNS)


def items_frame(run: Run) -> pd.DataFrame:
    calls: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    failures: dict[str, str] = {}
    for m in run.records:
        if m.error is not None:
            failures.setdefault(m.item_id, m.error)
        tally = calls[m.item_id]
        tally[0] += 1
        tally[1] += m.error is not None
        tally[2] += m.usage.prompt_tokens
        tally[3] += m.usage.completion_tokens
    rows = []
    for r in run.results:
        n, failed, prompt, completion = calls.get(r.item_id, [0, 0, 0, 0])
        failure = failures.get(r.item_id)
        rows.append(
            (
                r.item_id, r.prediction, r.reference, r.score, r.score >= 1, why_not(r, failure),
                outcome(r, failure), n, failed, prompt, completion,
                prompt + completion,
            )
        )  # fmt: skip
    return _pandas().DataFrame(rows, columns=ITEM_COLUMNS)


def runs_frame(runs: Mapping[Any, Run], per: str = "item") -> pd.DataFrame:
    """Runs keyed by (topology, seed) (a run folder's) or by label: one frame, with ``topology``
    and ``seed`` columns first."""
    frames = []
    for key, run in runs.items():
        topology, seed = key if isinstance(key, tuple) else (key, None)
        frame = run.to_pandas(per=per)
        frame.insert(0, "seed", seed)
        frame.insert(0, "topology", topology)
        frames.append(frame)
    if not frames:
        raise ValueError("no runs to tabulate")
    return _pandas().concat(frames, ignore_index=True)


def simulation_frame(sim: Simulation, per: str = "step") -> pd.DataFrame:
    """Episode × step (state, rewards, invalid actions), or one row per episode (its metrics)."""
    pandas = _pandas()
    if per == "episode":
        return pandas.DataFrame([{"episode": k, **m} for k, m in enumerate(sim.metrics)])
    if per != "step":
        raise ValueError(f"per is 'step' or 'episode'; got {per!r}")
    rows = []
    for episode in sim.timeline:
        for row in episode:
            flat = {"episode": row["episode"], "step": row["step"], "phase": row["phase"]}
            flat |= {f"state.{k}": v for k, v in row["state"].items()}
            flat |= {f"reward.{a}": r for a, r in row["rewards"].items()}
            flat["invalid_actions"] = len(row.get("invalid", {}))
            flat["error"] = row.get("error")
            rows.append(flat)
    if not rows:
        raise ValueError(f"the simulation of {sim.env} has no steps to tabulate")
    return pandas.DataFrame(rows)
