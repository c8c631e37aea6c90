"""An agent: a role bound to a model. It knows nothing of the graph it sits in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool

DEFAULT_TEMPLATE = "{task}{context}"
CONTEXT_HEADER = "\n\nWhat other agents said:\n"

Memory = Literal["none", "full", "last"] | int
MEMORY_KINDS = ("none", "full", "last")


def check_memory(memory: object, owner: str) -> None:
    """A clear error for a memory that is not one of the kinds or a positive number of turns."""
    if memory in MEMORY_KINDS or (isinstance(memory, int) and not isinstance(memory, bool) and memory >= 1):
        return
    from agentlab.registry import did_you_mean

    hint = did_you_mean(memory, MEMORY_KINDS) if isinstance(memory, str) else ""
    raise ValueError(
        f"{owner}: unknown memory {memory!r}{hint}; give 'none' (each turn alone), 'full' (every earlier "
        "turn), 'last' (the one before) or a number N (the last N turns)"
    )


def require_chat_model(model: object, owner: str) -> None:
    """A clear error when something that is not a langchain-core chat model is given as one."""
    if model is None or isinstance(model, BaseChatModel):
        return
    hint = (
        "a name is not a model here; build one, e.g. al.models.default() or al.models.local('path/to/model')"
        if isinstance(model, str)
        else "give a langchain-core chat model (BaseChatModel)"
    )
    raise TypeError(f"{owner} is {model!r}: {hint}")


@dataclass(eq=False)
class Agent:
    """A named role with a prompt template and a langchain-core chat model.

    ``template`` is formatted with ``{task}`` (the task's prompt for the item), ``{context}``
    (what this agent hears from its predecessors, empty when it hears nothing), ``{role}`` and
    ``{round}``.

    ``memory``: which of the agent's own earlier turns on an item (what it was sent and what it
    said) come before its next prompt, as chat history in the model's own template: "none" (the
    default: each turn alone), "full", "last", or N for the last N. Nobody else's turns are in it;
    what others said reaches the agent only along the graph's edges.

    ``tools``: langchain-core tools the agent may call (``agentlab.tools``); the engine runs them
    and gives the results back, up to ``max_tool_steps`` tool-asking model calls a turn. Memory
    keeps a turn as what the agent was asked and what it finally said, not its tool exchanges.

    >>> Agent("solver", role="You solve math problems step by step.").name
    'solver'
    """

    name: str
    role: str = ""
    template: str = DEFAULT_TEMPLATE
    model: BaseChatModel | None = None
    memory: Memory = "none"
    tools: Sequence[BaseTool] = ()
    max_tool_steps: int = 4  # model calls in one turn that may ask for tools; then it must answer

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"an agent needs a non-empty string name, got {self.name!r}")
        require_chat_model(self.model, f"the model of agent {self.name!r}")
        check_memory(self.memory, f"agent {self.name!r}")
        from agentlab.tools import check_calls_tools, check_tools

        self.tools = check_tools(self.tools, f"agent {self.name!r}")
        if self.max_tool_steps < 1:
            raise ValueError(
                f"agent {self.name!r}: max_tool_steps must be 1 or more; got {self.max_tool_steps}"
            )
        if self.tools and self.model is not None:
            check_calls_tools(self.model, self.tools, f"agent {self.name!r}")
        for field in ("{task}", "{context}"):
            if field not in self.template:
                raise ValueError(
                    f"agent {self.name!r}: its template lacks {field}, so the agent would never see "
                    f"{'the question' if field == '{task}' else 'other agents'}; add {field} to the template"
                )

    def remembered(self, round: int) -> range:
        """The earlier rounds whose turns this agent's prompt in ``round`` carries."""
        if self.memory == "none":
            return range(0)
        keep = {"full": round, "last": 1}.get(self.memory, self.memory)  # type: ignore[arg-type]
        return range(max(0, round - int(keep)), round)

    def prompt(self, task_prompt: str, heard: Sequence[tuple[str, str]], round: int) -> list[BaseMessage]:
        """The chat messages for one call; ``heard`` holds (sender, text) pairs in graph order."""
        context = CONTEXT_HEADER + "\n".join(f"[{s}]: {t.strip()}" for s, t in heard) if heard else ""
        # lstrip: a template opening with {context} (AgentsNet) would start with a blank line on turns
        # that heard nothing
        text = self.template.format(task=task_prompt, context=context, role=self.role, round=round).lstrip()
        return [SystemMessage(self.role), HumanMessage(text)] if self.role else [HumanMessage(text)]
