"""Scripted models and tools that experiment files in tests name by import path."""

from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from agentlab.models import ScriptedChatModel


@tool
def add(a: int, b: int) -> int:
    """Adds two whole numbers."""
    return a + b


def _add_then_answer(messages):
    results = [m for m in messages if m.type == "tool"]
    if not results:  # the question's length, so that turns differ
        call = {"name": "add", "args": {"a": len(messages), "b": 1}, "id": "call-1"}
        return AIMessage("", tool_calls=[call])
    return f"The answer is {results[-1].text}"


class AddsFirst(ScriptedChatModel):
    """Calls ``add`` once in every turn, then answers with its result."""

    respond: object = _add_then_answer
    name_: str = "adds-first"
