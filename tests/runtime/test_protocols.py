"""Protocols written by hand, run on the one runtime the way a notebook user writes them."""

from __future__ import annotations

import asyncio

import pytest

import agentlab as al
from tests.killing import killed_then_resumed
from tests.scripted_protocols import Critiqued, critique


class CountingModel(al.models.ScriptedChatModel):
    """Counts the model's batches and their sizes."""

    sizes: list[int]

    def _generate_all(self, conversations, stop, **tools):
        self.sizes.append(len(conversations))
        return super()._generate_all(conversations, stop, **tools)


def test_a_protocol_of_three_sequential_asks_over_1000_items_makes_3_batches():
    model = CountingModel(respond=Critiqued().respond, sizes=[])
    task = al.tasks.load("arithmetic", n=1000, seed=1)
    team = al.Team([al.Agent("solver"), al.Agent("critic")], critique, model=model)
    run = team.run(task, cache=False, progress=False)
    assert model.sizes == [1000, 1000, 1000] and run.calls == 3000 and run.steps == 3
    first = run.messages(task.items[0].id)
    assert [(m.sender, m.round) for m in first] == [("solver", 0), ("critic", 0), ("solver", 1)]
    assert first[0].receivers == ("critic",) and first[1].receivers == ("solver",)
    assert "[solver]: The answer is" in first[1].prompt[-1][1]  # heard= shows in the template's context
    drafted = first[0].content.split()[-1]
    assert first[2].content == f"The answer is {drafted}" and run.results[0].prediction == float(drafted)


def test_gather_sends_every_items_asks_in_one_batch_and_memory_is_the_agents_own_turns():
    @al.protocol
    async def two_views(ctx, item):
        _, b = await ctx.gather(ctx.ask("a", ctx.question), ctx.ask("b", ctx.question))
        return await ctx.ask("a", f"b said {b}; your final answer?")

    model = CountingModel(respond=lambda m: f"The answer is {len(m)}", sizes=[])
    team = al.Team([al.Agent("a", memory="full"), al.Agent("b")], two_views, model=model)
    run = team.run(al.tasks.load("arithmetic", n=5), cache=False, progress=False)
    assert model.sizes == [10, 5]
    last = [m for m in run.records if m.round == 1]
    assert all(m.remembered == (0,) and len(m.prompt) == 3 for m in last)  # its first turn, then the new one
    assert all(r.prediction == 3.0 for r in run.results)  # three messages in the last conversation


def test_tools_and_re_asks_happen_inside_an_ask():
    from tests.scripted_tools import AddsFirst, add

    @al.protocol
    async def one(ctx, item):
        return await ctx.ask("coder", ctx.question)

    team = al.Team([al.Agent("coder", tools=[add])], one, model=AddsFirst())
    run = team.run(al.tasks.load("arithmetic", n=3), cache=False, progress=False)
    assert all(m.tool_calls and m.tool_calls[0].output == "2" for m in run.records)  # add(1, 1)
    assert all(r.prediction == 2.0 for r in run.results) and run.steps == 2  # the tool round trip

    class Picky(al.Task):
        def reask(self, text, item, agent, round, rounds):
            return None if "answer" in text else "End with 'The answer is N'."

    def reply(messages):  # unreadable the first time, right once told how to answer
        return "The answer is 5" if "End with" in messages[-1].text else "hmm"

    task = Picky(
        "picky",
        [al.Item(f"q{i}", "2 + 3?", 5.0) for i in range(3)],
        extractor=al.tasks.extract.extract_number,
    )
    run = al.Team([al.Agent("coder")], one, model=al.models.ScriptedChatModel(respond=reply)).run(
        task, cache=False, progress=False
    )
    assert all(m.rejected == ("hmm",) and m.content == "The answer is 5" for m in run.records)
    assert all(r.score == 1.0 and r.scoring["reasks"] == 1 for r in run.results)


