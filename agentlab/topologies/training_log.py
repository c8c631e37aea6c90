"""What training a topology learner spent and how its reward moved, step by step: kept apart from
the test runs' tokens, tabled (``to_pandas``) and drawn (``plot``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentlab.message import Usage


@dataclass
class TrainingLog:
    """What training spent and how the reward moved; training tokens are never mixed with test tokens."""

    usage: Usage = field(default_factory=Usage)
    calls: int = 0
    cache_hits: int = 0
    steps: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None

    def variables(self) -> list[str]:
        """What each step recorded: the reward, the score, tokens per item and each loss term."""
        return list(dict.fromkeys(k for step in self.steps for k in step))

    def to_pandas(self) -> Any:
        """One row per training step: ``step`` and every recorded variable."""
        import pandas

        return pandas.DataFrame([{"step": k + 1, **row} for k, row in enumerate(self.steps)])

    def plot(self, *variables: str) -> Any:
        """The training curve: ``variables`` (the reward and score by default) over steps; a
        ``Plot`` whose ``ax`` restyles it."""
        from agentlab.views.plots import lines

        if not self.steps:
            raise ValueError("nothing to plot: the learner has not trained yet (learner.fit(...))")
        known = self.variables()
        chosen = variables or tuple(v for v in ("reward", "score") if v in known)
        unknown = [v for v in chosen if v not in known]
        if unknown:
            raise KeyError(
                f"the training log has no {', '.join(map(repr, unknown))}; it has {', '.join(known)}"
            )
        series = {
            v: [(k + 1.0, row[v], row[v], row[v]) for k, row in enumerate(self.steps) if v in row]
            for v in chosen
        }
        title = f"training: {len(self.steps)} steps, {self.usage.total_tokens} tokens"
        return lines(series, ylabel=", ".join(chosen), xlabel="training step", title=title)

    def __repr__(self) -> str:
        last = self.steps[-1] if self.steps else {}
        shown = ", ".join(f"{k} {v:.3g}" for k, v in last.items())
        return (
            f"TrainingLog({len(self.steps)} steps, {self.calls} calls ({self.cache_hits} cached), "
            f"{self.usage.total_tokens} tokens"
            + (f"; last step: {shown}" if shown else "")
            + (f"; stopped: {self.stopped}" if self.stopped else "")
            + ")"
        )

    def _repr_html_(self) -> str:
        import html

        curve = self.plot().text if self.steps else ""
        return f"<pre>{html.escape(repr(self))}</pre>{curve}"
