"""Hidden facts built for learned graphs: fixed liars (robustness) and facts by topic (per-query
graphs), answered by a scripted model that does what the embedded one does: repeat what it is told."""

import re

import pytest

import agentlab as al

FACT = re.compile(r"Fact: The \w+ \w+ \w+ is (\w+)\.")


def repeater():
    """Says the colour its prompt states (its own fact first, else the first it heard), or that it
    does not know."""

    def respond(messages):
        text = "\n".join(str(m.content) for m in messages)
        told = FACT.search(text) or re.search(r"The answer is (\w+)", text)
        return f"The answer is {told.group(1)}" if told else "I do not know."

    return al.models.ScriptedChatModel(respond=respond)


def test_adversaries_are_the_same_agents_on_every_item_and_agree_on_one_wrong_option():
    task = al.tasks.load("hidden-fact-adversarial", n=30, agents=5, adversaries=2, seed=3)
    assert task.meta["adversaries"] == [1, 3]
    holders = set()
    for item in task.items:
        liars = [k for k in range(5) if "Insist on this answer" in task.prompt_for(item, f"agent{k}", 0, 1)]
        assert liars == [1, 3]
        lies = {FACT.search(task.prompt_for(item, f"agent{k}", 0, 1)).group(1) for k in liars}
        assert lies == {item.meta["wrong"]} and item.meta["wrong"] != item.reference
        assert item.meta["wrong"] in item.meta["options"]
        holder = item.meta["holder"]
        holders.add(holder)
        assert FACT.search(task.prompt_for(item, f"agent{holder}", 0, 1)).group(1) == item.reference
        others = [k for k in (0, 2, 4) if k != holder]
        assert all("You were not told the answer" in task.prompt_for(item, f"agent{k}", 0, 1) for k in others)
    assert holders == {0, 2, 4}  # the honest one varies; the liars do not
    train_names = {item.question.split()[-2] for item in task.train(30).items}
    assert not train_names & {item.question.split()[-2] for item in task.items}  # disjoint splits


def test_liars_that_reach_the_decision_outvote_the_truth_and_a_graph_without_them_does_not():
    task = al.tasks.load("hidden-fact-adversarial", n=12, agents=5, adversaries=2)
    agents = [al.Agent(f"agent{k}") for k in range(5)]
    everyone = al.Team(
        agents, al.CommGraph([a.name for a in agents], decision=al.MajorityVote()), model=repeater()
    )
    honest = al.CommGraph([a.name for a in agents], decision=al.MajorityVote(("agent0", "agent2", "agent4")))
    assert everyone.run(task, progress=False, cache=False).accuracy == 0.0  # two liars against one
    assert al.Team(agents, honest, model=repeater()).run(task, progress=False, cache=False).accuracy == 1.0


def test_by_topic_the_question_says_who_knows():
    task = al.tasks.load("hidden-fact-topic", n=24, topics=4)
    topics = ["box", "door", "kite", "hat"]
    for item in task.items:
        holder = item.meta["holder"]
        assert topics[holder] in item.question and item.meta["topic"] == holder
        assert FACT.search(task.prompt_for(item, f"agent{holder}", 0, 1)).group(1) == item.reference
        other = (holder + 1) % 4
        assert f"You know only about {topics[other]}" in task.prompt_for(item, f"agent{other}", 0, 1)
    assert {item.meta["holder"] for item in task.items} == {0, 1, 2, 3}
    three = al.tasks.load("hidden-fact-topic", n=24, topics=3)
    assert {item.meta["holder"] for item in three.items} == {0, 1, 2}  # only the first three topics asked
    ask_the_knower = al.Team(
        [al.Agent(f"agent{k}") for k in range(4)],
        lambda item: al.CommGraph(
            [f"agent{k}" for k in range(4)], decision=al.FinalAgent(f"agent{item.meta['holder']}")
        ),
        model=repeater(),
    )
    assert ask_the_knower.run(task, progress=False, cache=False).accuracy == 1.0


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        (
            "hidden-fact-adversarial",
            {"agents": 5, "adversaries": 5},
            r"adversaries \(5\) must be fewer than the agents \(5\)",
        ),
        ("hidden-fact-adversarial", {"agents": 1}, "needs at least 2 agents"),
        ("hidden-fact-topic", {"topics": 5}, r"from 2 to 4 \(boxes, doors, kites, hats\); got topics=5"),
    ],
)
def test_bad_options_are_named(name, options, message):
    with pytest.raises(ValueError, match=message):
        al.tasks.load(name, **options)


def test_a_team_that_lacks_an_agent_the_task_speaks_of_is_an_error_before_any_call():
    calls = []
    model = al.models.ScriptedChatModel(respond=lambda m: calls.append(m) or "I do not know.")
    topic = al.tasks.load("hidden-fact-topic", n=2, topics=4)
    three = al.topologies.load("chain", n_agents=3, model=model)
    with pytest.raises(
        ValueError,
        match=r"the team lacks agent3: build the team with n_agents=4.*or load the task with topics=3",
    ):
        three.run(topic, progress=False, cache=False)
    liars = al.tasks.load("hidden-fact-adversarial", n=2, agents=5)
    with pytest.raises(ValueError, match="lacks agent3, agent4"):
        three.run(liars, progress=False, cache=False)
    six = al.topologies.load("chain", n_agents=6, model=model)
    with pytest.raises(ValueError, match="the team has agent4, agent5: build the team with n_agents=4"):
        six.run(topic, progress=False, cache=False)
    assert not calls
    al.topologies.load("single", model=model).run(topic, progress=False, cache=False)  # a baseline
    assert len(calls) == 2
