"""One message of a run: what an agent said to whom, and what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Exact token counts of one model call, as the model reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the model served from its own prefix cache

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )

    @classmethod
    def from_metadata(cls, usage_metadata: dict[str, Any] | None) -> Usage:
        """Read langchain-core's ``AIMessage.usage_metadata``."""
        if not usage_metadata:
            return cls()
        details = usage_metadata.get("input_token_details") or {}
        return cls(
            int(usage_metadata.get("input_tokens", 0)),
            int(usage_metadata.get("output_tokens", 0)),
            int(details.get("cache_read", 0) or 0),
        )


@dataclass(frozen=True, slots=True)
class ToolUse:
    """One tool call an agent made in its turn, and what came of it."""

    name: str
    args: dict[str, Any]
    id: str
    output: str = ""
    error: str | None = None  # it raised, hung past the run's tool_timeout, or was not run
    seconds: float = 0.0
    step: int = 0  # which model call of the turn asked for it (0: the first)
    usage: Usage = field(default_factory=Usage)  # the tokens of the model call that asked for it


@dataclass(slots=True)
class Message:
    """A record of one agent call.

    ``receivers`` are the agents that hear this message: in the same round along spatial edges,
    in the next round along temporal edges. ``cached`` is true when the call cache answered it
    (its tokens are still the ones the model reported when it first ran).

    >>> Message("a", ("b",), round=0, content="4", item_id="q1").usage.total_tokens
    0
    """

    sender: str
    receivers: tuple[str, ...]
    round: int
    content: str
    item_id: str
    step: int = 0  # engine step that made the call: calls sharing a step ran in one batch
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0  # seconds of the batch this call ran in, divided by its size
    cached: bool = False
    error: str | None = None
    model: str = ""
    prompt: tuple[tuple[str, str], ...] = ()  # (role, text) pairs the agent was sent
    remembered: tuple[int, ...] = ()  # earlier rounds whose turns the prompt carried (the agent's memory)
    # the tools it called in this turn, in order; usage and latency above cover all its model calls
    tool_calls: tuple[ToolUse, ...] = ()
    # replies of this turn the task asked again about (they did not fit its format), in order
    rejected: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """As ``dataclasses.asdict`` gives it, built directly: records of thousands of agents are
        written per step, and ``asdict``'s deep copy of every field dominated that."""
        data = {name: getattr(self, name) for name in _MESSAGE_FIELDS}
        u = self.usage
        data["usage"] = {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens}
        data["usage"]["cached_tokens"] = u.cached_tokens
        data["tool_calls"] = tuple(asdict(use) for use in self.tool_calls)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        data = dict(data)
        data["usage"] = Usage(**data.get("usage", {}))
        data["receivers"] = tuple(data.get("receivers", ()))
        data["prompt"] = tuple(tuple(p) for p in data.get("prompt", ()))
        data["remembered"] = tuple(data.get("remembered", ()))
        data["rejected"] = tuple(data.get("rejected", ()))
        data["tool_calls"] = tuple(
            ToolUse(**{**use, "usage": Usage(**use.get("usage", {}))}) for use in data.get("tool_calls", ())
        )
        return cls(**data)


_MESSAGE_FIELDS = tuple(f.name for f in fields(Message))
