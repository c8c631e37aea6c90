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


def _on_a_board(messages):
    """A blackboard team's script: offers, a controller that picks by the question's length (so
    items route differently), posts, and a decider."""
    role, text = messages[0].text, messages[-1].text
    if role.startswith("You are the controller"):
        if text.count("\n[agent") >= 2:
            return "DECIDE"
        return "POST: agent0, agent2" if len(text) % 2 else "POST: agent1"
    if role.startswith("You read the blackboard"):
        return "The answer is 24"
    if "offer what you would add" in text:
        return "I can add a check"
    return "My part: 24"


class OnABoard(ScriptedChatModel):
    respond: object = _on_a_board
    name_: str = "on-a-board"
