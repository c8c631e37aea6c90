"""An agent: a role bound to a model. It knows nothing of the graph it sits in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

DEFAULT_TEMPLATE = "{task}{context}"
CONTEXT_HEADER = "\n\nWhat other agents said:\n"


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

    >>> Agent("solver", role="You solve math problems step by step.").name
    'solver'
    """

    name: str
    role: str = ""
    template: str = DEFAULT_TEMPLATE
    model: BaseChatModel | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"an agent needs a non-empty string name, got {self.name!r}")
        require_chat_model(self.model, f"the model of agent {self.name!r}")
        for field in ("{task}", "{context}"):
            if field not in self.template:
                raise ValueError(
                    f"agent {self.name!r}: its template lacks {field}, so the agent would never see "
                    f"{'the question' if field == '{task}' else 'other agents'}; add {field} to the template"
                )

    def prompt(self, task_prompt: str, heard: Sequence[tuple[str, str]], round: int) -> list[BaseMessage]:
        """The chat messages for one call; ``heard`` holds (sender, text) pairs in graph order."""
        context = CONTEXT_HEADER + "\n".join(f"[{s}]: {t.strip()}" for s, t in heard) if heard else ""
        # lstrip: a template opening with {context} (AgentsNet) would start with a blank line on turns
        # that heard nothing
        text = self.template.format(task=task_prompt, context=context, role=self.role, round=round).lstrip()
        return [SystemMessage(self.role), HumanMessage(text)] if self.role else [HumanMessage(text)]
