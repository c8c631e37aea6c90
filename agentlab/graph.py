"""Who hears whom: spatial edges inside a round, temporal edges across rounds, and a decision rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx


@dataclass(frozen=True)
class FinalAgent:
    """The answer is what this agent says in the last round."""

    agent: str


@dataclass(frozen=True)
class MajorityVote:
    """The answer is the most common answer of these agents (all when None) in the last round.

    Ties go to the answer given first in agent order; unparseable answers do not vote. An empty
    tuple is a vote nobody enters (a learned vote node whose incoming edges were all switched
    off): it gives no answer.
    """

    agents: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EachAgent:
    """Every agent's own last-round answer is the prediction, by name: coordination tasks
    (AgentsNet) score the agents' answers together, not one of them."""


Decision = FinalAgent | MajorityVote | EachAgent
Edge = tuple[str, str]


def _layers(agents: tuple[str, ...], spatial: tuple[Edge, ...]) -> tuple[tuple[str, ...], ...]:
    """The spatial DAG's topological layers, in agent order; a cycle is an error that names it."""
    dag = nx.DiGraph()
    dag.add_nodes_from(agents)
    dag.add_edges_from(spatial)
    try:
        cycle = nx.find_cycle(dag)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        raise ValueError(
            f"spatial edges form a cycle: {path}. Messages inside a round must flow one way; "
            "drop one of these edges or make it temporal (heard in the next round)"
        )
    order = {a: i for i, a in enumerate(agents)}
    return tuple(tuple(sorted(layer, key=order.__getitem__)) for layer in nx.topological_generations(dag))


