"""Agents that remember their own earlier turns on an item, tested on scripted models through the
public API, as a notebook uses it."""

import pytest

import agentlab as al
from agentlab.experiment import Experiment
from tests.killing import killed_then_resumed


def recording_model(seen):
    """Each agent (known by its role) says which of its turns this is; every prompt is kept."""

    def respond(messages):
        seen.append(messages)
        me = messages[0].text
        turn = sum(m.type == "ai" for m in messages)
        return f"{me} turn {turn} after {len(seen)} calls"

    return al.models.ScriptedChatModel(respond=respond)


def team(memory, seen, n_agents=3, preset="chain"):
    roles = [f"agent{i}" for i in range(n_agents)]
    return al.topologies.load(
        preset, n_agents=n_agents, model=recording_model(seen), roles=roles, memory=memory
    )


def test_an_agent_with_memory_sees_exactly_its_own_earlier_turns_and_nobody_elses():
    seen = []
    run = team("full", seen).run(al.tasks.load("arithmetic", n=2), rounds=3, cache=False, progress=False)
    by_site = {(m.item_id, m.round, m.sender): m for m in run.records}
    for m in run.records:
        history = m.prompt[1:-1]  # between the role's system message and the new turn
        assert len(history) == 2 * m.round and m.remembered == tuple(range(m.round))
        for r0, (asked, said) in enumerate(zip(history[::2], history[1::2], strict=True)):
            own = by_site[(m.item_id, r0, m.sender)]
            assert asked == ("human", own.prompt[-1][1])  # what it was sent then
            assert said == ("ai", own.content)  # and what it said, as its own chat turn
        assert all(role != "ai" or text.startswith(m.sender) for role, text in m.prompt)  # only its own


@pytest.mark.parametrize(
    ("memory", "carried"), [("none", ()), ("last", (2,)), (2, (1, 2)), ("full", (0, 1, 2))]
)
def test_memory_keeps_as_many_turns_as_it_says(memory, carried):
    seen = []
    run = team(memory, seen, n_agents=1, preset="single").run(
        al.tasks.load("arithmetic", n=1), rounds=4, cache=False, progress=False
    )
    last = max(run.records, key=lambda m: m.round)
    assert last.remembered == carried
    assert [text for role, text in last.prompt if role == "ai"] == [
        m.content for m in sorted(run.records, key=lambda m: m.round) if m.round in carried
    ]


def test_a_failed_turn_is_left_out_of_memory_and_the_call_cache_tells_histories_apart(tmp_path):
    calls = []

    def respond(messages):
        calls.append(messages)
        if len(calls) == 2:
            return RuntimeError("the model fell over")
        return f"reply {len(calls)}"

    model = al.models.ScriptedChatModel(respond=respond)
    solo = al.Team([al.Agent("a", memory="full")], model=model)
    run = solo.run(al.tasks.load("arithmetic", n=1), rounds=3, cache=False, progress=False)
    rounds = sorted(run.records, key=lambda m: m.round)
    assert rounds[1].error and rounds[2].remembered == (0,)  # round 1 failed: nothing to remember
    cache = al.CallCache(tmp_path / "calls.sqlite")
    task = al.tasks.load("arithmetic", n=2)
    model = al.models.ScriptedChatModel(respond=lambda messages: f"{len(messages)} messages")
    forgetful = al.Team([al.Agent("a")], model=model).run(task, rounds=2, cache=cache, progress=False)
    remembering = al.Team([al.Agent("a", memory="full")], model=model).run(
        task, rounds=2, cache=cache, progress=False
    )
    assert [m.cached for m in sorted(remembering.records, key=lambda m: (m.item_id, m.round))] == [
        True, False, True, False,  # round 0 is the same call; round 1 carries a history the other lacked
    ]  # fmt: skip
    assert {m.content for m in forgetful.records} == {"1 messages"}


@pytest.mark.parametrize("bad", ["ful", 0, -1, "all", 1.5, True])
def test_an_unknown_memory_is_named_with_the_kinds(bad):
    with pytest.raises(ValueError, match="unknown memory") as error:
        al.Agent("a", memory=bad)
    assert "'full'" in str(error.value)
    if bad == "ful":
        assert "did you mean 'full'" in str(error.value)
    config = {
        "name": "x",
        "task": {"name": "arithmetic", "n": 2},
        "model": {"kind": "scripted"},
        "topologies": [{"preset": "single", "memory": bad}],
    }
    with pytest.raises(ValueError, match="memory"):
        Experiment.from_dict(config)


KILL_CONFIG = {
    "name": "remembering",
    "task": {"name": "arithmetic", "n": 20},
    "model": {"class": "tests.scripted_tools.AddsFirst", "args": {"delay": 0.12}},
    "cache": False,
    "topologies": [
        {
            "preset": "chain",
            "n_agents": 3,
            "rounds": 3,
            "memory": "full",
            "tools": ["tests.scripted_tools.add"],
        }
    ],
}


def test_kill_9_with_memory_and_tools_then_resume_gives_the_same_turns_as_one_whole_run(tmp_path):
    resumed, whole, _ = killed_then_resumed(tmp_path, KILL_CONFIG, after=20)  # into the second round

    def by_site(rows):
        def turn(r):
            return (
                r["prompt"],
                r["remembered"],
                r["content"],
                r["usage"],
                [(u["args"], u["output"]) for u in r["tool_calls"]],
            )

        return {(r["item_id"], r["round"], r["sender"]): turn(r) for r in rows}

    assert len(resumed) == len(by_site(resumed)) == 20 * 3 * 3  # nothing lost, nothing twice
    assert by_site(resumed) == by_site(whole)
    assert any(r["remembered"] == [0, 1] for r in resumed)
    assert all(len(r["tool_calls"]) == 1 and r["content"] == f"The answer is {r['tool_calls'][0]['output']}"
               for r in resumed)  # fmt: skip


def test_the_explorer_and_report_say_which_turns_a_prompt_carried(tmp_path):
    from agentlab.views.explorer import message_html

    run = team("full", []).run(al.tasks.load("arithmetic", n=1), rounds=2, cache=False, progress=False)
    second = next(m for m in run.records if m.round == 1)
    assert "remembers its turns of round 0" in message_html(second)
    al.views.report.write_report([run], tmp_path / "report.html")
    assert "remembers its turns of round 0" in (tmp_path / "report.html").read_text()
