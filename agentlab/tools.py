"""Tools agents call: langchain-core tools (``@tool``, ``BaseTool``, ``StructuredTool``, and MCP
servers' tools through ``langchain-mcp-adapters``), run by the engine between an agent's model calls.

``al.Agent("coder", tools=[al.tools.python_sandbox()])``: the agent's model gets the tools bound
(``bind_tools``); when a reply asks for tool calls, the engine runs them, many at once across
items on one event loop, each within the run's ``tool_timeout``, and gives the agent the results
as ``ToolMessage``s until it answers without a call or reaches its ``max_tool_steps``. A tool that
raises or hangs is recorded on its call and told to the agent as an error; the run goes on.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool

from agentlab.message import ToolUse
from agentlab.models import event_loop
from agentlab.sandbox import Limits, run_untrusted

CALLING_MODELS = (
    "al.models.default() and al.models.local(...) (through the chat template, or the Hermes format), "
    "al.models.openai_pool(...), al.models.ScriptedChatModel, and langchain's provider models "
    "(ChatOpenAI, ChatAnthropic, ChatOllama, ...)"
)


def check_tools(tools: Iterable[Any], owner: str) -> tuple[BaseTool, ...]:
    """The tools as a tuple, or a TypeError naming the one that is not a langchain-core tool."""
    if isinstance(tools, BaseTool | str) or callable(tools):
        raise TypeError(f"{owner}: tools is a list of tools; got {tools!r} (write tools=[...])")
    checked = tuple(tools)
    for t in checked:
        if not isinstance(t, BaseTool):
            name = getattr(t, "__name__", repr(t))
            raise TypeError(
                f"{owner}: {name} is not a langchain-core tool; decorate the function with "
                "langchain_core.tools.tool (@tool, with a docstring the model reads), or build a "
                "StructuredTool or BaseTool; MCP servers' tools come from langchain-mcp-adapters"
            )
    names = [t.name for t in checked]
    if len(set(names)) < len(names):
        raise ValueError(f"{owner}: two tools share a name in {names}; a model calls a tool by its name")
    return checked


def import_tool(path: str) -> BaseTool:
    """The tool an import path names ("package.module.name"): a tool, or a function of no
    arguments that makes one (``agentlab.tools.python_sandbox``); a ValueError saying what is wrong."""
    module_name, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name) if module_name else None
    except ModuleNotFoundError as error:
        raise ValueError(f"tool {path!r}: module {error.name!r} is not installed") from None
    except AttributeError:
        found = None
    if found is None:
        raise ValueError(
            f"tool {path!r}: give an import path, e.g. agentlab.tools.python_sandbox or mypkg.tools.search"
        )
    if not isinstance(found, BaseTool) and callable(found):
        try:
            found = found()
        except TypeError as error:
            raise ValueError(
                f"tool {path!r} is a function that needs arguments ({error}); name a tool"
            ) from None
    if not isinstance(found, BaseTool):
        raise ValueError(
            f"tool {path!r} is a {type(found).__name__}, not a langchain-core tool (@tool, BaseTool)"
        )
    return found


def check_calls_tools(model: BaseChatModel, tools: Sequence[BaseTool], owner: str) -> None:
    """A TypeError when ``model`` cannot be given tools, naming the models that can."""
    try:
        model.bind_tools(list(tools))
    except NotImplementedError:
        raise TypeError(
            f"{owner}: its model ({type(model).__name__}) does not call tools (it has no bind_tools); "
            f"models that do: {CALLING_MODELS}"
        ) from None


async def _run_one(tool: BaseTool | None, call: ToolCall, timeout: float | None, known: str) -> ToolUse:
    started = time.perf_counter()
    output, error = "", None
    if tool is None:
        error = f"no tool named {call['name']!r}; the agent has {known}"
    else:
        try:
            result = await asyncio.wait_for(tool.ainvoke(call["args"]), timeout)
            output = _as_text(result)
        except TimeoutError:
            error = f"no result within tool_timeout={timeout:g} s"
        except Exception as raised:  # a tool's failure is the agent's to handle, not the run's
            error = f"{type(raised).__name__}: {raised}"
    return ToolUse(call["name"], dict(call["args"]), call.get("id") or "", output, error,
                   time.perf_counter() - started)  # fmt: skip


def _as_text(result: Any) -> str:
    """A tool's result as the text the agent reads: content blocks (MCP's) by their text."""
    if isinstance(result, str):
        return result
    if isinstance(result, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in result):
        return "\n".join(str(b.get("text", "")) for b in result)
    return json.dumps(result, default=str)


def run_calls(jobs: Sequence[tuple[Sequence[BaseTool], ToolCall]], timeout: float | None) -> list[ToolUse]:
    """Every (tools, call) at once on the background event loop: sync tools in its threads, async
    ones (MCP's) as coroutines; a hung sync tool's thread is abandoned after ``timeout``."""

    async def run_all() -> list[ToolUse]:
        runs = []
        for tools, call in jobs:
            by_name = {t.name: t for t in tools}
            runs.append(_run_one(by_name.get(call["name"]), call, timeout, str(sorted(by_name))))
        return list(await asyncio.gather(*runs))

    return event_loop.run(run_all())


def tool_message(use: ToolUse) -> ToolMessage:
    """What the agent reads of a tool call: its output, or the error."""
    if use.error is None:
        return ToolMessage(use.output, tool_call_id=use.id, name=use.name)
    return ToolMessage(f"Error: {use.error}", tool_call_id=use.id, name=use.name, status="error")


def python_sandbox(limits: Limits | None = None) -> StructuredTool:
    """A tool that runs Python in agentlab's sandbox (``agentlab.sandbox``: namespaces, seccomp,
    no network, limits) and returns its status and output; model-written code never runs here."""
    limits = limits or Limits(seconds=10, memory_mb=512)

    def run_python(code: str) -> str:
        """Run a Python program and return its printed output (stdout and stderr, the end of them)."""
        outcome = run_untrusted(code, limits)
        return f"status: {outcome.status} (exit code {outcome.returncode})\n{outcome.output}".rstrip()

    return StructuredTool.from_function(run_python)
