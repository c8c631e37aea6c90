"""Evolving decentralized routing: each agent answers or forwards to a neighbour it names, and the
edges that led to right answers grow stronger from item to item.

After Yang et al. (2025), "AgentNet: Decentralized Evolutionary Coordination for LLM-based
Multi-Agent Systems" (arXiv:2504.00587). The agents form a complete directed graph with a weight
on every edge. An item enters at the agent whose outgoing edges weigh most; each agent sees the
problem, the notes passed along so far, and its neighbours ranked by weight, and either answers
(its reply is the answer) or writes ``FORWARD agentK: <note>``. When the item is scored, every
edge on its path moves toward the score: ``w ← (1 − lr)·w + lr·score``, so later items (those
admitted after it finishes) follow edges that worked.

Simplified: AgentNet's agents also split tasks into subtasks and keep a memory of past
trajectories for retrieval, and its graph drops and adds agents; here a route is one path, the
only memory is the weights, and the agents are fixed. The weights live on the routing object, so
a notebook can train them on a train split and run the test split with them; a resumed run
rebuilds them exactly by replaying the recorded turns in order (the experiment runner also
writes them to the run folder, ``routing-<topology>-seed<N>.json``). Forwarding to an agent who
does not exist, or more than ``max_hops`` times, is a ``RouteError`` (and counts as score 0).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agentlab.registry import did_you_mean
from agentlab.routing.base import ROUTINGS, Route, RouteError, RouteTurn, Routing

FORWARD = re.compile(r"FORWARD\s+(?:TO\s+)?@?([A-Za-z_][\w-]*)\s*:?\s*(.*)", re.IGNORECASE | re.DOTALL)


class Evolving(Routing):
    """Agents ``workers`` on weighted edges that learn from each scored item (module doc)."""

    name = "evolving"

    def __init__(
        self,
        workers: Sequence[str] = ("agent0", "agent1", "agent2"),
        max_hops: int = 3,
        learning_rate: float = 0.3,
        initial_weight: float = 0.5,
        roles: Sequence[str] = (),
    ) -> None:
        if max_hops < 0 or not 0 < learning_rate <= 1:
            raise ValueError(
                f"max_hops must be 0 or more and learning_rate in (0, 1]; got {max_hops}, {learning_rate}"
            )
        if len(workers) < 2 or len(set(workers)) < len(workers):
            raise ValueError(f"give two or more distinct agents; got {list(workers)}")
        self.workers, self.max_hops, self.learning_rate = list(workers), max_hops, learning_rate
        self.weights = {(u, v): float(initial_weight) for u in self.workers for v in self.workers if u != v}
        self.roles = list(roles) or [""]

    def agent_roles(self) -> list[tuple[str, str]]:
        role = "You are {name}, an agent in a decentralized network that solves problems together. {profile}"
        return [
            (w, role.format(name=w, profile=self.roles[i % len(self.roles)]).strip())
            for i, w in enumerate(self.workers)
        ]

    def entry(self) -> str:
        """Where the next item starts: the agent whose outgoing edges weigh most (the first on ties)."""

        def outgoing(u: str) -> tuple[float, int]:
            return sum(self.weights[(u, v)] for v in self.workers if v != u), -self.workers.index(u)

        return max(self.workers, key=outgoing)

    def ranked(self, agent: str) -> list[tuple[str, float]]:
        """``agent``'s neighbours, heaviest edge first."""
        return sorted(
            ((v, self.weights[(agent, v)]) for v in self.workers if v != agent), key=lambda p: -p[1]
        )

    def start(self, question: str, state: Any = None) -> Route:
        return _Path(self, question)

    def learn(self, route: Route, score: float) -> None:
        assert isinstance(route, _Path)
        for edge in route.edges:
            self.weights[edge] = (1 - self.learning_rate) * self.weights[edge] + self.learning_rate * score

    def state_dict(self) -> dict[str, Any]:
        return {"weights": {f"{u}->{v}": round(w, 6) for (u, v), w in sorted(self.weights.items())}}


ROUTINGS.add("evolving", Evolving)


class _Path(Route):
    def __init__(self, spec: Evolving, question: str) -> None:
        self.spec, self.question = spec, question
        self.at, self.notes, self.edges = spec.entry(), [], []
        self.final: str | None = None

    def turns(self) -> list[RouteTurn]:
        notes = "\n".join(f"[{who}]: {text}" for who, text in self.notes)
        passed = f"\n\nNotes passed to you:\n{notes}" if notes else ""
        neighbours = ", ".join(f"{v} ({w:.2f})" for v, w in self.spec.ranked(self.at))
        ask = (
            f"Your neighbours, most reliable first: {neighbours}. Either solve the problem yourself, or pass "
            "it on with 'FORWARD <name>: <note for them>' to the neighbour best placed to solve it."
        )
        heard = tuple(dict.fromkeys(w for w, _ in self.notes))
        return [RouteTurn(self.at, f"Problem: {self.question}{passed}\n\n{ask}", heard)]

    def hear(self, said: Sequence[tuple[RouteTurn, str]]) -> list[tuple[str, ...]]:
        ((turn, text),) = said
        forward = FORWARD.search(text)
        if forward is None:
            self.final = text
            return [()]
        target = forward.group(1)
        if target not in self.spec.workers or target == turn.agent:
            raise RouteError(
                f"{turn.agent} forwarded to {target!r}, not one of its neighbours"
                f"{did_you_mean(target, self.spec.workers)}: {[v for v, _ in self.spec.ranked(turn.agent)]}"
            )
        if len(self.edges) >= self.spec.max_hops:
            raise RouteError(f"the item was forwarded more than max_hops={self.spec.max_hops} times")
        self.edges.append((turn.agent, target))
        self.notes.append((turn.agent, forward.group(2).strip()))
        self.at = target
        return [(target,)]

    @property
    def answer(self) -> str | None:
        return self.final
