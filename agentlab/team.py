"""A team: agents, the graph that connects them, and the rule that turns their words into one answer."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from agentlab.agent import Agent, require_chat_model
from agentlab.cache import CallCache, call_cache
from agentlab.engine import Engine
from agentlab.graph import CommGraph, MajorityVote
from agentlab.protocols import GraphProtocol, RoutedProtocol
from agentlab.registry import did_you_mean
from agentlab.routing.base import Routing
from agentlab.run import Run
from agentlab.runtime import Protocol
from agentlab.settings import RunSettings
from agentlab.shapes import GraphDesigner
from agentlab.tasks.task import Item, Task

GraphPolicy = Callable[[Item], CommGraph]


class Team:
    """Agents and how they work together; ``team.run(task)`` is the one way to run anything.

    How they work together is a protocol (``agentlab.runtime``): a ``CommGraph`` (fixed wiring;
    without one, the agents answer independently and vote), a function of the item giving a graph
    (a learner's per-query graph, a coordination task's own), a ``Routing`` decided at run time,
    or an async function of your own (``@al.protocol``). Agents without a model use the team's.

    >>> import agentlab as al
    >>> llm = al.models.ScriptedChatModel(respond=lambda msgs: "The answer is 4")
    >>> team = al.Team([al.Agent("a"), al.Agent("b")], al.CommGraph(["a", "b"], [("a", "b")]), model=llm)
    >>> team.run(al.tasks.load("arithmetic", n=2), progress=False, cache=False).calls
    4
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        graph: CommGraph | GraphDesigner | GraphPolicy | Routing | Protocol | None = None,
        *,
        model: BaseChatModel | None = None,
        name: str | None = None,
        rounds: int | None = None,
    ) -> None:
        if not agents:
            raise ValueError("a team needs at least one agent; got an empty list")
        if isinstance(agents, str) or not all(isinstance(a, Agent) for a in agents):
            raise TypeError(f"agents are al.Agent objects, e.g. [al.Agent('solver')]; got {agents!r}")
        require_chat_model(model, "the team's model")
        names = [a.name for a in agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agent names must be unique in a team; got {names}")
        if inspect.iscoroutinefunction(graph) and not isinstance(graph, Protocol):
            graph = Protocol(graph)  # an async function is a protocol, decorated or not
        if isinstance(graph, Routing):  # decided at run time: the agents it addresses must be here
            graph.check_agents(names)
        elif isinstance(graph, GraphDesigner):  # a learner or a task that designs a graph per item
            graph = graph.graph_for
        if (
            graph is not None
            and not isinstance(graph, CommGraph | Routing | Protocol)
            and not callable(graph)
        ):
            raise TypeError(
                f"graph must be a CommGraph, a GraphDesigner (with graph_for(item)), a function item -> "
                f"CommGraph, a Routing, or a protocol (@al.protocol async def ...(ctx, item)); got {graph!r}"
            )
        if graph is None:
            graph = CommGraph(names, decision=MajorityVote() if len(names) > 1 else None)
        if isinstance(graph, CommGraph) and list(graph.agents) != names:
            missing, extra = set(graph.agents) - set(names), set(names) - set(graph.agents)
            if missing or extra:
                raise ValueError(
                    f"the graph and the agents disagree: graph-only {sorted(missing)}, "
                    f"agents-only {sorted(extra)}; give every agent exactly one node"
                )
            by_name = {a.name: a for a in agents}
            agents = [by_name[n] for n in graph.agents]
        resolved = []
        for agent in agents:
            if agent.model is None and model is None:
                raise ValueError(f"agent {agent.name!r} has no model; pass model= to Team or to the Agent")
            require_chat_model(agent.model, f"the model of agent {agent.name!r}")  # set after it was made
            resolved.append(agent if agent.model is not None else replace(agent, model=model))
        self.agents: list[Agent] = resolved
        # the graph (or graph function, or routing) the team was given; None for a protocol of one's own
        self.graph: CommGraph | GraphPolicy | Routing | None = None if isinstance(graph, Protocol) else graph
        self.name = name or (graph.name if isinstance(graph, Protocol) else f"{len(resolved)}-agent team")
        self.rounds = rounds  # what run() uses when given none (a team learned for several rounds)
        self.origin: CommGraph | None = None  # a learner sets the graph its learning started from
        self._by_name = {a.name: a for a in resolved}
        self.protocol: Protocol = graph if isinstance(graph, Protocol) else self._protocol_of(graph)

    def _protocol_of(self, graph: CommGraph | GraphPolicy | Routing) -> Protocol:
        if isinstance(graph, Routing):
            return RoutedProtocol(graph, self._by_name)
        return GraphProtocol(graph, self._by_name)

    def with_agents(self, **fields: Any) -> Team:
        """The same team, graph and name, with ``fields`` set on every agent:
        ``team.with_agents(memory="full", tools=[...])``."""
        team = copy.copy(self)
        team.agents = [replace(agent, **fields) for agent in self.agents]
        team._by_name = {a.name: a for a in team.agents}
        if self.graph is not None:
            team.protocol = team._protocol_of(self.graph)
        return team

    def graph_for(self, item: Item) -> CommGraph:
        """The graph ``item`` runs on: the team's graph, or what its graph function gives for it."""
        if not isinstance(self.protocol, GraphProtocol):
            raise TypeError(f"team {self.name!r} runs {self.protocol!r}, not a communication graph")
        return self.protocol.graph_for(item)

    def agents_for(self, graph: CommGraph) -> tuple[Agent, ...]:
        return GraphProtocol(graph, self._by_name).agents_for(graph)

    def run(
        self,
        task: Task,
        rounds: int | None = None,
        *,
        cache: bool | str | Path | CallCache = True,
        progress: bool = True,
        settings: RunSettings | None = None,
        **overrides: Any,
    ) -> Run:
        """Run every item of ``task`` through the graph for ``rounds`` rounds, all items at once.

        ``rounds`` defaults to the team's own, else what the task prescribes per item (AgentsNet
        does), else 1. ``cache``: True uses the shared on-disk call cache, False turns it off, a
        path or ``CallCache`` picks another.

        ``settings`` (a ``RunSettings``), and any of its fields as keywords over it: ``retries``
        for calls that failed transiently, ``timeout`` seconds a batch may take, ``budget`` to
        stop cleanly after the step that reaches it (``run.stopped`` says why), ``fail_fast`` to
        raise on the first failed call instead of recording it, ``window``, ``stream``,
        ``max_concurrency``.
        """
        if not isinstance(task, Task):
            raise TypeError(f"team.run takes a Task (al.tasks.load(...)); got {type(task).__name__}")
        settings = _with(settings or RunSettings(), overrides)
        cache = call_cache(cache)
        engine = Engine(
            self,
            task,
            rounds if rounds is not None else self.rounds,
            settings,
            cache=cache,
            progress=progress,
        )
        return engine.run()

    def simulate(self, env: Any, episodes: int = 1, seed: int = 0, **options: Any) -> Any:
        """Run ``episodes`` episodes of environment ``env`` at once, every agent call of every
        episode batched per step (``al.envs.simulate``; ``folder=`` streams records and states to
        a resumable run folder)."""
        from agentlab.envs.simulate import simulate

        return simulate(self, env, episodes, seed, **options)

    def _repr_html_(self) -> str:
        import html

        from agentlab.views.svg import graph_svg

        rows = "".join(
            f"<tr><td>{html.escape(a.name)}</td><td>{html.escape(a.role or '(no role)')}</td>"
            f"<td>{html.escape(type(a.model).__name__)}</td></tr>"
            for a in self.agents
        )
        if isinstance(self.graph, CommGraph):
            drawing = graph_svg(self.graph, title=self.name)
        elif isinstance(self.protocol, GraphProtocol):
            drawing = f"<p>{html.escape(self.name)}: a graph per item</p>"
        else:
            drawing = f"<p>{html.escape(self.name)}: {html.escape(repr(self.protocol))}</p>"
        if self.origin is not None:
            drawing = graph_svg(self.origin, title="started from") + drawing
        return f"{drawing}<table><tr><th>agent</th><th>role</th><th>model</th></tr>{rows}</table>"

    def __repr__(self) -> str:
        g = self.graph
        if isinstance(g, CommGraph):
            return (
                f"Team({self.name!r}: {len(self.agents)} agents, {len(g.spatial)} spatial + "
                f"{len(g.temporal)} temporal edges, decision {g.decision})"
            )
        if isinstance(self.protocol, GraphProtocol):
            return f"Team({self.name!r}: {len(self.agents)} agents, a graph per item from {g!r})"
        return f"Team({self.name!r}: {len(self.agents)} agents, {self.protocol!r})"


def _with(settings: RunSettings, overrides: dict[str, Any]) -> RunSettings:
    """``settings`` with some fields replaced, validated like the rest."""
    if not overrides:
        return settings
    fields = list(RunSettings.model_fields)
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        raise TypeError(
            f"team.run() got unknown setting(s) {unknown}{did_you_mean(unknown[0], fields)}; "
            f"its settings are {', '.join(fields)}"
        )
    return RunSettings.model_validate({**settings.model_dump(exclude_unset=True), **overrides})
