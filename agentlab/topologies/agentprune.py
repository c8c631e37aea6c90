"""Communication pruning after AgentPrune (Zhang et al., "Cut the Crap: An Economical Communication
Pipeline for LLM-based Multi-Agent Systems", ICLR 2025).

The team starts from a dense spatial-temporal graph; a mask score on every spatial edge (inside a
round) and every temporal edge (into the next round) is learned, and the graph is then pruned in
one shot to a target sparsity, keeping the highest-scoring edges. Objective, per step:

    L = -mean[(u(G) - b) log p(G)] + η_s ‖σ(S)‖_* + η_t ‖σ(T)‖_*

REINFORCE on the utility u (score minus ``token_penalty`` × tokens) over graphs sampled from the
masks σ(S), σ(T), plus the nuclear norm of each mask: the low-rank regulariser, the convex stand-in
for rank that the paper uses to keep the masks sparse and low-rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from agentlab.agent import Agent
from agentlab.graph import CommGraph
from agentlab.tasks.task import Item
from agentlab.topologies.learning import (
    EdgeDistribution,
    GraphLearner,
    LearnerSettings,
    decode_dag,
    offdiagonal,
)


@dataclass
class AgentPruneSettings(LearnerSettings):
    sparsity: float = 0.5  # share of the candidate edges cut by the one-shot pruning, per edge kind
    low_rank: float = 0.01  # η, the weight of the nuclear-norm terms
    # every mask's starting probability; the paper starts from the dense graph, but at 0.9 a harmful
    # edge is sampled so often that the rare good graphs teach little
    init_prob: float = 0.5


class AgentPrune(GraphLearner, name="agentprune"):
    """``AgentPrune(agents, model=llm, rounds=2, sparsity=0.5).fit(task.train(20)).team()``.

    Settings: ``AgentPruneSettings``. Temporal masks are learned when ``rounds`` > 1.
    """

    paper = "AgentPrune (Zhang et al., 2025)"
    Settings = AgentPruneSettings
    settings: AgentPruneSettings

    def __init__(self, agents: Sequence[Agent], *, model: Any = None, **settings: Any) -> None:
        super().__init__(agents, model=model, **settings)
        s = self.settings
        if not 0 <= s.sparsity < 1:
            raise ValueError(f"sparsity is the share of edges to cut, in [0, 1); got {s.sparsity}")
        n = len(self.agents)
        start = math.log(s.init_prob / (1 - s.init_prob))
        self.spatial_logits = torch.nn.Parameter(torch.full((n, n), start))
        self.temporal_logits = torch.nn.Parameter(torch.full((n, n), start))

    def named_parameters(self) -> dict[str, torch.nn.Parameter]:
        return {"spatial_logits": self.spatial_logits, "temporal_logits": self.temporal_logits}

    def masks(self) -> EdgeDistribution:
        spatial = torch.sigmoid(self.spatial_logits) * offdiagonal(len(self.agents))
        temporal = torch.sigmoid(self.temporal_logits) if self.rounds > 1 else None
        return EdgeDistribution(spatial, temporal)

    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        return [self.masks()] * max(1, len(items))

    def regularizers(self, dists: Sequence[EdgeDistribution]) -> dict[str, torch.Tensor]:
        masks = dists[0]
        eta = self.settings.low_rank
        terms = {"low_rank_spatial": eta * torch.linalg.matrix_norm(masks.spatial, ord="nuc")}
        if masks.temporal is not None:
            terms["low_rank_temporal"] = eta * torch.linalg.matrix_norm(masks.temporal, ord="nuc")
        return terms

    def start_graph(self) -> CommGraph:
        """The dense graph the masks prune: every forward edge, and every temporal one when learned."""
        n = len(self.agents)
        temporal = [(i, j) for i in range(n) for j in range(n)] if self.rounds > 1 else []
        return self._comm([(i, j) for i in range(n) for j in range(i + 1, n)], temporal)

    def decode(self, dist: EdgeDistribution) -> CommGraph:
        """One-shot pruning: keep the top (1 - sparsity) share of each edge kind by mask score."""
        n = len(self.agents)
        spatial = decode_dag(dist.spatial.detach(), keep=round((1 - self.settings.sparsity) * n * (n - 1)))
        temporal = []
        if dist.temporal is not None:
            t = dist.temporal.detach()
            ranked = sorted(((t[i, j].item(), i, j) for i in range(n) for j in range(n)), reverse=True)
            temporal = sorted((i, j) for _, i, j in ranked[: round((1 - self.settings.sparsity) * n * n)])
        return self._comm(spatial, temporal)
