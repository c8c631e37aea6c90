"""Communication learned as a sparse graph, after CommFormer (Hu et al., "Learning Multi-Agent
Communication from Graph Modeling Perspective", ICLR 2024).

The paper learns whom each agent listens to: a matrix α over (receiver, sender) pairs, of which
every receiver keeps its top-k senders (k = max(1, ⌊sparsity · n⌋), its budget), made
differentiable by a Gumbel-softmax relaxation with a straight-through top-k and trained bi-level
with the policy (alternating updates of the policy and of α on the return). At test time each
agent keeps its k senders of largest α.

Objective here: maximise E_{G ~ p_α}[u(G)], where G gives each agent i exactly k senders drawn
without replacement from softmax(α_i), which is what the paper's Gumbel-top-k draws, taken without
its relaxation. An LLM's reply carries no gradient, so a straight-through estimator has nothing to
pass through; we use the score-function (REINFORCE) estimator of the same distribution,

    ∇α ≈ mean[(u(G) - b) ∇α log p_α(G)],   log p_α(G) = Σ_i Σ_t [α_{i,s_t} - log Σ_{s ∉ s_<t} e^{α_{i,s}}]

(the Plackett–Luce probability of each agent's ordered draws s_1..s_k), with u the item's score
minus ``token_penalty`` × its tokens and b the mean utility of the query's samples. The policy is
the frozen language model, so of the bi-level problem only the graph level is learned.

Where it departs from the paper:

- edges are temporal: the paper's agents exchange messages inside one time step over any directed
  graph; here an agent hears its senders' answers of the previous round (``rounds=2`` by default:
  everyone answers alone, then again after hearing its k senders), which carries any directed
  graph, cycles included;
- every agent also rereads its own last answer, outside the budget (the paper adds self-loops);
- the team's answer is the majority of all agents' last answers (every agent acts in the paper);
- no warm-up on the dense graph (the paper's first steps use the soft dense relaxation, which needs
  the gradient an LLM does not give).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from agentlab.agent import Agent
from agentlab.graph import CommGraph, Decision
from agentlab.tasks.task import Item
from agentlab.topologies.edges import NO_LOG, EdgeDistribution, Pair, SampledGraph, offdiagonal
from agentlab.topologies.learning import GraphLearner, LearnerSettings


@dataclass
class CommFormerSettings(LearnerSettings):
    decision: str | Decision | None = "majority"  # every agent's last answer votes
    rounds: int = 2  # round 0 alone, then each agent hears its senders' last answers
    sparsity: float = 0.4  # the paper's default: each agent keeps max(1, ⌊sparsity · n⌋) senders
    budget: int | None = None  # senders per agent, when given instead of sparsity
    lr: float = 0.1


class CommFormer(GraphLearner, name="commformer"):
    """``CommFormer(agents, model=llm, budget=1).fit(task.train(40)).team()``; settings:
    ``CommFormerSettings``."""

    paper = "CommFormer (Hu et al., 2024)"
    Settings = CommFormerSettings
    settings: CommFormerSettings

    def __init__(self, agents: Sequence[Agent], *, model: Any = None, **settings: Any) -> None:
        super().__init__(agents, model=model, **settings)
        n, s = len(self.agents), self.settings
        if self.rounds < 2:
            raise ValueError(
                "CommFormer's edges carry last round's answers: it needs rounds >= 2; "
                f"got rounds={self.rounds}"
            )
        if not 0 < s.sparsity <= 1:
            raise ValueError(f"sparsity is the share of agents each one hears, in (0, 1]; got {s.sparsity}")
        self.k = s.budget if s.budget is not None else max(1, int(n * s.sparsity))
        if not 1 <= self.k <= n - 1:
            raise ValueError(
                f"budget is how many other agents each agent hears, from 1 to {n - 1} with {n} agents; "
                f"got {self.k}"
            )
        self.alpha = torch.nn.Parameter(torch.zeros(n, n))  # alpha[i, j]: receiver i's score of sender j

    def named_parameters(self) -> dict[str, torch.nn.Parameter]:
        return {"alpha": self.alpha}

    def scores(self) -> torch.Tensor:
        """α with each agent's own column masked out: the senders it may choose from."""
        return self.alpha.masked_fill(~offdiagonal(len(self.agents)), float("-inf"))

    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        n = len(self.agents)
        dist = EdgeDistribution(torch.zeros(n, n), aux={"scores": self.scores()})
        return [dist] * max(1, len(items))

    def sample(self, dist: EdgeDistribution, rng: random.Random) -> SampledGraph:
        """Each agent's k senders by Gumbel-top-k, and the Plackett–Luce log-probability of the draws."""
        scores = dist.aux["scores"]
        n = scores.shape[0]
        seeded = torch.Generator().manual_seed(rng.randrange(2**62))
        gumbel = -torch.empty(n, n).exponential_(generator=seeded).log()  # -log(Exp(1)) ~ Gumbel(0, 1)
        noisy = scores.detach() + gumbel
        terms, temporal = [], [(i, i) for i in range(n)]
        for i in range(n):
            chosen = torch.topk(noisy[i], self.k).indices.tolist()
            left = scores[i]
            for j in chosen:
                terms.append(left[j] - torch.logsumexp(left, dim=0))
                left = left.masked_fill(torch.arange(n) == j, float("-inf"))
                temporal.append((j, i))
        return SampledGraph([], sorted(temporal), torch.stack(terms).sum())

    def decoded(self, dist: EdgeDistribution) -> SampledGraph:
        return SampledGraph([], self.decode_temporal(dist), NO_LOG)

    def decode_temporal(self, dist: EdgeDistribution) -> list[Pair]:
        """Each agent's k senders of largest α (ties to the lower index), and itself."""
        scores = dist.aux["scores"].detach().tolist()
        n = len(scores)
        heard = [
            (j, i) for i in range(n) for j in sorted(range(n), key=lambda j: (-scores[i][j], j))[: self.k]
        ]
        return sorted(heard + [(i, i) for i in range(n)])

    def start_graph(self) -> CommGraph:
        """Where learning starts: every agent hears every other with equal odds (α = 0)."""
        n = len(self.agents)
        return self._comm([], [(j, i) for i in range(n) for j in range(n)])
