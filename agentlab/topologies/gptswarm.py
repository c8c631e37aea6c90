"""Edge optimisation after GPTSwarm (Zhuge et al., "GPTSwarm: Language Agents as Optimizable
Graphs", ICML 2024).

Objective: maximise the expected utility E_{G ~ p_θ}[u(G)] of graphs drawn edge by edge, each
candidate edge (i -> j) present with probability σ(θ_ij). The gradient is REINFORCE,
∇θ ≈ mean over samples of (u(G) - b) ∇θ log p_θ(G). Utility is the item's score (minus
``token_penalty`` × tokens, 0 by default as in the paper).

As in the paper, the answer comes from a majority-vote node outside the agents, and the edge from
each agent into it is learned with the others (``decision="vote"``, the default).

Ours (``variant="ours"``, the default): b is the mean utility of the samples drawn for the same
query, which lowers the gradient's variance. The authors' code (``variant="authors"``) uses no
baseline (b = 0). GPTSwarm's node (prompt) optimisation is not part of this learner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from agentlab.agent import Agent
from agentlab.graph import CommGraph, Decision
from agentlab.tasks.task import Item
from agentlab.topologies.edges import EdgeDistribution, offdiagonal
from agentlab.topologies.learning import GraphLearner, LearnerSettings


@dataclass
class GPTSwarmSettings(LearnerSettings):
    decision: str | Decision | None = "vote"  # the paper's majority-vote node, its edges learned
    # edges of this graph (or preset, by name) begin at start_prob, the others at 1 - start_prob;
    # without one, every edge begins at start_prob (0.5, as in the paper)
    start: str | CommGraph | None = None
    start_prob: float = 0.5


class GPTSwarm(GraphLearner, name="gptswarm"):
    """``GPTSwarm(agents, model=llm).fit(task.train(40)).team()``; settings: ``GPTSwarmSettings``."""

    paper = "GPTSwarm (Zhuge et al., 2024)"
    Settings = GPTSwarmSettings
    AUTHORS: ClassVar[dict[str, Any]] = {"baseline": False}
    settings: GPTSwarmSettings

    def __init__(self, agents: Sequence[Agent], *, model: Any = None, **settings: Any) -> None:
        super().__init__(agents, model=model, **settings)
        n, s = len(self.agents), self.settings
        if not 0 < s.start_prob < 1:
            raise ValueError(
                f"start_prob is an edge's probability before training, in (0, 1); got {s.start_prob}"
            )
        init = torch.full((n, n), s.start_prob if s.start is None else 1 - s.start_prob)
        if s.start is not None:
            for i, j in self.pairs_of(s.start):
                init[i, j] = s.start_prob
        self.logits = torch.nn.Parameter(torch.logit(init.clamp(1e-4, 1 - 1e-4)))

    def start_graph(self) -> CommGraph:
        if self.settings.start is None:
            return super().start_graph()
        return self._comm(self.pairs_of(self.settings.start))

    def named_parameters(self) -> dict[str, torch.nn.Parameter]:
        return {"logits": self.logits}

    def probabilities(self) -> torch.Tensor:
        return torch.sigmoid(self.logits) * offdiagonal(len(self.agents))

    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        dist = EdgeDistribution(self.probabilities())
        return [dist] * max(1, len(items))
