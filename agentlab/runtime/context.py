"""What a protocol sees: its item, its team's agents, and ``ask``/``gather`` to make them talk.

Every ask is named (item, round, agent), as records and the call cache name a call: round is the
agent's turn on the item (its first is 0) unless the protocol gives one. An agent's ``memory``
(its own earlier turns on the item) and ``template`` apply inside an ask; so do its tools, and the
task's re-ask of a reply it cannot read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agentlab.agent import Agent
from agentlab.registry import did_you_mean
from agentlab.runtime.asks import Ask, Reply

if TYPE_CHECKING:
    from agentlab.runtime.driver import Unit
    from agentlab.tasks.task import Item, Task

MemoryBy = Literal["turns", "rounds"]


class ProtocolError(RuntimeError):
    """A protocol used the runtime wrongly; the message names the item and the fix."""


@dataclass
class Scope:
    """The asks under one item id: their names, and each agent's turns for its memory."""

    unit: int  # the driver's unit the scope belongs to (its items run in admission order)
    item_id: str
    turns: dict[str, list[tuple[int, str, str]]] = field(
        default_factory=dict
    )  # agent -> (round, asked, said)
    named: set[tuple[int, str]] = field(default_factory=set)  # (round, agent) asked so far

    def next_round(self, agent: str) -> int:
        return max((r for r, a in self.named if a == agent), default=-1) + 1

    def keep(self, ask: Ask, said: str) -> None:
        asked = str(ask.conversation[-1].content)
        self.turns.setdefault(ask.agent.name, []).append((ask.round, asked, said))


class Gather:
    """Many awaitables at once, as ``asyncio.gather``: their results, in order."""

    def __init__(self, awaitables: Iterable[Awaitable[Any]]) -> None:
        self.awaitables = tuple(awaitables)

    def __await__(self) -> Generator[Gather, Any, list[Any]]:
        return (yield self)


class Signal:
    """A value some coroutines of a unit wait for until another sets it (a fixed graph's calls
    wait on the calls they hear)."""

    def __init__(self, unit: Unit) -> None:
        self.unit, self.is_set, self.value = unit, False, None
        self.waiting: list[Any] = []  # coroutines awaiting it, or (gather, slot) pairs

    def set(self, value: Any = None) -> None:
        self.is_set, self.value = True, value
        for waiter in self.waiting:
            if type(waiter) is tuple:
                self.unit.deliver(waiter[0], waiter[1], value)
            else:
                self.unit.wake(waiter, value)
        self.waiting = []

    def __await__(self) -> Generator[Signal, Any, Any]:
        if not self.is_set:
            return (yield self)
        return self.value


