"""The hidden-fact task: only one agent is told; the rest must hear it."""

import itertools
import re

import pytest

import agentlab as al
from agentlab.tasks.hidden import extract_colour


def relaying_model():
    """Says the fact when told it or when it hears an agent state one; else guesses the first option."""

    def respond(messages):
        text = "\n".join(m.text for m in messages)
        known = re.search(r"Fact: .* is (\w+)\.", text) or re.search(r"\[agent\d+\]: I know: (\w+)", text)
        if known:
            return f"I know: {known.group(1)}. The answer is {known.group(1)}"
        return "The answer is red"  # a guess

    return al.models.ScriptedChatModel(respond=respond)


def test_only_the_holder_is_told_and_a_graph_to_the_decider_brings_it_there():
    task = al.tasks.load("hidden-fact", n=40, parts=4)
    holders = {item.meta["holder"] for item in task.items}
    assert holders == {0, 1, 2, 3}
    item = task.items[0]
    prompts = [task.prompt_for(item, f"agent{k}", 0, 1) for k in range(4)]
    assert sum(item.meta["fact"] in p for p in prompts) == 1 and all(item.question in p for p in prompts)
    model = relaying_model()
    single = al.topologies.load("single", model=model).run(task, cache=False, progress=False)
    star = al.topologies.load("star", n_agents=4, model=model).run(task, cache=False, progress=False)
    assert star.accuracy == 1.0 and single.interval[1] < star.interval[0]  # intervals apart
    told_alone = sum(i.meta["holder"] == 0 for i in task.items)
    assert single.accuracy >= told_alone / 40  # it knows when it is the one told, and guesses otherwise


def test_a_chain_depends_on_its_order():
    task = al.tasks.load("hidden-fact", n=40, parts=4)

    def forgetful(messages):  # passes on what it was told, but not what it only heard: one hop
        text = messages[-1].text
        told = re.search(r"Fact: .* is (\w+)\.", text)
        if told:
            return f"I know: {told.group(1)}. The answer is {told.group(1)}"
        heard = re.search(r"\]: I know: (\w+)", text)
        return "The answer is " + (heard.group(1) if heard else "red")

    model = al.models.ScriptedChatModel(respond=forgetful)
    chain = al.topologies.load("chain", n_agents=4, model=model).run(task, cache=False, progress=False)
    names = [f"agent{k}" for k in (3, 2, 1, 0)]  # the same chain, the other way round
    backward_graph = al.CommGraph(names, list(itertools.pairwise(names)), decision=al.FinalAgent("agent0"))
    reversed_chain = al.Team([al.Agent(n) for n in names], backward_graph, model=model)
    backward = reversed_chain.run(task, cache=False, progress=False)
    assert {r.item_id for r in chain.results} == {r.item_id for r in backward.results}
    assert [r.score for r in chain.results] != [r.score for r in backward.results]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I think it is red. The answer is blue.", "blue"),
        ("Blue or red? The answer is red", "red"),
        ("Probably green.", "green"),
        ("No idea.", None),
    ],
)
def test_the_chosen_colour_is_read(text, expected):
    item = al.Item("x", "q", "blue", {"options": ["red", "blue", "green", "yellow"]})
    assert extract_colour(text, item) == expected


def test_train_and_test_questions_differ_and_bad_parts_are_named():
    task = al.tasks.load("hidden-fact", n=20, n_train=20)
    assert not {i.question for i in task.items} & {i.question for i in task.train_items}
    with pytest.raises(ValueError, match="parts"):
        al.tasks.load("hidden-fact", n=2, parts=0)
