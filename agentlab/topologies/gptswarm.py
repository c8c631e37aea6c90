"""Edge optimisation after GPTSwarm (Zhuge et al., "GPTSwarm: Language Agents as Optimizable
Graphs", ICML 2024).

Objective: maximise the expected utility E_{G ~ p_θ}[u(G)] of graphs drawn edge by edge, each
candidate edge (i -> j) present with probability σ(θ_ij). The gradient is REINFORCE,
∇θ ≈ mean over samples of (u(G) - b) ∇θ log p_θ(G), with b the mean utility of the samples drawn
for the same query. Utility is the item's score (minus ``token_penalty`` × tokens, 0 by default as
in the paper). GPTSwarm's node (prompt) optimisation is not part of this learner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from agentlab.agent import Agent
from agentlab.graph import CommGraph
from agentlab.tasks.task import Item
from agentlab.topologies.learning import EdgeDistribution, GraphLearner, offdiagonal


class GPTSwarm(GraphLearner):
    """``GPTSwarm(agents, model=llm).fit(task.train(40)).team()``.

    ``start``: a graph whose edges begin at ``start_prob`` (others at 1 - start_prob); without
    one every edge begins at 0.5, as in the paper.
    """

    paper = "GPTSwarm (Zhuge et al., 2024)"

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        start: CommGraph | None = None,
        start_prob: float = 0.5,
        lr: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(agents, lr=lr, **kwargs)
        n = len(self.agents)
        init = torch.full((n, n), 1 - start_prob)
        if start is not None:
            index = {name: i for i, name in enumerate(self.names)}
            for u, v in start.spatial:
                init[index[u], index[v]] = start_prob
        self.start = start
        self.logits = torch.nn.Parameter(torch.logit(init.clamp(1e-4, 1 - 1e-4)))
        self._start_prob = start_prob

    def start_graph(self) -> CommGraph:
        return self.start if self.start is not None else super().start_graph()

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.logits]

    def probabilities(self) -> torch.Tensor:
        return torch.sigmoid(self.logits) * offdiagonal(len(self.agents))

    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        dist = EdgeDistribution(self.probabilities())
        return [dist] * max(1, len(items))

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "start": self.start,
            "start_prob": self._start_prob,
        }
