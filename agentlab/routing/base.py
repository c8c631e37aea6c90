"""Communication decided while an item runs: who speaks next, and who hears it, from what was said.

A ``Routing`` is a team's graph that is not fixed in advance. For each item it starts a ``Route``,
a small state machine the engine drives: the route names the turns it wants next (an agent and
the text it is sent), the engine makes every route's turns of every item in one batch per model,
and tells each route what its agents said; the route then names the next turns, or its answer.
Routes must be deterministic functions of what they were told, so that a resumed run, replaying
recorded turns, walks the same route.

A route that cannot go on (an agent names someone who does not exist, or it loops past its
limit) raises ``RouteError``: the engine records it on that item and the run goes on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentlab.registry import Registry, did_you_mean


class RouteError(RuntimeError):
    """A route that cannot go on; recorded on its item."""


@dataclass(frozen=True)
class RouteTurn:
    """One turn a route asks for: ``agent`` is sent ``text``; ``heard`` names whose words the text
    carries (for the record of who talked to whom)."""

    agent: str
    text: str
    heard: tuple[str, ...] = ()


class Route:
    """One item's route. ``turns`` gives the next turns (all at once, answered together);
    ``hear`` tells it what they said and returns, per turn, who will hear it."""

    def turns(self) -> list[RouteTurn]:
        raise NotImplementedError

    def hear(self, said: Sequence[tuple[RouteTurn, str]]) -> list[tuple[str, ...]]:
        raise NotImplementedError

    @property
    def answer(self) -> str | None:
        """The final text once the route is done (its answer is extracted from it), else None."""
        raise NotImplementedError


class Routing:
    """A run-time graph: the agents it needs (name and role) and a route per item."""

    name: str = "routing"

    def agent_roles(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def start(self, question: str, state: Any = None) -> Route:
        raise NotImplementedError

    def learn(self, route: Route, score: float) -> None:
        """Called with each finished item's route and score (0 for a route that failed), in the
        order items finish; a routing that evolves across items updates itself here."""

    def state_dict(self) -> dict[str, Any] | None:
        """What it has learned, for the run folder (None when it learns nothing)."""
        return None

    def check_agents(self, names: Sequence[str]) -> None:
        """A ValueError when the team lacks an agent this routing needs (its controller, say)."""
        wanted = [n for n, _ in self.agent_roles()]
        missing = [n for n in wanted if n not in names]
        if missing:
            raise ValueError(
                f"{self.name} routing needs agent(s) {missing} (it addresses them by name); the team has "
                f"{list(names)}{did_you_mean(missing[0], names)}. Build the team from "
                f"al.topologies.load({self.name!r}, ...) or name the agents so"
            )


ROUTINGS: Registry[type[Routing]] = Registry("routing", packages=["agentlab.routing"])


def named(text: str, names: Sequence[str], pattern: str) -> list[str]:
    """Agent names ``text`` addresses by ``pattern`` (a regex with one group), in order, once
    each; a name that is not an agent raises ``RouteError``."""
    found: list[str] = []
    for name in re.findall(pattern, text):
        if name not in names:
            raise RouteError(
                f"{name!r} is not an agent here{did_you_mean(name, names)}; the agents: {list(names)}"
            )
        if name not in found:
            found.append(name)
    return found
