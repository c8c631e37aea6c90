"""A topology designer after G-Designer (Zhang et al., "G-Designer: Architecting Multi-agent
Communication Topologies via Graph Neural Networks", ICML 2025).

Per query, a variational graph autoencoder proposes the communication graph. Nodes are the agents,
featured by the sentence embedding (all-MiniLM-L6-v2) of their profile, plus a task virtual node
featured by the query's embedding and linked to every agent; the input edges are an anchor
topology. A GCN encoder (torch-geometric) gives each node a mean μ and a log-variance; latents
z = μ + σ·ε are decoded into edge probabilities P_ij = σ(z_i W z_jᵀ + b). Objective, per step:

    L = -mean[(u(G) - b) log p(G)] + β_kl KL(q(z) ‖ N(0, I)) + β_anchor BCE(P, A_anchor) + β_sparse mean(P)

REINFORCE on u = score - λ × tokens over graphs sampled from P; the KL term of the variational
encoder; the anchor (reconstruction) term that keeps P near the anchor topology; and a sparsity
term (an L1 norm of P). At test time z = μ and the edges above 0.5 are kept (as a DAG).

As in the paper, the answer comes from a FinalRefer agent outside the designed graph that hears
every agent in the last round (``decision="final_refer"``, the default).

Ours (``variant="ours"``, the default): each node's features also carry a one-hot of its
position, so agents with the same profile (the usual case with small models, which do better
without role prompts) remain distinguishable; b is the mean utility of the query's samples. With
``decision="vote"`` or ``decision_edges="learned"``, each agent's edge into the decision (the vote,
or the FinalRefer) is designed per query too, P_i = σ(w_i · q̂ + b_i), where q̂ is the query's
embedding minus the mean of the training queries', normalised (read from the latents, or from the
raw embedding, whose shared template dominates, one REINFORCE step moved every agent's edge at
once and training collapsed to nobody or everybody), and with one round an
agent whose words reach nothing that decides is not called: the paper's sparsity carried over to
whom a query asks, which is where a per-query graph saves tokens that a fixed one cannot.
Under Adam each of w_i's 384 coordinates moves about as far per step as b_i does, so w_i · q̂ can
move up to √384 ≈ 20 times faster than b_i: the head learns what a query needs quickly and a fact
about an agent (it lies on every query) slowly. ``bias_lr_scale`` speeds b_i up; measured
(benchmarks/README.md), 20 took the adversarial task from 28% to 55% and the topic task from 75%
to 47%, and 4 gave 47% and 70%: no one rate serves both, so the default, 1, gives every parameter
the learner's ``lr``.

The authors' code (``variant="authors"``, ``architecture="gcn"``): no task node; each agent's
features are its profile's embedding next to the query's; a plain two-layer GCN over the anchor
edges (ReLU, dropout 0.5 while training, log-softmax out) and a small MLP give z, and the edge
logits z zᵀ are min-max scaled to [-1, 1] before the sigmoid (the scaled inner-product decoder).
The loss is REINFORCE alone (b = 0, no KL, anchor or sparsity term), Adam at lr 0.1 over the GCN
only: the MLP stays at its random initialisation, as there. Test-time graphs are sampled.
Agents with identical profiles get identical rows, so every edge then has probability 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch_geometric.nn import GCNConv

from agentlab.agent import Agent
from agentlab.graph import CommGraph, Decision
from agentlab.models.sentence_embedder import SentenceEmbedder
from agentlab.tasks.task import Item
from agentlab.team import Team
from agentlab.topologies.edges import EdgeDistribution, offdiagonal
from agentlab.topologies.learning import GraphLearner, LearnerSettings


class _Encoder(torch.nn.Module):
    def __init__(self, features: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.shared = GCNConv(features, hidden)
        self.own = torch.nn.Linear(features, hidden)  # a node's own features, unsmoothed
        self.mean = GCNConv(hidden, latent)
        self.log_var = GCNConv(hidden, latent)
        # start with little sampling noise: REINFORCE's signal is weak, and latents drowned in unit
        # noise teach the decoder nothing; the KL term may raise it again
        torch.nn.init.constant_(self.log_var.bias, -6.0)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.shared(x, edge_index) + self.own(x))
        return self.mean(h, edge_index), self.log_var(h, edge_index)


class _AuthorsGCN(torch.nn.Module):
    """G-Designer's code: GCN(2F -> hidden -> F) then an MLP(F -> 16 -> latent) kept frozen."""

    def __init__(self, features: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.conv1 = GCNConv(2 * features, hidden)
        self.conv2 = GCNConv(hidden, features)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(features, 16), torch.nn.ReLU(), torch.nn.Linear(16, latent)
        )
        for p in self.mlp.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, training: bool) -> torch.Tensor:
        h = torch.nn.functional.dropout(torch.relu(self.conv1(x, edge_index)), p=0.5, training=training)
        return self.mlp(torch.log_softmax(self.conv2(h, edge_index), dim=1))


