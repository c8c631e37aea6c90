"""The shapes (typing protocols) the runtime and the experiment runner rely on, declared instead
of probed for. (A *protocol* in agentlab is how agents work on an item: ``agentlab.runtime``.)

Anything with these methods fits; none needs to inherit from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

if TYPE_CHECKING:
    from agentlab.graph import CommGraph
    from agentlab.tasks.task import Item
    from agentlab.team import Team


@runtime_checkable
class GenerationStream(Protocol):
    """A running continuous batch that calls join one by one and leave as they finish."""

    llm: BaseChatModel

    def submit(self, key: str, conversation: Sequence[BaseMessage]) -> None: ...

    def collect(self, timeout: float | None = None) -> list[tuple[str, AIMessage | BaseException]]:
        """Waits for at least one call to finish; raises ``TimeoutError`` past ``timeout`` seconds."""
        ...

    def cancel_all(self) -> list[str]:
        """Drops every call in flight; their keys."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class StreamingModel(Protocol):
    """A chat model that can run a ``GenerationStream`` (the local model on a GPU)."""

    def uses_continuous_batching(self) -> bool: ...

    def open_stream(self) -> GenerationStream: ...


@runtime_checkable
class GraphDesigner(Protocol):
    """Proposes the communication graph per item (G-Designer, a task's own graphs)."""

    def graph_for(self, item: Item) -> CommGraph: ...


@runtime_checkable
class GraphTask(Protocol):
    """A task that brings its own graph per item and the team to run it (AgentsNet):
    ``preset: task`` in an experiment file."""

    def graph_for(self, item: Item) -> CommGraph: ...

    def rounds_for(self, item: Item) -> int | None: ...

    def team(self, model: BaseChatModel, name: str | None = None) -> Team: ...