@dataclass(frozen=True)
class CommGraph:
    """A communication graph over named agents.

    Spatial edges ``(u, v)``: v hears u's message of the same round, so they must form a DAG,
    run in topological layers. Temporal edges ``(u, v)``: v hears u's message of the previous
    round (self-loops allowed: an agent re-reading its own last answer).

    A graph whose wiring changes from round to round is built with ``CommGraph.per_round``:
    ``by_round`` then holds one graph per round (AgentPrune resamples its edges each round,
    AgentDropout drops agents by round, a FinalRefer decider speaks only in the last). In a
    round's graph, ``silent`` agents make no call; they may still send a temporal edge (their
    message of the round before). The per-round graph's own edges are the union over rounds,
    for drawing.

    >>> g = CommGraph(["a", "b", "c"], spatial=[("a", "b"), ("b", "c")])
    >>> g.layers
    (('a',), ('b',), ('c',))
    >>> g.decision
    FinalAgent(agent='c')
    """

    agents: Sequence[str]
    spatial: Iterable[Edge] = ()
    temporal: Iterable[Edge] = ()
    decision: Decision | None = None  # defaults to the last agent of the last layer
    silent: Iterable[str] = ()  # agents that make no call (in this round of a per-round graph)
    by_round: tuple[CommGraph, ...] = ()  # set by per_round: the wiring of each round
    layers: tuple[tuple[str, ...], ...] = field(init=False, repr=False)

    @classmethod
    def per_round(
        cls,
        rounds: Sequence[CommGraph],
        decision: Decision | None = None,
        agents: Sequence[str] | None = None,
    ) -> CommGraph:
        """A graph that runs ``len(rounds)`` rounds, round r wired as ``rounds[r]``.

        In round r, the agents of ``rounds[r]`` that are not ``silent`` speak; its spatial
        edges are that round's, its temporal edges carry round r-1's messages into round r, so
        their senders must have spoken in round r-1. The decision reads the last round (by
        default its last speaking agent). ``agents`` names every agent of the graph in order,
        also those that speak in no round (by default: the rounds' agents, in order of first
        appearance).
        """
        rounds = tuple(rounds)
        if not rounds or not all(isinstance(g, CommGraph) for g in rounds):
            raise ValueError("per_round takes one CommGraph per round, at least one")
        if any(g.by_round for g in rounds):
            raise ValueError("a round of a per-round graph is a plain CommGraph, not another per-round one")
        for r, g in enumerate(rounds):
            senders = {u for u, _ in g.temporal}
            if r == 0 and senders:
                raise ValueError("round 0 has temporal edges, but no round comes before it; drop them")
            missing = sorted(senders - set(rounds[r - 1].speaking)) if r else []
            if missing:
                raise ValueError(
                    f"round {r} hears {missing} from round {r - 1}, where they do not speak; "
                    f"add them to round {r - 1} or drop those temporal edges"
                )
        named = list(dict.fromkeys(a for g in rounds for a in g.agents))
        unknown = sorted(set(named) - set(agents or named))
        if unknown:
            raise ValueError(f"rounds name agents {unknown} that agents= leaves out; list every agent")
        agents = list(agents) if agents is not None else named
        spatial = list(dict.fromkeys(e for g in rounds for e in g.spatial))
        temporal = list(dict.fromkeys(e for g in rounds for e in g.temporal))
        last = rounds[-1]
        return cls(agents, spatial, temporal, decision or last.decision, by_round=rounds)

    def __post_init__(self) -> None:
        if isinstance(self.agents, str):
            raise TypeError(
                f"agents is a list of names, not a string: CommGraph([{self.agents!r}]) for one agent, "
                f"CommGraph({list(self.agents)!r}) if each letter is an agent"
            )
        agents = tuple(self.agents)
        if not agents:
            raise ValueError("a communication graph needs at least one agent; got none")
        duplicates = sorted(a for a, k in Counter(agents).items() if k > 1)
        if duplicates:
            raise ValueError(f"agent names must be unique; repeated: {duplicates}")
        for kind, given in (("spatial", self.spatial), ("temporal", self.temporal)):
            if isinstance(given, str) or any(isinstance(e, str) for e in given):
                raise TypeError(
                    f"{kind} edges are a list of (sender, receiver) pairs, e.g. [('a', 'b')]; got {given!r}"
                )
        spatial = tuple(tuple(e) for e in self.spatial)
        temporal = tuple(tuple(e) for e in self.temporal)
        if isinstance(self.silent, str):
            raise TypeError(f"silent is a list of agent names; got {self.silent!r}")
        silent = tuple(self.silent)
        unknown_silent = [a for a in silent if a not in agents]
        if unknown_silent:
            raise ValueError(f"silent names unknown agent(s) {unknown_silent}; known agents: {list(agents)}")
        hearing = [e for e in spatial if e[0] in silent or e[1] in silent] + [
            e for e in temporal if e[1] in silent
        ]
        if hearing:
            raise ValueError(
                f"edges {hearing} reach or leave a silent agent inside the round; a silent agent "
                "makes no call, so it only sends its last-round message (a temporal edge)"
            )
        for kind, edges in (("spatial", spatial), ("temporal", temporal)):
            for edge in edges:
                if len(edge) != 2:
                    raise ValueError(
                        f"{kind} edge {edge!r} has {len(edge)} parts; an edge is a (sender, receiver) pair"
                    )
                unknown = [a for a in edge if a not in agents]
                if unknown:
                    raise ValueError(
                        f"{kind} edge {edge!r} names unknown agent(s) {unknown}; known agents: {list(agents)}"
                    )
        if len(set(spatial)) != len(spatial) or len(set(temporal)) != len(temporal):
            raise ValueError("an edge is listed twice; list each edge once")
        if not spatial or self.by_round:  # one layer (each round of a per-round graph has its own)
            layers: tuple[tuple[str, ...], ...] = (agents,)
        else:
            layers = _layers(agents, spatial)
        if self.by_round:
            layers = self.by_round[-1].layers
        if self.decision is None:
            last = self.by_round[-1] if self.by_round else None
            speaking = [a for layer in layers for a in layer if a not in (last.silent if last else silent)]
            if not speaking:
                raise ValueError("no agent speaks in the last round, so none can decide")
            decision = FinalAgent(speaking[-1])
        else:
            decision = self.decision
        if isinstance(decision, FinalAgent) and decision.agent not in agents:
            raise ValueError(f"decision agent {decision.agent!r} is not in the graph; known: {list(agents)}")
        if isinstance(decision, MajorityVote) and decision.agents is not None:
            unknown = [a for a in decision.agents if a not in agents]
            if unknown:
                raise ValueError(f"majority vote over unknown or no agents {unknown}; known: {list(agents)}")
        object.__setattr__(self, "agents", agents)
        object.__setattr__(self, "spatial", spatial)
        object.__setattr__(self, "temporal", temporal)
        object.__setattr__(self, "decision", decision)
        object.__setattr__(self, "silent", silent)
        object.__setattr__(self, "layers", layers)

    @property
    def wired_rounds(self) -> int | None:
        """How many rounds a per-round graph is wired for; None when any number may run."""
        return len(self.by_round) or None

    def round(self, r: int) -> CommGraph:
        """The graph round ``r`` runs on."""
        return self.by_round[r] if self.by_round else self

    @property
    def speaking(self) -> tuple[str, ...]:
        """The agents that make a call (in a round): all but the silent ones."""
        return tuple(a for a in self.agents if a not in self.silent)

    def calls(self, rounds: int) -> int:
        """How many calls ``rounds`` rounds make: one per agent that speaks, per round."""
        if self.by_round:
            return sum(len(g.speaking) for g in self.by_round)
        return len(self.speaking) * rounds

    def spatial_predecessors(self, agent: str) -> tuple[str, ...]:
        return tuple(u for u, v in self.spatial if v == agent)

    def temporal_predecessors(self, agent: str) -> tuple[str, ...]:
        return tuple(u for u, v in self.temporal if v == agent)

    def voters(self) -> tuple[str, ...]:
        """The agents whose last-round answers the decision reads."""
        if isinstance(self.decision, FinalAgent):
            return (self.decision.agent,)
        if isinstance(self.decision, MajorityVote) and self.decision.agents is not None:
            return self.decision.agents
        return self.agents

    @property
    def density(self) -> float:
        """Spatial edges over the n(n-1)/2 a DAG can hold."""
        n = len(self.agents)
        return len(self.spatial) / (n * (n - 1) / 2) if n > 1 else 0.0

    def _repr_html_(self) -> str:
        from agentlab.views.svg import graph_svg

        return graph_svg(self, title=f"{len(self.agents)} agents, decision: {self.decision}")

    def to_pyg(self, x: Any = None) -> Any:
        """A torch-geometric ``Data``: nodes in agent order (``names``), ``edge_index`` the spatial
        edges, ``temporal_edge_index`` the temporal ones, ``x`` node features if given."""
        import torch
        from torch_geometric.data import Data

        index = {a: i for i, a in enumerate(self.agents)}

        def tensor(edges: tuple[Edge, ...]) -> torch.Tensor:
            return torch.tensor(
                [[index[u] for u, _ in edges], [index[v] for _, v in edges]], dtype=torch.long
            )

        return Data(
            x=x,
            edge_index=tensor(self.spatial),
            temporal_edge_index=tensor(self.temporal),
            num_nodes=len(self.agents),
            names=list(self.agents),
        )

    def to_networkx(self) -> nx.MultiDiGraph:
        """Nodes are agents; each edge carries ``kind`` = "spatial" or "temporal"."""
        g = nx.MultiDiGraph(decision=self.decision)
        g.add_nodes_from(self.agents)
        g.add_edges_from(self.spatial, kind="spatial")
        g.add_edges_from(self.temporal, kind="temporal")
        return g