@dataclass
class GDesignerSettings(LearnerSettings):
    decision: str | Decision | None = "final_refer"  # the paper's FinalRefer decider
    architecture: str = "vgae"  # ours; "gcn": the authors' code's plain GCN and scaled inner product
    anchor: str | CommGraph = "chain"  # the anchor topology: a preset name or a CommGraph over the agents
    hidden: int = 32  # the GCN's hidden width
    latent: int = 16  # the latent z per node
    kl_weight: float = 0.001  # β_kl
    anchor_weight: float = 0.01  # β_anchor
    sparsity_weight: float = 0.01  # β_sparse
    token_penalty: float = 0.0001  # λ, per token of an item's run
    lr: float = 0.01
    # the decision head's per-agent bias b_i learns at lr × this: faster learns who to trust whatever
    # the query, slower what each query needs (module docstring)
    bias_lr_scale: float = 1.0


class GDesigner(GraphLearner, name="gdesigner"):
    """``GDesigner(agents, model=llm).fit(task.train(40)).team()`` gives a team whose graph is
    designed per query. Settings: ``GDesignerSettings``; ``embedder`` encodes profiles and queries.
    """

    paper = "G-Designer (Zhang et al., 2025)"
    Settings = GDesignerSettings
    AUTHORS: ClassVar[dict[str, Any]] = {
        "architecture": "gcn",
        "hidden": 16,
        "kl_weight": 0.0,
        "anchor_weight": 0.0,
        "sparsity_weight": 0.0,
        "token_penalty": 0.0,
        "lr": 0.1,
        "baseline": False,
        "sample_at_test": True,
    }
    settings: GDesignerSettings

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        model: Any = None,
        embedder: SentenceEmbedder | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(agents, model=model, **settings)
        n, s = len(self.agents), self.settings
        self.anchor = torch.zeros(n, n)
        for i, j in self.pairs_of(s.anchor):
            self.anchor[i, j] = 1.0
        if s.bias_lr_scale <= 0:
            raise ValueError(f"bias_lr_scale multiplies lr and must be above 0; got {s.bias_lr_scale}")
        if s.architecture not in ("vgae", "gcn"):
            raise ValueError(
                f"architecture is 'vgae' (ours) or 'gcn' (the authors' code); got {s.architecture!r}"
            )
        self.embedder = embedder or SentenceEmbedder()
        profiles = [a.role or a.name for a in self.agents]
        self.profiles = self.embedder.embed(profiles)
        if s.architecture == "gcn":
            anchor_edges = [(i, j) for i in range(n) for j in range(n) if self.anchor[i, j]]
            self.edge_index = torch.tensor(anchor_edges, dtype=torch.long).reshape(-1, 2).t()
            self.gcn = _AuthorsGCN(self.profiles.shape[1], s.hidden, s.latent)
            return
        self.position = torch.eye(n + 1)
        edges = [(i, j) for i in range(n) for j in range(n) if self.anchor[i, j] or self.anchor[j, i]]
        edges += [(n, i) for i in range(n)] + [(i, n) for i in range(n)]  # the task node and every agent
        self.edge_index = torch.tensor(edges, dtype=torch.long).t()
        features = self.profiles.shape[1] + n + 1
        self.encoder = _Encoder(features, s.hidden, s.latent)
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(3 * s.latent, s.hidden), torch.nn.ReLU(), torch.nn.Linear(s.hidden, 1)
        )
        if self.designs_decision():  # each agent's edge into the decision, read from the query
            # σ(w_i · q̂ + b_i), 0.5 for every agent at first (see the module docstring)
            self.decision_head = torch.nn.Linear(self.profiles.shape[1], n)
            torch.nn.init.zeros_(self.decision_head.weight)
            torch.nn.init.zeros_(self.decision_head.bias)
            # the mean embedding of the training queries seen so far, which q̂ is taken from: the
            # head reads what sets a query apart, not the template every query shares
            self.query_center = torch.nn.Parameter(torch.zeros(self.profiles.shape[1]), requires_grad=False)
            self.queries_seen = 0

    def param_groups(self) -> list[dict[str, Any]]:
        if not self.designs_decision():
            return super().param_groups()
        bias = self.decision_head.bias
        rest = [p for p in self.parameters() if p is not bias]
        return [{"params": rest}, {"params": [bias], "lr": self.settings.lr * self.settings.bias_lr_scale}]

    def designs_decision(self) -> bool:
        return self.settings.architecture == "vgae" and self.learns_decision()

    def named_parameters(self) -> dict[str, torch.nn.Parameter]:
        if self.settings.architecture == "gcn":
            return {f"gcn.{k}": p for k, p in self.gcn.named_parameters()}
        head = {}
        if self.designs_decision():
            head = {f"decision_head.{k}": p for k, p in self.decision_head.named_parameters()}
            head["query_center"] = self.query_center
        return {
            **{f"encoder.{k}": p for k, p in self.encoder.named_parameters()},
            **{f"decoder.{k}": p for k, p in self.decoder.named_parameters()},
            **head,
        }

    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        if not items:
            raise ValueError("G-Designer designs a graph per query; call graph_for(item) or team()")
        queries = self.embedder.embed([item.question for item in items])
        n = len(self.agents)
        if self.settings.architecture == "gcn":
            return [self._authors_distribution(query, training) for query in queries]
        if training and self.designs_decision():
            with torch.no_grad():
                seen = self.queries_seen + len(queries)
                self.query_center.mul_(self.queries_seen / seen).add_(queries.sum(0) / seen)
                self.queries_seen = seen
        dists = []
        for query in queries:
            x = torch.cat([torch.cat([self.profiles, query[None]]), self.position], dim=1)
            mean, log_var = self.encoder(x, self.edge_index)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if training else mean
            pairs = torch.cat([z[:n, None].expand(n, n, -1), z[None, :n].expand(n, n, -1)], dim=-1)
            pairs = torch.cat([pairs, z[n].expand(n, n, -1)], dim=-1)  # and the task node's latent
            probs = torch.sigmoid(self.decoder(pairs).squeeze(-1)) * offdiagonal(n)
            decision = None
            if self.designs_decision():
                apart = torch.nn.functional.normalize(query - self.query_center, dim=0)
                decision = torch.sigmoid(self.decision_head(apart))
            dists.append(EdgeDistribution(probs, aux={"mean": mean, "log_var": log_var}, decision=decision))
        return dists

    def _authors_distribution(self, query: torch.Tensor, training: bool) -> EdgeDistribution:
        n, off = len(self.agents), offdiagonal(len(self.agents))
        x = torch.cat([self.profiles, query[None].expand(n, -1)], dim=1)
        z = self.gcn(x, self.edge_index, training)
        logits = z @ z.t()
        low, high = logits[off].min(), logits[off].max()
        scaled = (logits - low) / (high - low) * 2 - 1 if high > low else torch.zeros_like(logits)
        return EdgeDistribution(torch.sigmoid(scaled) * off)

    def regularizers(self, dists: Sequence[EdgeDistribution]) -> dict[str, torch.Tensor]:
        if self.settings.architecture == "gcn":  # REINFORCE alone, as the authors' code
            return {}
        off = offdiagonal(len(self.agents))
        kl = torch.stack(
            [
                -0.5 * torch.mean(1 + d.aux["log_var"] - d.aux["mean"] ** 2 - d.aux["log_var"].exp())
                for d in dists
            ]
        ).mean()
        anchor = torch.stack(
            [
                torch.nn.functional.binary_cross_entropy(
                    d.spatial[off].clamp(1e-6, 1 - 1e-6), self.anchor[off]
                )
                for d in dists
            ]
        ).mean()
        sparsity = torch.stack([d.spatial[off].mean() for d in dists]).mean()
        s = self.settings
        return {
            "kl": s.kl_weight * kl,
            "anchor": s.anchor_weight * anchor,
            "sparsity": s.sparsity_weight * sparsity,
        }

    def graph(self) -> CommGraph:
        raise ValueError("G-Designer designs a graph per query; use graph_for(item), or team() to run them")

    def team(self, model: Any = None, name: str | None = None) -> Team:
        """A team whose graph is designed for each item as it runs (deterministically, z = μ)."""
        return Team(
            self.team_agents(),
            self.graph_for,
            model=model or self.model,
            name=name or "gdesigner",
            rounds=self.rounds,
        )