class Context:
    """A protocol's view of one item: ``item``, ``question`` (the task's prompt for it), the
    team's ``agents``, and ``ask``, ``gather``, ``scope``.

    >>> import agentlab as al
    >>> @al.protocol
    ... async def critique(ctx, item):
    ...     draft = await ctx.ask("solver", ctx.question)
    ...     return await ctx.ask("solver", f"Check and correct:\\n{draft}")
    >>> llm = al.models.ScriptedChatModel(respond=lambda messages: "4")
    >>> team = al.Team([al.Agent("solver")], critique, model=llm)
    >>> team.run(al.tasks.load("arithmetic", n=2), cache=False, progress=False).calls
    4
    """

    def __init__(
        self,
        unit: Unit,
        item: Item,
        task: Task | None,
        agents: Mapping[str, Agent],
        *,
        memory_by: MemoryBy = "turns",
        rounds: int | None = None,
        scope: Scope | None = None,
    ) -> None:
        self._unit, self.item, self.task, self._agents = unit, item, task, agents
        self.memory_by, self.rounds = memory_by, rounds
        self._scope = scope or unit.scope(item.id)
        self._asks = 0

    @property
    def question(self) -> str:
        """The task's prompt for the item (its question, where there is no task)."""
        return self.task.prompt(self.item) if self.task is not None else self.item.question

    @property
    def agents(self) -> list[str]:
        return list(self._agents)

    def agent(self, name: str) -> Agent:
        if not isinstance(name, str) or name not in self._agents:
            names = list(self._agents)
            raise ProtocolError(
                f"item {self.item.id!r}: ask names agent {name!r}, which the team lacks"
                f"{did_you_mean(str(name), names)}; its agents are {names}"
            )
        return self._agents[name]

    def ask(
        self,
        agent: str,
        text: str,
        *,
        heard: Iterable[Reply | tuple[str, str]] = (),
        round: int | None = None,
        receivers: Iterable[str] = (),
        rank: int | None = None,
    ) -> Ask:
        """``agent``'s turn on ``text``: ``await`` it for its reply (a ``str``; ``Reply.message``
        is the record). ``heard``: what others said that the agent hears (replies, or (name, text)
        pairs), shown as its template's ``{context}``. ``receivers``: who hears the reply, for the
        record. ``round``: the turn's number (the agent's next by default)."""
        who = self.agent(agent)
        if not isinstance(text, str):
            raise ProtocolError(
                f"item {self.item.id!r}: ask({agent!r}, ...) needs the text as a str; got {text!r}"
            )
        scope = self._scope
        round = scope.next_round(agent) if round is None else round
        if (round, agent) in scope.named:
            raise ProtocolError(
                f"item {scope.item_id!r}: {agent!r} was already asked in round {round}; a call is named "
                "(item, round, agent), so give each of an agent's turns its own round"
            )
        scope.named.add((round, agent))
        pairs = [(h.agent, str(h)) if isinstance(h, Reply) else (str(h[0]), str(h[1])) for h in heard]
        convo = who.prompt(text, pairs, round)
        remembered, history = self._memory(who, round)
        if history:
            convo = convo[:-1] + history + convo[-1:]  # after the role's system message, before the new turn
        self._asks += 1
        return Ask(
            scope, who, round, self._asks if rank is None else rank, convo, remembered,
            tuple(receivers), self._reask(agent, round),
        )  # fmt: skip

    def _memory(self, agent: Agent, round: int) -> tuple[tuple[int, ...], list[BaseMessage]]:
        """The agent's earlier turns its memory keeps (those that said something): by round for a
        fixed graph (a silent round is a turn not taken), else by the agent's own turns."""
        turns = self._scope.turns.get(agent.name, [])
        if self.memory_by == "rounds":
            by_round = {r: (asked, said) for r, asked, said in turns}
            kept = [(r0, by_round[r0]) for r0 in agent.remembered(round) if by_round.get(r0, ("", ""))[1]]
        else:
            kept = [(i, turns[i][1:]) for i in agent.remembered(len(turns)) if turns[i][2]]
        history: list[BaseMessage] = []
        for _, (asked, said) in kept:
            history += [HumanMessage(asked), AIMessage(said)]
        return tuple(k for k, _ in kept), history

    def _reask(self, agent: str, round: int) -> Any:
        task, item, rounds = self.task, self.item, self.rounds
        if task is None or not task.reasks:
            return None
        total = rounds if rounds is not None else round + 1
        return lambda text: task.reask(text, item, agent, round, total)

    def gather(self, *awaitables: Awaitable[Any]) -> Gather:
        """Await many asks (or coroutines) at once: every pending ask goes to the model together."""
        return Gather(awaitables)

    def signal(self) -> Signal:
        return Signal(self._unit)

    def scope(self, item: Item, *, memory_by: MemoryBy | None = None, rounds: int | None = None) -> Context:
        """The same protocol and team on another item id (an episode's steps): its asks are named
        by ``item.id`` and its agents' memory starts empty."""
        return Context(
            self._unit, item, self.task, self._agents, memory_by=memory_by or self.memory_by, rounds=rounds
        )
