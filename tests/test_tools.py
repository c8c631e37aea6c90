"""Agents that call tools, on scripted models that call them, through the public API."""

import asyncio
import threading
import time

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

import agentlab as al
from agentlab.views.explorer import message_html


@tool
def add(a: int, b: int) -> int:
    """Adds two whole numbers."""
    return a + b


@tool
def broken(x: int) -> int:
    """Always fails."""
    raise RuntimeError("the tool broke")


@tool
def hangs(x: int) -> int:
    """Never returns in time."""
    time.sleep(3)
    return x


def caller(tool_name="add", args=None, steps=1):
    """Calls ``tool_name`` ``steps`` times, then answers with what the last result said."""

    def respond(messages):
        results = [m for m in messages if m.type == "tool"]
        if len(results) < steps:
            call = {
                "name": tool_name,
                "args": args or {"a": 2, "b": len(results) + 3},
                "id": f"c{len(results)}",
            }
            return AIMessage("", tool_calls=[call])
        return f"The answer is {results[-1].text}" if results else "The answer is 0"

    return al.models.ScriptedChatModel(respond=respond)


def solo(tools, model, **agent):
    return al.Team([al.Agent("a", tools=tools, **agent)], model=model)


def test_a_tool_calls_result_reaches_the_agent_that_made_it():
    run = solo([add], caller()).run(al.tasks.load("arithmetic", n=2), cache=False, progress=False)
    for m in run.records:
        assert m.content == "The answer is 5" and not m.error
        (use,) = m.tool_calls
        assert (use.name, use.args, use.output, use.error, use.step) == (
            "add",
            {"a": 2, "b": 3},
            "5",
            None,
            0,
        )
        assert use.usage.total_tokens > 0 and use.seconds >= 0
        assert m.usage.completion_tokens == use.usage.completion_tokens + 4  # both model calls counted
        assert [role for role, _ in m.prompt] == ["human"]  # the record keeps what the agent was asked
    assert run.calls == 2  # turns, not model calls


def test_only_the_agent_that_called_hears_the_result():
    seen = {}

    def respond(messages):
        me = messages[0].text
        seen.setdefault(me, []).append([m.type for m in messages])
        if me == "tooler" and not any(m.type == "tool" for m in messages):
            return AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 1}, "id": "x"}])
        return f"{me} done"

    agents = [al.Agent("t", role="tooler", tools=[add]), al.Agent("p", role="plain")]
    graph = al.CommGraph(["t", "p"], [("t", "p")])
    run = al.Team(agents, graph, model=al.models.ScriptedChatModel(respond=respond)).run(
        al.tasks.load("arithmetic", n=1), cache=False, progress=False
    )
    assert seen["tooler"] == [["system", "human"], ["system", "human", "ai", "tool"]]
    assert seen["plain"] == [["system", "human"]]  # it hears what t said, not t's tool exchange
    assert "[t]: tooler done" in next(m for m in run.records if m.sender == "p").prompt[-1][1]


def test_tool_steps_stop_at_the_agents_limit():
    run = solo([add], caller(steps=10), max_tool_steps=3).run(
        al.tasks.load("arithmetic", n=1), cache=False, progress=False
    )
    (m,) = run.records
    assert [u.step for u in m.tool_calls] == [0, 1, 2, 3]
    assert (
        m.tool_calls[-1].error == "not run: the turn reached max_tool_steps=3"
        and m.tool_calls[2].output == "7"
    )


def test_a_tool_that_raises_or_hangs_is_recorded_and_the_run_goes_on():
    failing = solo([broken], caller("broken", {"x": 1})).run(
        al.tasks.load("arithmetic", n=2), cache=False, progress=False
    )
    for m in failing.records:
        assert m.tool_calls[0].error == "RuntimeError: the tool broke" and not m.error
        assert m.content == "The answer is Error: RuntimeError: the tool broke"  # the agent was told
    started = time.perf_counter()
    settings = al.RunSettings(tool_timeout=0.3)
    hung = solo([hangs], caller("hangs", {"x": 1})).run(
        al.tasks.load("arithmetic", n=3), cache=False, progress=False, settings=settings
    )
    assert all(m.tool_calls[0].error == "no result within tool_timeout=0.3 s" for m in hung.records)
    assert len(hung.results) == 3 and time.perf_counter() - started < 2.5  # not waited on
    unknown = solo([add], caller("subtract")).run(
        al.tasks.load("arithmetic", n=1), cache=False, progress=False
    )
    assert unknown.records[0].tool_calls[0].error == "no tool named 'subtract'; the agent has ['add']"


