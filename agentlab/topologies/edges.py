"""Edge distributions and the graphs drawn from them: what every topology learner samples, decodes
and prunes. Spatial edges form a DAG inside a round; temporal edges carry a message into the next."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import torch

Pair = tuple[int, int]


@dataclass
class EdgeDistribution:
    """Independent Bernoulli edges: ``spatial[i, j]`` is P(i -> j inside a round) (sampled as a
    DAG), ``temporal[i, j]`` P(j hears i's last-round message), None when not learned.

    ``rounds``, when given, holds one distribution per round, each sampled on its own (its
    ``spatial`` and ``temporal`` are then unused); ``silent`` names agents that do not speak
    (in that round).
    """

    spatial: torch.Tensor
    temporal: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] = field(default_factory=dict)  # what a learner's regularisers read
    rounds: tuple[EdgeDistribution, ...] = ()
    silent: frozenset[int] = frozenset()
    # P(agent i's answer reaches the decision): its edge into a learned vote or into the FinalRefer
    # decider, designed for this item; None leaves it to the learner (every agent, or its global logits)
    decision: torch.Tensor | None = None


@dataclass
class SampledGraph:
    spatial: list[Pair]
    temporal: list[Pair]
    log_prob: torch.Tensor
    voters: tuple[int, ...] | None = None  # whose answers reach the decision (a vote, the decider)
    rounds: tuple[SampledGraph, ...] = ()  # one per round, from a per-round distribution
    silent: frozenset[int] = frozenset()


def _reaches(adjacency: dict[int, set[int]], start: int, goal: int) -> bool:
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in adjacency[node] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return False


def bernoulli(probs: torch.Tensor, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent draws with these probabilities (seeded from ``rng``), and their log-probability."""
    draws = torch.rand(probs.shape, generator=torch.Generator().manual_seed(rng.randrange(2**62)))
    chosen = draws < probs.detach()
    # select, then take the log: log(1 - p) of a p that rounds to 1 is -inf, and its zero weight in
    # a torch.where would still make the gradient NaN (1 - 1e-9 is 1.0 in float32; 1 - 1e-6 is not)
    clamped = probs.clamp(1e-6, 1 - 1e-6)
    return chosen, torch.where(chosen, clamped, 1 - clamped).log().sum()


def sample_graph(dist: EdgeDistribution, rng: random.Random) -> SampledGraph:
    """Spatial edges are visited in a random order; an edge that would close a cycle, that has
    probability 0 (masked, pruned) or that touches a silent agent is skipped (it adds nothing to
    the log-probability), every other edge is drawn from its Bernoulli. A per-round distribution
    is sampled round by round, the log-probabilities summed."""
    if dist.rounds:
        parts = tuple(sample_graph(d, rng) for d in dist.rounds)
        return SampledGraph([], [], torch.stack([g.log_prob for g in parts]).sum(), rounds=parts)
    n = dist.spatial.shape[0]
    draws = torch.rand(n, n, generator=torch.Generator().manual_seed(rng.randrange(2**62)))
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    rng.shuffle(pairs)
    adjacency: dict[int, set[int]] = defaultdict(set)
    spatial, terms = [], []
    for i, j in pairs:
        if i in dist.silent or j in dist.silent or _reaches(adjacency, j, i):
            continue
        p = dist.spatial[i, j]
        if p.item() == 0.0:
            continue
        if draws[i, j] < p.item():
            adjacency[i].add(j)
            spatial.append((i, j))
            terms.append(torch.log(p.clamp_min(1e-9)))
        else:
            terms.append(torch.log((1 - p).clamp_min(1e-9)))
    temporal = []
    if dist.temporal is not None:
        chosen, log_prob = bernoulli(dist.temporal, rng)
        temporal = [(i, j) for i in range(n) for j in range(n) if chosen[i, j]]
        terms.append(log_prob)
    log_prob = torch.stack(terms).sum() if terms else torch.zeros(())
    return SampledGraph(sorted(spatial), temporal, log_prob, silent=dist.silent)


def decode_dag(probs: torch.Tensor, keep: int | None = None, threshold: float = 0.5) -> list[Pair]:
    """The most likely edges, most likely first, skipping any that would close a cycle: those
    above ``threshold``, or the ``keep`` most likely whatever their probability."""
    n = probs.shape[0]
    ranked = sorted(((probs[i, j].item(), i, j) for i in range(n) for j in range(n) if i != j), reverse=True)
    adjacency: dict[int, set[int]] = defaultdict(set)
    chosen = []
    for p, i, j in ranked:
        if (keep is None and p < threshold) or (keep is not None and len(chosen) >= keep):
            break
        if not _reaches(adjacency, j, i):
            adjacency[i].add(j)
            chosen.append((i, j))
    return sorted(chosen)


def prune_lowest(logits: torch.Tensor, kept: torch.Tensor, rate: float) -> None:
    """Cuts ``rate`` of the edges ``kept`` still holds (at least one), those with the lowest
    ``logits`` first, in place; ties go in index order."""
    with torch.no_grad():
        alive = kept.flatten().nonzero().flatten()
        if not len(alive):
            return
        cut = max(1, round(len(alive) * rate))
        order = torch.argsort(logits.flatten()[alive], stable=True)
        kept.view(-1)[alive[order[:cut]]] = 0.0


NO_LOG = torch.zeros(())  # the log-probability of a decoded graph, which nothing differentiates


def offdiagonal(n: int) -> torch.Tensor:
    return ~torch.eye(n, dtype=torch.bool)