def test_it_runs_inside_a_running_event_loop_as_in_jupyter():
    async def notebook_cell():
        team = al.Team([al.Agent("solver"), al.Agent("critic")], critique, model=Critiqued())
        return team.run(al.tasks.load("arithmetic", n=3), cache=False, progress=False)

    run = asyncio.run(notebook_cell())
    assert run.calls == 9 and all(r.error is None for r in run.results)


def test_bad_protocols_are_named_on_their_item_and_never_hang():
    with pytest.raises(TypeError, match=r"a protocol is an async function \(async def plain\(ctx, item\)"):

        @al.protocol
        def plain(ctx, item):
            return "x"

    @al.protocol
    async def misspelt(ctx, item):
        if item.id.endswith("0"):
            return await ctx.ask("sovler", ctx.question)
        return await ctx.ask("solver", ctx.question)

    @al.protocol
    async def sleeps(ctx, item):
        await asyncio.sleep(0.01)
        return "never"

    @al.protocol
    async def numbers(ctx, item):
        await ctx.ask("solver", ctx.question)
        return 42

    @al.protocol
    async def twice(ctx, item):
        await ctx.ask("solver", ctx.question, round=0)
        return await ctx.ask("solver", ctx.question, round=0)

    @al.protocol
    async def stuck(ctx, item):
        await ctx.signal()  # nobody ever sets it
        return "never"

    model = al.models.ScriptedChatModel(respond=lambda m: "The answer is 1")
    task = al.tasks.load("arithmetic", n=4)
    errors = {}
    for protocol in (misspelt, sleeps, numbers, twice, stuck):
        run = al.Team([al.Agent("solver")], protocol, model=model).run(task, cache=False, progress=False)
        assert len(run.results) == 4
        errors[protocol.name] = [r.error for r in run.results]
    assert errors["misspelt"][0] and "ask names agent 'sovler'" in errors["misspelt"][0]
    assert "did you mean 'solver'" in errors["misspelt"][0] and errors["misspelt"][1:] == [None] * 3
    assert all(
        "called asyncio (no running event loop)" in e and "not asyncio.sleep" in e for e in errors["sleeps"]
    )

    async def in_a_notebook():  # a running loop: asyncio.sleep hands the runtime one of its futures
        return al.Team([al.Agent("solver")], sleeps, model=model).run(task, cache=False, progress=False)

    run = asyncio.run(in_a_notebook())
    assert all(
        "the protocol awaited <Future" in r.error and "not asyncio.sleep" in r.error for r in run.results
    )
    assert all("returned int" in e and "a str" in e for e in errors["numbers"])
    assert all("'solver' was already asked in round 0" in e for e in errors["twice"])
    assert all("waits on a signal nobody sets" in e for e in errors["stuck"])


def test_a_replayed_prompt_that_differs_is_an_error_naming_the_call():
    from agentlab.engine import Engine

    team = al.Team([al.Agent("solver"), al.Agent("critic")], critique, model=Critiqued())
    task = al.tasks.load("arithmetic", n=2)
    first = team.run(task, cache=False, progress=False)
    prior = {(m.item_id, m.round, m.sender): m for m in first.records}
    changed = al.Team(
        [al.Agent("solver", role="You are terse."), al.Agent("critic")], critique, model=Critiqued()
    )
    again = Engine(changed, task, None, progress=False, cache=None, prior=prior).run()
    assert again.calls == 0 and all(r.error for r in again.results)
    item = task.items[0].id
    assert f"replaying item {item!r}, round 0, agent 'solver': the prompt differs" in again.results[0].error
    same = Engine(team, task, None, progress=False, cache=None, prior=prior).run()
    assert [m.content for m in same.records] == [
        m.content for m in first.records
    ] and same.results == first.results


KILL_CONFIG = {
    "name": "critique-kill",
    "task": {"name": "arithmetic", "n": 40},
    "model": {"class": "tests.scripted_protocols.Critiqued", "args": {"delay": 0.1}},
    "cache": False,
    "window": 4,
    "topologies": [{"protocol": "tests.scripted_protocols:critique", "agents": ["solver", "critic"]}],
}


