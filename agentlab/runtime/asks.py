"""An ask: one agent turn a protocol awaits, and what it becomes (its record and its reply).

A turn may take several model calls: a reply that asks for tools gets their results and goes to
the model again, and a reply the task cannot read is sent back once with the task's follow-up.
The ask stays pending across the runtime's steps until its turn ends; its record then covers
every model call of the turn (tokens, latency, the tools called, the rejected replies).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agentlab.message import Message, ToolUse, Usage
from agentlab.runtime.calls import ModelReply, Site
from agentlab.tools import tool_message

if TYPE_CHECKING:
    from agentlab.agent import Agent
    from agentlab.runtime.context import Scope

MAX_REASKS = 1  # a task's follow-up is sent once per turn, as AgentsNet's authors do


class Reply(str):
    """What an agent said: the text (a ``str``), with its ``agent`` and its record (``message``:
    tokens, the prompt it was sent, an ``error`` when the call failed)."""

    agent: str
    message: Message

    @property
    def error(self) -> str | None:
        return self.message.error


@dataclass
class Turn:
    """A turn that went to its model more than once: the conversation so far and what it cost."""

    conversation: list[BaseMessage]
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    cached: bool = True
    uses: list[ToolUse] = field(default_factory=list)
    steps: int = 0  # tool-asking model calls so far
    rejected: list[str] = field(default_factory=list)

    def add(self, reply: ModelReply) -> None:
        self.usage, self.latency = self.usage + reply.usage, self.latency + reply.latency
        self.cached = self.cached and reply.cached


@dataclass(eq=False)
class Ask:
    """One turn of ``agent`` in round ``round`` of its item: awaited by a protocol, answered by
    the runtime. ``rank`` orders asks of the same item and round inside a step."""

    scope: Scope
    agent: Agent
    round: int
    rank: int
    conversation: list[BaseMessage]  # what the model is sent first
    remembered: tuple[int, ...] = ()  # the agent's earlier turns the conversation carries
    receivers: tuple[str, ...] = ()
    reask: Callable[[str], str | None] | None = None  # the task's follow-up for a reply it cannot read
    turn: Turn | None = None
    message: Message | None = None  # its record, once its turn ended
    submitted: str | None = None  # its name in a running continuous batch
    order: tuple[int, int, int] = (0, 0, 0)  # (unit, round, rank): where it goes in a step

    def __post_init__(self) -> None:
        self.order = (self.scope.unit, self.round, self.rank)

    def __await__(self) -> Generator[Ask, Any, Reply]:
        return (yield self)

    @property
    def site(self) -> Site:
        return (self.scope.item_id, self.round, self.agent.name)

    def pending_conversation(self) -> list[BaseMessage]:
        return self.turn.conversation if self.turn is not None else self.conversation

    def use_tools(self, reply: ModelReply, uses: list[ToolUse]) -> None:
        """Keeps a tool-asking reply and its tools' results; the ask goes to the model again."""
        turn = self.turn = self.turn or Turn(list(self.conversation))
        turn.uses += [replace(u, step=turn.steps, usage=reply.usage) for u in uses]
        ask = AIMessage(reply.content, tool_calls=list(reply.tool_calls))
        turn.conversation = [*turn.conversation, ask, *map(tool_message, uses)]
        turn.add(reply)
        turn.steps += 1

    def ask_again(self, reply: ModelReply, follow_up: str) -> None:
        """Keeps a reply the task rejected and its follow-up; the ask goes to the model again."""
        turn = self.turn = self.turn or Turn(list(self.conversation))
        turn.conversation = [*turn.conversation, AIMessage(reply.content), HumanMessage(follow_up)]
        turn.add(reply)
        turn.rejected.append(reply.content)

    def follow_up(self, reply: ModelReply) -> str | None:
        """What the task tells the agent when its reply does not fit, the first time only."""
        if self.reask is None or reply.error is not None:
            return None
        if self.turn is not None and len(self.turn.rejected) >= MAX_REASKS:
            return None
        return self.reask(reply.content)

    def record(self, reply: ModelReply, step: int, unrun: Sequence[ToolUse] = ()) -> Message:
        """The record of the ended turn: with tools or re-asks, of every model call it made."""
        turn = self.turn
        usage, latency, cached = reply.usage, reply.latency, reply.cached
        uses: tuple[ToolUse, ...] = ()
        rejected: tuple[str, ...] = ()
        if turn is not None:
            usage, latency = turn.usage + reply.usage, turn.latency + reply.latency
            cached, uses, rejected = turn.cached and reply.cached, tuple(turn.uses), tuple(turn.rejected)
        if unrun:
            uses = (*uses, *(replace(u, step=turn.steps if turn else 0, usage=reply.usage) for u in unrun))
        return Message(
            sender=self.agent.name,
            receivers=self.receivers,
            round=self.round,
            content=reply.content,
            item_id=self.scope.item_id,
            step=step,
            usage=usage,
            latency=latency,
            cached=cached,
            error=reply.error,
            model=reply.model,
            prompt=tuple((m.type, str(m.content)) for m in self.conversation),
            remembered=self.remembered,
            tool_calls=uses,
            rejected=rejected,
        )

    def reply(self) -> Reply:
        """What the protocol gets back once the turn ended."""
        assert self.message is not None
        said = Reply(self.message.content)
        said.agent, said.message = self.agent.name, self.message
        return said
