"""Tools for local chat models: the conversation as a chat template sees it, and tool calls read
back out of the reply.

A template that defines tools (Qwen2.5, Llama 3.1, Hermes and others: it reads ``tools`` and the
messages' ``tool_calls``) gets them as it expects. A template that does not (SmolLM2's, say) would
silently drop them, so the tool schemas go into a system message instead, in the Hermes format
(``<tools>`` with one JSON schema per line, calls as ``<tool_call>{"name": ..., "arguments": ...}
</tool_call>``), and tool results into ``<tool_response>`` blocks.

Reading a reply: every ``<tool_call>`` block is a call; failing those, a reply that is one JSON
object with a ``name`` and ``arguments`` (or Llama's ``parameters``) is one. JSON that does not
parse becomes an ``invalid_tool_call``, so the agent's turn records what the model tried.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.messages.tool import InvalidToolCall, ToolCall, ToolCallChunk

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)

TOOL_PROMPT = (
    "You may call one or more functions to answer. The functions, as JSON schemas:\n<tools>\n{tools}\n"
    "</tools>\nTo call one, reply with a JSON object with its name and arguments inside <tool_call> tags:\n"
    '<tool_call>\n{{"name": <function name>, "arguments": <arguments object>}}\n</tool_call>'
)


def template_defines_tools(template: str | None) -> bool:
    return bool(template) and "tools" in str(template)


def chat(
    conversation: Sequence[BaseMessage],
    tools: Sequence[dict[str, Any]] | None,
    native: bool,
    tool_choice: str | None = None,
) -> list[dict[str, Any]]:
    """The messages as a chat template's dicts; with ``native`` False, tools and calls as text."""
    turns: list[dict[str, Any]] = []
    for m in conversation:
        turn: dict[str, Any] = {"role": _ROLES.get(m.type, m.type), "content": m.text}
        if isinstance(m, AIMessage) and m.tool_calls:
            calls = [{"name": c["name"], "arguments": c["args"]} for c in m.tool_calls]
            if native:
                turn["tool_calls"] = [
                    {"type": "function", "function": c, "id": t["id"]}
                    for c, t in zip(calls, m.tool_calls, strict=True)
                ]
            else:
                turn["content"] = (m.text + "\n" if m.text else "") + "\n".join(
                    f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls
                )
        if isinstance(m, ToolMessage):
            if native:
                turn["tool_call_id"] = m.tool_call_id
            else:
                turn["content"] = f"<tool_response>\n{m.text}\n</tool_response>"
        turns.append(turn)
    if tools and not native:
        schemas = "\n".join(json.dumps(t) for t in tools)
        text = TOOL_PROMPT.format(tools=schemas) + _choice_text(tool_choice)
        if turns and turns[0]["role"] == "system":
            turns[0] = {**turns[0], "content": f"{turns[0]['content']}\n\n{text}"}
        else:
            turns.insert(0, {"role": "system", "content": text})
    return turns


def _choice_text(tool_choice: str | None) -> str:
    if tool_choice in (None, "auto", "none"):
        return ""
    if tool_choice in ("any", "required"):
        return "\nYou must call one of the functions."
    return f"\nYou must call the function {tool_choice}."


def read_calls(text: str) -> tuple[str, list[ToolCall], list[InvalidToolCall]]:
    """(the reply's text without its calls, the calls, the calls whose JSON did not parse)."""
    blocks = _CALL.findall(text)
    rest = _CALL.sub("", text).strip()
    if not blocks:
        stripped = text.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            blocks, rest = [stripped], ""
        else:
            return text, [], []
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for block in blocks:
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        try:
            data = json.loads(block)
            name = data["name"]
            args = data.get("arguments", data.get("parameters", {}))
            if isinstance(args, str):
                args = json.loads(args)
            if not isinstance(name, str) or not isinstance(args, dict):
                raise TypeError("name must be a string and arguments an object")
        except (ValueError, KeyError, TypeError) as error:
            if len(blocks) == 1 and not _CALL.search(text):
                return text, [], []  # a JSON-looking reply that is not a call: plain text
            invalid.append(
                InvalidToolCall(name=None, args=block, id=call_id, error=str(error), type="invalid_tool_call")
            )
            continue
        calls.append(ToolCall(name=name, args=args, id=call_id, type="tool_call"))
    return rest, calls, invalid


def with_calls(reply: AIMessage) -> AIMessage:
    """The reply with the tool calls in its text read out into ``tool_calls``."""
    text, calls, invalid = read_calls(reply.text)
    if not calls and not invalid:
        return reply
    return reply.model_copy(update={"content": text, "tool_calls": calls, "invalid_tool_calls": invalid})


def call_chunks(message: AIMessage) -> list[ToolCallChunk]:
    """A reply's tool calls as the chunks a stream carries them in (arguments as JSON text)."""
    return [
        ToolCallChunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i, type="tool_call_chunk")
        for i, c in enumerate(message.tool_calls)
    ]
