"""A team: agents, the graph that connects them, and the rule that turns their words into one answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from agentlab.agent import Agent
from agentlab.cache import CallCache
from agentlab.engine import Budget, Engine
from agentlab.graph import CommGraph, MajorityVote
from agentlab.run import Run
from agentlab.tasks.task import Item, Task

GraphPolicy = Callable[[Item], CommGraph]


class Team:
    """Agents wired by a ``CommGraph``; ``team.run(task)`` is the one way to run anything.

    Agents without a model use the team's ``model``. Without a graph, the agents answer
    independently and vote. ``graph`` may also be a function of the item (a learned designer's
    per-query graph, a coordination task's own graph); each graph it returns uses a subset of
    the team's agents.

    >>> import agentlab as al
    >>> llm = al.models.ScriptedChatModel(respond=lambda msgs: "The answer is 4")
    >>> team = al.Team([al.Agent("a"), al.Agent("b")], al.CommGraph(["a", "b"], [("a", "b")]), model=llm)
    >>> team.run(al.tasks.load("arithmetic", n=2), progress=False, cache=False).calls
    4
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        graph: CommGraph | GraphPolicy | None = None,
        *,
        model: BaseChatModel | None = None,
        name: str | None = None,
        rounds: int | None = None,
    ) -> None:
        if not agents:
            raise ValueError("a team needs at least one agent; got an empty list")
        names = [a.name for a in agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agent names must be unique in a team; got {names}")
        if graph is not None and not isinstance(graph, CommGraph) and not callable(graph):
            raise TypeError(f"graph must be a CommGraph or a function item -> CommGraph; got {graph!r}")
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
            if agent.model is not None and not isinstance(agent.model, BaseChatModel):
                raise TypeError(
                    f"agent {agent.name!r}: its model is a {type(agent.model).__name__}, "
                    "not a langchain-core BaseChatModel"
                )
            resolved.append(agent if agent.model is not None else replace(agent, model=model))
        self.agents: list[Agent] = resolved
        self.graph: CommGraph | GraphPolicy = graph
        self.name = name or f"{len(resolved)}-agent team"
        self.rounds = rounds  # what run() uses when given none (a team learned for several rounds)
        self.origin: CommGraph | None = None  # a learner sets the graph its learning started from
        self._by_name = {a.name: a for a in resolved}

    def graph_for(self, item: Item) -> CommGraph:
        """The graph ``item`` runs on: the team's graph, or what its graph function gives for it."""
        if isinstance(self.graph, CommGraph):
            return self.graph
        graph = self.graph(item)
        if not isinstance(graph, CommGraph):
            raise TypeError(
                f"the team's graph function returned {type(graph).__name__} for item {item.id!r}, "
                "not a CommGraph"
            )
        return graph

    def agents_for(self, graph: CommGraph) -> tuple[Agent, ...]:
        unknown = [name for name in graph.agents if name not in self._by_name]
        if unknown:
            raise ValueError(
                f"the graph names agents the team lacks: {unknown}; the team has {list(self._by_name)}"
            )
        return tuple(self._by_name[name] for name in graph.agents)

    def run(
        self,
        task: Task,
        rounds: int | None = None,
        *,
        cache: bool | str | Path | CallCache = True,
        fail_fast: bool = False,
        progress: bool = True,
        max_concurrency: int | None = None,
        budget: Budget | None = None,
        retries: int = 2,
        timeout: float | None = None,
    ) -> Run:
        """Run every item of ``task`` through the graph for ``rounds`` rounds, all items at once.

        ``rounds`` defaults to the team's own, else what the task prescribes per item (AgentsNet
        does), else 1.

        ``cache``: True uses the shared on-disk call cache, False turns it off, a path or
        ``CallCache`` picks another. ``fail_fast``: raise on the first failed model call instead of
        recording the error on its message and going on. ``retries``: how often a call that failed
        transiently (time-out, rate limit, connection, out of memory) is tried again, with backoff.
        ``timeout``: seconds one batch of calls may take before its calls count as timed out (a
        model that hangs without raising is not waited for).
        ``budget``: stop cleanly after the step that reaches it; ``run.stopped`` says why.
        """
        if not isinstance(task, Task):
            raise TypeError(f"team.run takes a Task (al.tasks.load(...)); got {type(task).__name__}")
        if cache is True:
            cache = CallCache()
        elif cache is False:
            cache = None
        elif not isinstance(cache, CallCache):
            cache = CallCache(cache)
        engine = Engine(
            self,
            task,
            rounds if rounds is not None else self.rounds,
            cache=cache,
            fail_fast=fail_fast,
            progress=progress,
            max_concurrency=max_concurrency,
            budget=budget,
            retries=retries,
            timeout=timeout,
        )
        return engine.run()

    def _repr_html_(self) -> str:
        import html

        from agentlab.views.svg import graph_svg

        rows = "".join(
            f"<tr><td>{html.escape(a.name)}</td><td>{html.escape(a.role or '(no role)')}</td>"
            f"<td>{html.escape(type(a.model).__name__)}</td></tr>"
            for a in self.agents
        )
        drawing = (
            graph_svg(self.graph, title=self.name)
            if isinstance(self.graph, CommGraph)
            else f"<p>{html.escape(self.name)}: a graph per item</p>"
        )
        if self.origin is not None:
            drawing = graph_svg(self.origin, title="started from") + drawing
        return f"{drawing}<table><tr><th>agent</th><th>role</th><th>model</th></tr>{rows}</table>"

    def __repr__(self) -> str:
        g = self.graph
        if not isinstance(g, CommGraph):
            return f"Team({self.name!r}: {len(self.agents)} agents, a graph per item from {g!r})"
        return (
            f"Team({self.name!r}: {len(self.agents)} agents, {len(g.spatial)} spatial + "
            f"{len(g.temporal)} temporal edges, decision {g.decision})"
        )