def test_kill_9_mid_protocol_then_resume_loses_and_duplicates_nothing(tmp_path):
    from agentlab.experiment import read_jsonl

    resumed, whole, folder = killed_then_resumed(tmp_path, KILL_CONFIG, after=30)

    def turns(rows):
        return {(r["item_id"], r["round"], r["sender"]): (r["prompt"], r["content"]) for r in rows}

    assert len(resumed) == len(turns(resumed)) == len(whole) == 120  # nothing lost, nothing twice
    assert turns(resumed) == turns(whole)
    assert len(read_jsonl(folder / "results.jsonl")) == 40


def test_an_experiment_file_names_a_protocol_by_import_path(tmp_path):
    config = {**KILL_CONFIG, "model": {"class": "tests.scripted_protocols.Critiqued"}, "name": "critique"}
    result = al.Experiment.from_dict(config).run(tmp_path, progress=False)
    run = result.runs[("critique", 0)]
    assert run.calls == 120 and run.accuracy >= 0 and all(r.error is None for r in run.results)
    from agentlab.experiment.plan import plan, plan_table

    (row,) = plan(al.Experiment.from_dict(config))
    assert row.calls is None and "at run time" in plan_table([row])
    for change, message in (
        ({"protocol": "tests.scripted_protocols:critic"}, r"has no 'critic'.*did you mean 'critique'"),
        ({"protocol": "nowhere.at_all:critique"}, r"cannot import 'nowhere.at_all'"),
        (
            {"protocol": "tests.scripted_protocols:Critiqued"},
            r"is a ModelMetaclass, not a protocol|not a protocol",
        ),
        ({"protocol": "tests.scripted_protocols:critique", "preset": "chain"}, "give exactly one of"),
    ):
        bad = {**config, "topologies": [{**config["topologies"][0], **change}]}
        with pytest.raises(ValueError, match=message):
            al.Experiment.from_dict(bad)


def test_routed_teams_re_ask_what_the_task_cannot_read():
    from tests.scripted_tools import _on_a_board

    class Strict(al.Task):  # a post must give a number
        def reask(self, text, item, agent, round, rounds):
            return "Give a number." if text == "My part: ?" else None

    def respond(messages):
        if messages[-1].text == "Give a number.":
            return "My part: 24"
        said = _on_a_board(messages)
        return "My part: ?" if said == "My part: 24" else said

    task = Strict("strict", al.tasks.load("arithmetic", n=3).items, extractor=al.tasks.extract.extract_number)
    run = al.topologies.load(
        "blackboard", n_agents=3, model=al.models.ScriptedChatModel(respond=respond)
    ).run(task, cache=False, progress=False)
    posts = [m for m in run.records if m.rejected]
    assert posts and all(m.rejected == ("My part: ?",) and m.content == "My part: 24" for m in posts)
    assert all(
        r.prediction == 24.0
        and r.scoring["reasks"]
        == len(run.messages(r.item_id)) - len([m for m in run.messages(r.item_id) if not m.rejected])
        for r in run.results
    )


def test_a_routed_team_streams_into_a_running_batch_with_the_step_by_steps_words():
    from tests.models.tiny_model import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_llama(tok)
    words = {}
    for generation, stream in (("padded", False), ("continuous", True)):
        llm = al.models.LocalChatModel.from_components(
            model, tok, model_name="t", max_new_tokens=5, generation=generation
        )
        team = al.topologies.load("semi-centralized", n_agents=2, model=llm, max_steps=1)
        run = team.run(al.tasks.load("arithmetic", n=3), cache=False, progress=False, stream=stream)
        words[generation] = {(m.item_id, m.round, m.sender): m.content for m in run.records}
    # stream=True refuses to run unless the calls go into the running batch
    assert words["continuous"] == words["padded"] and len(words["padded"]) >= 3
