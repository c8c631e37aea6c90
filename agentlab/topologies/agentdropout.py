"""Per-round agent and edge dropout after AgentDropout (Wang et al., "AgentDropout: Dynamic Agent
Elimination for Token-Efficient and High-Performance LLM-Based Multi-Agent Collaboration", ACL 2025).

Each round t has its own learned adjacency: A_t[i, j] = σ(S_t[i, j]) for i -> j inside round t,
and B_t[i, j] = σ(T_t[i, j]) for i's round t-1 message heard by j in round t. Training has two
phases, both REINFORCE on the utility u (score minus ``token_penalty`` × tokens):

1. Node dropout (the first ``node_steps`` steps). Graphs are sampled round by round from A'_t, a
   separate set of per-round adjacencies, with every temporal edge on, minimising
   -mean[(u - b) log p(G)]. Then in each round the ``node_dropout`` share of the agents with the
   lowest weighted degree, d_i = Σ_j (A'_t[i, j] + A'_t[j, i]), is dropped: it does not speak in
   that round, and its edges in and out of that round go with it.
2. Edge dropout (the steps after). Graphs are sampled round by round from A_t and B_t over the
   agents that remain, minimising

       L = -mean[(u - b) log p(G)]
           + η mean_t ‖A_t‖_* + η mean_t ‖B_t‖_*
           + max(0, mean_t ‖A⁰ - A_t‖_F - δ) + max(0, mean_t ‖B⁰ - B_t‖_F - δ)

   the low-rank terms (nuclear norms) and a hinge that keeps each adjacency within δ of the dense
   graph A⁰, B⁰ it starts from. Every ``prune_every`` steps the ``edge_dropout`` share of each
   round's surviving edges with the lowest scores is cut.

The answer comes from a FinalRefer agent that hears every remaining agent in the last round
(``decision="final_refer"``, the default), as in the authors' code.

Where we depart: the authors' code picks the dropped agent of phase 1 by sampling one per round
from a softmax over degrees of raw logits and trains on that choice; we follow the paper's rule
(the lowest weighted degrees of the learned A'_t after phase 1). The regularisers are taken on the
probabilities A_t, B_t (the adjacency the paper writes) where the code takes them on the logits.
``variant="ours"`` (the default) subtracts the mean utility of the query's samples (b); the
authors' code (``variant="authors"``) uses b = 0 and samples test-time graphs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from agentlab.agent import Agent
from agentlab.graph import CommGraph, Decision, FinalAgent
from agentlab.tasks.task import Item
from agentlab.topologies.edges import EdgeDistribution, offdiagonal, prune_lowest
from agentlab.topologies.learning import GraphLearner, LearnerSettings


@dataclass
class AgentDropoutSettings(LearnerSettings):
    decision: str | Decision | None = "final_refer"  # the authors' FinalRefer decider
    rounds: int = 2  # dropout is per round, so it takes several
    node_dropout: float = 0.2  # α: the share of agents dropped in each round (at least one when above 0)
    edge_dropout: float = 0.25  # β: the share of each round's surviving edges a pruning cuts
    node_steps: int = 2  # steps of the node-dropout phase (the authors: 2 batches)
    prune_every: int = 2  # edge phase: steps between edge prunings (the authors: every 2 batches)
    low_rank: float = 1.0  # η, the weight of the nuclear norms (1 in the authors' code)
    delta: float = 0.1  # δ, the Frobenius slack to the dense start (0.1 in the authors' code)
    init_prob: float = 0.5  # every edge's starting probability


class AgentDropout(GraphLearner, name="agentdropout"):
    """``AgentDropout(agents, model=llm, rounds=2).fit(task.train(40), epochs=2).team()``.

    Settings: ``AgentDropoutSettings``. ``dropped()`` says who sits out which round.
    """

    paper = "AgentDropout (Wang et al., 2025)"
    Settings = AgentDropoutSettings
    AUTHORS: ClassVar[dict[str, Any]] = {"baseline": False, "sample_at_test": True}
    settings: AgentDropoutSettings

    def __init__(self, agents: Sequence[Agent], *, model: Any = None, **settings: Any) -> None:
        super().__init__(agents, model=model, **settings)
        s, n, rounds = self.settings, len(self.agents), self.rounds
        if not 0 <= s.node_dropout < 1 or not 0 <= s.edge_dropout < 1:
            raise ValueError("node_dropout and edge_dropout are shares in [0, 1)")
        if s.node_steps < 0 or s.prune_every < 1:
            raise ValueError("node_steps is at least 0 and prune_every at least 1")
        start = math.log(s.init_prob / (1 - s.init_prob))
        transitions = max(rounds - 1, 1)
        self.node_logits = torch.nn.Parameter(torch.full((rounds, n, n), start))
        self.spatial_logits = torch.nn.Parameter(torch.full((rounds, n, n), start))
        self.temporal_logits = torch.nn.Parameter(torch.full((transitions, n, n), start))
        # what dropout has left (1) or removed (0), saved with the scores
        self.spatial_kept = torch.nn.Parameter(
            offdiagonal(n).float().repeat(rounds, 1, 1), requires_grad=False
        )
        self.temporal_kept = torch.nn.Parameter(torch.ones(transitions, n, n), requires_grad=False)
        self.speaking = torch.nn.Parameter(torch.ones(rounds, n), requires_grad=False)

    def named_parameters(self) -> dict[str, torch.nn.Parameter]:
        return {
            "node_logits": self.node_logits,
            "spatial_logits": self.spatial_logits,
            "temporal_logits": self.temporal_logits,
            "spatial_kept": self.spatial_kept,
            "temporal_kept": self.temporal_kept,
            "speaking": self.speaking,
        }

    @property
    def phase(self) -> str:
        """ "node" for the first ``node_steps`` steps, then "edge"."""
        return "node" if len(self.log.steps) < self.settings.node_steps else "edge"

    def dropped(self) -> list[list[str]]:
        """Per round, the agents that do not speak in it."""
        return [
            [self.names[i] for i in range(len(self.names)) if not row[i]] for row in self.speaking.tolist()
        ]

    def adjacency(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A_t (rounds × n × n) and B_t (rounds-1 × n × n), zero where dropout removed an edge."""
        return (
            torch.sigmoid(self.spatial_logits) * self.spatial_kept,
            torch.sigmoid(self.temporal_logits) * self.temporal_kept,
        )

    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        n, silent = len(self.agents), self._silent()
        if self.phase == "node":
            spatial = torch.sigmoid(self.node_logits) * offdiagonal(n)
            all_heard = torch.ones(n, n)
            rounds = tuple(EdgeDistribution(spatial[r], all_heard if r else None) for r in range(self.rounds))
            dist = EdgeDistribution(spatial[0], aux={"phase": torch.tensor(0)}, rounds=rounds)
        else:
            spatial, temporal = self.adjacency()
            rounds = tuple(
                EdgeDistribution(spatial[r], temporal[r - 1] if r else None, silent=silent[r])
                for r in range(self.rounds)
            )
            dist = EdgeDistribution(spatial[0], aux={"spatial": spatial, "temporal": temporal}, rounds=rounds)
        return [dist] * max(1, len(items))

    def _silent(self) -> list[frozenset[int]]:
        return [frozenset(i for i, on in enumerate(row) if not on) for row in self.speaking.tolist()]

    def regularizers(self, dists: Sequence[EdgeDistribution]) -> dict[str, torch.Tensor]:
        aux = dists[0].aux
        if "spatial" not in aux:  # the node phase is REINFORCE alone
            return {}
        s, n = self.settings, len(self.agents)
        spatial, temporal = aux["spatial"], aux["temporal"]
        dense_spatial, dense_temporal = offdiagonal(n).float(), torch.ones(n, n)
        nuclear = torch.linalg.matrix_norm
        terms = {"low_rank_spatial": s.low_rank * nuclear(spatial, ord="nuc").mean()}
        terms["frobenius_spatial"] = torch.relu(nuclear(dense_spatial - spatial).mean() - s.delta)
        if self.rounds > 1:
            terms["low_rank_temporal"] = s.low_rank * nuclear(temporal, ord="nuc").mean()
            terms["frobenius_temporal"] = torch.relu(nuclear(dense_temporal - temporal).mean() - s.delta)
        return terms

    def after_step(self, step: int) -> None:
        s = self.settings
        if step == s.node_steps:
            self.drop_agents()
        elif step > s.node_steps and (step - s.node_steps) % s.prune_every == 0 and s.edge_dropout:
            for r in range(self.rounds):
                prune_lowest(self.spatial_logits[r], self.spatial_kept[r], s.edge_dropout)
            for r in range(self.rounds - 1):
                prune_lowest(self.temporal_logits[r], self.temporal_kept[r], s.edge_dropout)

    def drop_agents(self) -> None:
        """In each round, the ``node_dropout`` share of agents with the lowest weighted degree
        under the node phase's A'_t stop speaking (ties: the later agent goes). An agent of the
        team that decides (``decision="last"`` or a name) is never dropped from the last round."""
        n = len(self.agents)
        k = min(n - 1, max(1, round(self.settings.node_dropout * n))) if self.settings.node_dropout else 0
        deciding = {self.decision.agent} if isinstance(self.decision, FinalAgent) else set()
        with torch.no_grad():
            a = torch.sigmoid(self.node_logits) * offdiagonal(n)
            degree = a.sum(dim=2) + a.sum(dim=1)  # out plus in, per round and agent
            for r in range(self.rounds):
                kept = deciding if r == self.rounds - 1 else set()
                ranked = sorted(
                    (i for i in range(n) if self.names[i] not in kept),
                    key=lambda i: (degree[r, i].item(), -i),
                )
                for i in ranked[:k]:  # it goes, with its edges in and out of round r
                    self.speaking[r, i] = 0.0
                    self.spatial_kept[r, i, :] = self.spatial_kept[r, :, i] = 0.0
                    if r > 0:
                        self.temporal_kept[r - 1, :, i] = 0.0
                    if r + 1 < self.rounds:
                        self.temporal_kept[r, i, :] = 0.0

    def start_graph(self) -> CommGraph:
        """The dense graph dropout starts from."""
        return self.dense_graph()
