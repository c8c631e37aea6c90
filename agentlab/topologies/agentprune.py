"""Communication pruning after AgentPrune (Zhang et al., "Cut the Crap: An Economical Communication
Pipeline for LLM-based Multi-Agent Systems", ICLR 2025).

The team starts from a dense spatial-temporal graph; a mask score on every spatial edge (inside a
round) and every temporal edge (into the next round) is learned, and the graph is pruned to keep
the highest-scoring edges. Objective, per step:

    L = -mean[(u(G) - b) log p(G)] + η_s ‖σ(S)‖_* + η_t ‖σ(T)‖_*

REINFORCE on the utility u (score minus ``token_penalty`` × tokens) over graphs sampled from the
masks σ(S), σ(T), plus the nuclear norm of each mask: the low-rank regulariser, the convex stand-in
for rank that the paper uses to keep the masks sparse and low-rank. As in the paper, the answer
comes from a FinalRefer agent outside the pruned graph that hears every agent in the last round
(``decision="final_refer"``, the default).

Two ways to run it:

- ours (``variant="ours"``, the default): b is the mean utility of the query's samples; one graph
  is sampled per run and used in every round; after training the graph is pruned in one shot to
  ``sparsity``, and the test-time graph is that pruned graph, decoded deterministically.
- the authors' code (``variant="authors"``): b = 0; pruning is iterative, every ``prune_every``
  (5) steps cutting ``prune_rate`` (a quarter) of the surviving edges of each kind, those with the
  lowest scores (at least one); the spatial and temporal edges are resampled in every round; and
  test-time graphs are sampled too, from the surviving edges (``sample_at_test``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from agentlab.agent import Agent
from agentlab.graph import CommGraph, Decision
from agentlab.tasks.task import Item
from agentlab.topologies.edges import EdgeDistribution, Pair, decode_dag, offdiagonal, prune_lowest
from agentlab.topologies.learning import GraphLearner, LearnerSettings


@dataclass
class AgentPruneSettings(LearnerSettings):
    decision: str | Decision | None = "final_refer"  # the paper's FinalRefer decider
    sparsity: float = 0.5  # one-shot pruning: the share of the candidate edges cut, per edge kind
    low_rank: float = 0.01  # η, the weight of the nuclear-norm terms
    # every mask's starting probability; the paper starts from the dense graph, but at 0.9 a harmful
    # edge is sampled so often that the rare good graphs teach little
    init_prob: float = 0.5
    pruning: str = "one_shot"  # or "iterative", on the schedule below
    prune_every: int = 5  # iterative pruning: steps between prunings
    prune_rate: float = 0.25  # iterative pruning: the share of surviving edges each pruning cuts
    resample_rounds: bool = False  # True: edges are sampled anew in every round


class AgentPrune(GraphLearner, name="agentprune"):
    """``AgentPrune(agents, model=llm, rounds=2, sparsity=0.5).fit(task.train(20)).team()``.

    Settings: ``AgentPruneSettings``. Temporal masks are learned when ``rounds`` > 1.
    ``variant="authors"`` runs it as the authors' code does (see the module's docstring).
    """

    paper = "AgentPrune (Zhang et al., 2025)"
    Settings = AgentPruneSettings
    AUTHORS: ClassVar[dict[str, Any]] = {
        "baseline": False,
        "pruning": "iterative",
        "resample_rounds": True,
        "sample_at_test": True,
    }
    settings: AgentPruneSettings

    def __init__(self, agents: Sequence[Agent], *, model: Any = None, **settings: Any) -> None:
        super().__init__(agents, model=model, **settings)
        s = self.settings
        if not 0 <= s.sparsity < 1:
            raise ValueError(f"sparsity is the share of edges to cut, in [0, 1); got {s.sparsity}")
        if s.pruning not in ("one_shot", "iterative"):
            raise ValueError(f"pruning is 'one_shot' or 'iterative'; got {s.pruning!r}")
        if not 0 < s.prune_rate < 1 or s.prune_every < 1:
            raise ValueError("prune_rate is a share in (0, 1) and prune_every a number of steps, at least 1")
        n = len(self.agents)
        start = math.log(s.init_prob / (1 - s.init_prob))
        self.spatial_logits = torch.nn.Parameter(torch.full((n, n), start))
        self.temporal_logits = torch.nn.Parameter(torch.full((n, n), start))
        # which edges iterative pruning has left (1) or cut (0); saved with the scores
        self.spatial_kept = torch.nn.Parameter(offdiagonal(n).float(), requires_grad=False)
        self.temporal_kept = torch.nn.Parameter(torch.ones(n, n), requires_grad=False)

    def named_parameters(self) -> dict[str, torch.nn.Parameter]:
        return {
            "spatial_logits": self.spatial_logits,
            "temporal_logits": self.temporal_logits,
            "spatial_kept": self.spatial_kept,
            "temporal_kept": self.temporal_kept,
        }

    def masks(self) -> EdgeDistribution:
        spatial = torch.sigmoid(self.spatial_logits) * self.spatial_kept
        temporal = torch.sigmoid(self.temporal_logits) * self.temporal_kept if self.rounds > 1 else None
        return EdgeDistribution(spatial, temporal)

    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        masks = self.masks()
        if self.settings.resample_rounds and self.rounds > 1:
            later = EdgeDistribution(masks.spatial, masks.temporal)
            masks.rounds = (EdgeDistribution(masks.spatial), *[later] * (self.rounds - 1))
        return [masks] * max(1, len(items))

    def regularizers(self, dists: Sequence[EdgeDistribution]) -> dict[str, torch.Tensor]:
        masks = dists[0]
        eta = self.settings.low_rank
        terms = {"low_rank_spatial": eta * torch.linalg.matrix_norm(masks.spatial, ord="nuc")}
        if masks.temporal is not None:
            terms["low_rank_temporal"] = eta * torch.linalg.matrix_norm(masks.temporal, ord="nuc")
        return terms

    def after_step(self, step: int) -> None:
        if self.settings.pruning == "iterative" and step % self.settings.prune_every == 0:
            self.prune()

    def prune(self) -> None:
        """Cuts ``prune_rate`` of the surviving edges of each kind, lowest-scoring first (at least one)."""
        prune_lowest(self.spatial_logits, self.spatial_kept, self.settings.prune_rate)
        if self.rounds > 1:
            prune_lowest(self.temporal_logits, self.temporal_kept, self.settings.prune_rate)

    def start_graph(self) -> CommGraph:
        """The dense graph the masks prune."""
        return self.dense_graph()

    def decode_spatial(self, dist: EdgeDistribution) -> list[Pair]:
        """One-shot: the top (1 - sparsity) share of the spatial edges by mask score. Iterative:
        the surviving edges more likely than not."""
        if self.settings.pruning == "iterative":
            return super().decode_spatial(dist)
        n = len(self.agents)
        return decode_dag(dist.spatial.detach(), keep=round((1 - self.settings.sparsity) * n * (n - 1)))

    def decode_temporal(self, dist: EdgeDistribution) -> list[Pair]:
        if dist.temporal is None or self.settings.pruning == "iterative":
            return super().decode_temporal(dist)
        n, t = len(self.agents), dist.temporal.detach()
        ranked = sorted(((t[i, j].item(), i, j) for i in range(n) for j in range(n)), reverse=True)
        return sorted((i, j) for _, i, j in ranked[: round((1 - self.settings.sparsity) * n * n)])
