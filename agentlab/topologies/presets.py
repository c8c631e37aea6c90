"""Preset communication graphs, declared as cards in topologies/ and built here."""

from __future__ import annotations

import inspect
import itertools
import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from langchain_core.language_models import BaseChatModel

from agentlab._cards import card_names, load_card
from agentlab.agent import Agent, Memory
from agentlab.graph import CommGraph, Edge, FinalAgent, MajorityVote
from agentlab.registry import Registry, did_you_mean
from agentlab.routing.base import Routing
from agentlab.team import Team
from agentlab.topologies.roles import roles as role_library

Pattern = Callable[..., list[tuple[int, int]]]
SPATIAL: Registry[Pattern] = Registry("spatial pattern")  # what a card's `spatial:` names


@SPATIAL.register("chain")
def _chain(n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n - 1)]


@SPATIAL.register("star")
def _star(n: int) -> list[tuple[int, int]]:
    return [(i, n - 1) for i in range(n - 1)]  # the hub is the last agent: it hears every spoke


@SPATIAL.register("tree")
def _tree(n: int, branching: int = 2) -> list[tuple[int, int]]:
    # agent 0 is the root; children report up, so edges point child -> parent
    return [(child, (child - 1) // branching) for child in range(1, n)]


@SPATIAL.register("complete")
def _complete(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


@SPATIAL.register("layered")
def _layered(n: int, width: int = 2) -> list[tuple[int, int]]:
    layers = [list(range(s, min(s + width, n))) for s in range(0, n, width)]
    return [(u, v) for a, b in itertools.pairwise(layers) for u in a for v in b]


@SPATIAL.register("random")
def _random(n: int, p: float = 0.5, seed: int = 0) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(i, j) for i, j in _complete(n) if rng.random() < p]


@SPATIAL.register("none")
def _none(n: int) -> list[tuple[int, int]]:
    return []


def _temporal(kind: str, n: int, decider: int) -> list[tuple[int, int]]:
    if kind == "none":
        return []
    if kind == "self":
        return [(i, i) for i in range(n)]
    if kind == "all":
        return [(i, j) for i in range(n) for j in range(n)]
    if kind == "decider":  # everyone rereads what the deciding agent concluded last round
        return [(decider, i) for i in range(n)]
    if kind == "decider+peers":  # and the workers also read each other's last answers
        return [(decider, i) for i in range(n)] + [
            (i, j) for i in range(n) for j in range(n) if decider not in (i, j)
        ]
    raise ValueError(f"unknown temporal pattern {kind!r}; known: none, self, all, decider, decider+peers")


PresetGraph = Callable[..., CommGraph]  # (n_agents, **options) -> CommGraph


def _add_cards(registry: Registry[PresetGraph]) -> None:
    for name in card_names("topologies"):
        registry.add(name, partial(_card_graph, name))


PRESETS: Registry[PresetGraph] = Registry("preset", discover=_add_cards)


def preset(name: str) -> Callable[[PresetGraph], PresetGraph]:
    """Registers a preset built in code: ``@al.topologies.preset("ring")`` over a function
    ``(n_agents, **options) -> CommGraph``; ``al.topologies.load("ring", ...)`` then builds it."""
    return PRESETS.register(name)


def graph(name: str, n_agents: int | None = None, **options: object) -> CommGraph:
    """The communication graph of a preset, over agents named agent0, agent1, ...

    >>> graph("star", n_agents=3).spatial
    (('agent0', 'agent2'), ('agent1', 'agent2'))
    """
    return PRESETS.resolve(name)(n_agents, **options)


def spatial_over(spec: str | CommGraph, names: Sequence[str]) -> list[Edge]:
    """The spatial edges of a preset (by name, on ``len(names)`` agents) or of a graph, over ``names``:
    what a learner starts from or is anchored to."""
    if isinstance(spec, str):
        spec_graph = graph(spec, len(names))
        rename = dict(zip(spec_graph.agents, names, strict=True))
        return [(rename[u], rename[v]) for u, v in spec_graph.spatial]
    strangers = sorted(set(spec.agents) - set(names))
    if strangers:
        raise ValueError(f"the graph names agents {strangers} the learner does not have ({list(names)})")
    return list(spec.spatial)


def _card_graph(name: str, n_agents: int | None = None, **options: object) -> CommGraph:
    """The graph a preset card describes."""
    card = load_card("topologies", name)
    n = card.get("n_agents") if n_agents is None else n_agents
    if card.get("routing"):
        return _routing(name, card, n, options)  # type: ignore[return-value]
    fixed = card.get("fixed_agents")
    if fixed is not None and n != fixed:
        raise ValueError(f"topology {name!r} has exactly {fixed} agent(s); got n_agents={n}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n_agents must be a positive integer; got {n!r}")
    try:
        pattern = SPATIAL.resolve(card["spatial"])
    except ValueError as error:
        raise ValueError(f"card {name!r}: {error}") from None
    takes = [p for p in inspect.signature(pattern).parameters if p != "n"]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ValueError(
            f"preset {name!r} does not take option(s) {unknown}{did_you_mean(unknown[0], takes)}; "
            f"it takes {', '.join(takes) if takes else 'no options'}"
        )
    spatial = pattern(n, **{**card.get("options", {}), **options})
    decider = {"first": 0, "last": n - 1}.get(card.get("decider", "last"), n - 1)
    temporal = _temporal(card.get("temporal", "none"), n, decider)
    names = [f"agent{i}" for i in range(n)]

    def edges(pairs: list[tuple[int, int]]) -> list[Edge]:
        return [(names[u], names[v]) for u, v in pairs]

    decision = MajorityVote() if card.get("decision") == "majority" else FinalAgent(names[decider])
    return CommGraph(names, edges(spatial), edges(temporal), decision)


def load(
    name: str,
    n_agents: int | None = None,
    model: BaseChatModel | None = None,
    roles: Sequence[str] | str | None = None,
    memory: Memory = "none",
    **options: object,
) -> Team:
    """A preset team: ``al.topologies.load("star", n_agents=4, model=llm)``.

    ``roles`` gives each agent's profile text (cycled when shorter than the team), or names a
    family of the role library (``roles="math"``, see ``al.topologies.ROLES``); ``memory`` is every
    agent's (``Agent``: "none", "full", "last" or a number of turns); ``options``
    reach the card's pattern (``p`` and ``seed`` for random, ``width`` for layered, ``branching`` for tree).

    >>> import agentlab as al
    >>> team = al.topologies.load("chain", n_agents=3, model=al.models.ScriptedChatModel(respond=str))
    >>> team.graph.spatial
    (('agent0', 'agent1'), ('agent1', 'agent2'))
    """
    comm = graph(name, n_agents, **options)
    if roles is None and isinstance(PRESETS.resolve(name), partial):  # a card may name its roles
        roles = load_card("topologies", name).get("roles")
    profiles = list(role_library(roles) if isinstance(roles, str) else roles or [""])
    if isinstance(comm, Routing):  # decided at run time: its agents and their roles come from it
        comm.roles = profiles
        agents = [Agent(n, role=role, memory=memory) for n, role in comm.agent_roles()]
        return Team(agents, comm, model=model, name=name)
    agents = [Agent(a, role=profiles[i % len(profiles)], memory=memory) for i, a in enumerate(comm.agents)]
    return Team(agents, comm, model=model, name=name)


def _routing(name: str, card: dict[str, Any], n: object, options: dict[str, object]) -> Routing:
    """The run-time routing a card names, over ``n`` workers agent0, agent1, ..."""
    from agentlab.routing import ROUTINGS

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n_agents must be a positive integer; got {n!r}")
    cls = ROUTINGS.resolve(card["routing"])
    takes = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "workers", "roles")]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ValueError(
            f"preset {name!r} does not take option(s) {unknown}{did_you_mean(unknown[0], takes)}; "
            f"it takes {', '.join(takes)}"
        )
    return cls(workers=[f"agent{i}" for i in range(n)], **{**card.get("options", {}), **options})


def names() -> list[str]:
    """The preset names: one per card in topologies/, and those registered in code."""
    return PRESETS.names()
