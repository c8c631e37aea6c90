"""A routing (blackboard, semi-centralized, evolving) as a protocol: the route names the turns it
wants next, they are asked together, and the route hears what was said and says who heard it.

A route step is the records' ``round``. Routed turns now get what every protocol's asks get: the
agent's template and memory (by its own turns), tools, the task's re-ask, streaming.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentlab.agent import Agent
from agentlab.routing.base import Route, RouteError, Routing
from agentlab.run import ItemResult
from agentlab.runtime import Context, Protocol
from agentlab.tasks.task import Item


class RoutedProtocol(Protocol):
    """``routing`` run on the runtime: one route per item."""

    memory_by = "turns"

    def __init__(self, routing: Routing, agents: Mapping[str, Agent]) -> None:
        routing.check_agents(list(agents))
        self.routing, self.name = routing, routing.name
        self._routes: dict[str, Route] = {}

    async def __call__(self, ctx: Context, item: Item) -> str:  # type: ignore[override]
        route = self._routes[item.id] = self.routing.start(ctx.question)
        step = 0
        while route.answer is None:
            turns = route.turns()
            if not turns:
                break
            asks = [ctx.ask(t.agent, t.text, round=step, rank=k) for k, t in enumerate(turns)]
            replies = await ctx.gather(*asks)
            heard = route.hear([(t, str(r)) for t, r in zip(turns, replies, strict=True)])
            for reply, receivers in zip(replies, heard, strict=True):
                if reply.message.receivers == () and receivers:  # a replayed record keeps its own
                    reply.message.receivers = tuple(receivers)
            step += 1
        return route.answer or ""

    def finished(self, item: Item, result: ItemResult) -> None:
        route = self._routes.pop(item.id, None)
        if route is not None:
            self.routing.learn(route, result.score)

    def __repr__(self) -> str:
        return f"RoutedProtocol({self.routing.name})"


__all__ = ["RouteError", "RoutedProtocol"]