def test_tool_calls_of_all_items_run_at_once():
    running, most = 0, 0
    lock = threading.Lock()

    @tool
    async def slow_add(a: int, b: int) -> int:
        """Adds, slowly."""
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        await asyncio.sleep(0.2)
        with lock:
            running -= 1
        return a + b

    run = solo([slow_add], caller("slow_add")).run(
        al.tasks.load("arithmetic", n=12), cache=False, progress=False
    )
    assert {m.content for m in run.records} == {"The answer is 5"}
    assert most == 12  # one step's tool calls, every item's, together
    assert run.steps == 2  # the tool-asking calls, then the answers: each a batch over all items


def test_the_call_cache_keeps_tool_calls_and_the_tools_run_again(tmp_path):
    cache = al.CallCache(tmp_path / "calls.sqlite")
    task = al.tasks.load("arithmetic", n=2)
    first = solo([add], caller()).run(task, cache=cache, progress=False)
    again = solo([add], caller()).run(task, cache=cache, progress=False)
    assert all(m.cached for m in again.records) and not any(m.cached for m in first.records)
    assert [m.tool_calls[0].output for m in again.records] == ["5", "5"]
    assert [m.usage for m in again.records] == [m.usage for m in first.records]
    no_tools = al.Team([al.Agent("a")], model=caller()).run(task, cache=cache, progress=False)
    assert not any(m.cached for m in no_tools.records)  # without tools bound it is another call


def test_the_explorer_shows_each_tool_call():
    run = solo([add], caller()).run(al.tasks.load("arithmetic", n=1), cache=False, progress=False)
    shown = message_html(run.records[0])
    assert "add" in shown and "{&quot;a&quot;: 2, &quot;b&quot;: 3}" in shown and "→ 5" in shown


def test_a_record_with_tool_calls_reads_back():
    run = solo([add], caller()).run(al.tasks.load("arithmetic", n=1), cache=False, progress=False)
    (m,) = run.records
    assert al.Message.from_dict(m.to_dict()) == m


def test_sandboxed_python_is_a_tool():
    code = al.tools.python_sandbox()
    assert code.invoke({"code": "print(6 * 7)"}).endswith("42")
    assert "status: failed" in code.invoke(
        {"code": "import socket; socket.create_connection(('1.1.1.1', 80))"}
    )


class NoTools(BaseChatModel):
    @property
    def _llm_type(self):
        return "no-tools"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        return ChatResult(generations=[ChatGeneration(message=AIMessage("hi"))])


def test_bad_tools_are_named_with_the_fix():
    def plain(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"plain is not a langchain-core tool; decorate the function with"):
        al.Agent("a", tools=[plain])
    with pytest.raises(TypeError, match=r"tools is a list of tools"):
        al.Agent("a", tools=add)
    with pytest.raises(TypeError, match=r"\(NoTools\) does not call tools.*al.models.openai_pool"):
        al.Agent("a", tools=[add], model=NoTools())
    with pytest.raises(TypeError, match="does not call tools"):
        al.Team([al.Agent("a", tools=[add])], model=NoTools())
    with pytest.raises(ValueError, match="max_tool_steps must be 1 or more"):
        al.Agent("a", tools=[add], max_tool_steps=0)


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (["nowhere.search"], "module 'nowhere' is not installed"),
        (["search"], "give an import path"),
        (["json.dumps"], "a function that needs arguments"),
        (["agentlab.tools.CALLING_MODELS"], "is a str, not a langchain-core tool"),
    ],
)
def test_tools_in_a_file_are_imported_before_any_call(tools, message):
    config = {
        "name": "x",
        "task": {"name": "arithmetic", "n": 2},
        "model": {"kind": "scripted"},
        "topologies": [{"preset": "single", "tools": tools}],
    }
    with pytest.raises(ValueError, match=message):
        al.Experiment.from_dict(config)


def test_a_file_gives_every_agent_its_tools(tmp_path):
    config = {
        "name": "x",
        "task": {"name": "arithmetic", "n": 2},
        "model": {"class": "tests.scripted_tools.AddsFirst"},
        "topologies": [
            {"preset": "chain", "n_agents": 2, "tools": ["tests.scripted_tools.add"], "max_tool_steps": 2}
        ],
    }
    result = al.Experiment.from_dict(config).run(tmp_path, progress=False)
    records = result.runs[("chain", 0)].records
    assert len(records) == 4 and all(m.tool_calls and m.tool_calls[0].output for m in records)
