"""The decision outside the learned graph, as the papers keep it: GPTSwarm's vote node with learned
incoming edges, AgentPrune's and G-Designer's FinalRefer that hears every agent in the last round."""

import pytest
import torch

import agentlab as al
from tests.topologies.learning_fixtures import (
    FAST,
    KINDS,
    code_of,
    expert_agents,
    knower_agents,
    knower_and_adversary_model,
    secret_task,
    speaker_and_heard,
    two_experts_model,
)


def test_each_learner_defaults_to_its_papers_decision():
    agents = [al.Agent(n) for n in ("a", "b", "c")]
    assert al.topologies.GPTSwarm(agents).settings.decision == "vote"
    for learner in (al.topologies.AgentPrune, al.topologies.AgentDropout):
        assert learner(agents).decision == al.FinalAgent("final_refer")
    assert al.topologies.GDesigner.Settings().decision == "final_refer"


def adversary_first_model() -> al.models.ScriptedChatModel:
    """Everyone answers alone: the knower right, the adversary wrong, the guesser not at all."""

    def respond(messages):
        me, _, text = speaker_and_heard(messages)
        return {"knower": f"The answer is {code_of(text)}", "adversary": "The answer is X0"}.get(
            me, "I do not know it."
        )

    return al.models.ScriptedChatModel(respond=respond)


def test_gptswarm_learns_who_enters_its_vote():
    """The adversary comes first in agent order, so a vote it enters with the knower is a tie it
    wins: only a vote without it is right."""
    agents = [al.Agent(n, role=f"I am {n}") for n in ("adversary", "knower", "guesser")]
    learner = al.topologies.GPTSwarm(agents, model=adversary_first_model(), seed=0, lr=0.2)
    task = secret_task(16)
    learner.fit(task.train(), epochs=8, batch_size=8, samples_per_query=4, **FAST)
    vote = learner.vote_logits.sigmoid().detach()
    assert vote[1] > 0.9 and vote[0] < 0.1
    graph = learner.graph()
    assert isinstance(graph.decision, al.MajorityVote)
    assert "knower" in graph.decision.agents and "adversary" not in graph.decision.agents
    assert learner.team().run(task, **FAST).accuracy == 1.0
    assert set(learner.state_dict()) == {"logits", "vote_logits"}


def test_a_vote_nobody_enters_gives_no_answer(echo_model, small_task):
    team = al.Team([al.Agent("a")], al.CommGraph(["a"], decision=al.MajorityVote(())), model=echo_model)
    run = team.run(small_task, cache=False, progress=False)
    assert all(r.prediction is None for r in run.results) and run.calls == len(small_task)


def test_final_refer_speaks_once_in_the_last_round_and_hears_every_agent(echo_model, small_task):
    agents = [al.Agent(n, role=f"I am {n}") for n in ("a", "b", "c")]
    learner = al.topologies.AgentPrune(agents, model=echo_model, rounds=2, decider_role="I am final_refer")
    graph = learner.graph()
    assert graph.wired_rounds == 2 and graph.decision == al.FinalAgent("final_refer")
    run = learner.team().run(small_task, **FAST)
    assert run.calls == (3 * 2 + 1) * len(small_task)
    final = [m for m in run.records if m.sender == "final_refer"]
    assert {m.round for m in final} == {1} and len(final) == len(small_task)
    assert all(m.content.startswith("final_refer heard a,b,c") for m in final)
    assert {r.prediction for r in run.results} == {7.0}


def test_an_agent_whose_words_reach_no_voter_is_not_called():
    agents = [al.Agent(n, role=f"I am {n}") for n in ("adversary", "knower", "guesser")]
    learner = al.topologies.GPTSwarm(agents, model=adversary_first_model())
    with torch.no_grad():
        learner.vote_logits.copy_(torch.tensor([-5.0, 5.0, -5.0]))  # only the knower votes
        learner.logits.fill_(-5.0)  # and nobody talks to anybody
    graph = learner.graph()
    assert graph.decision == al.MajorityVote(("knower",)) and set(graph.silent) == {"adversary", "guesser"}
    task = secret_task(6)
    run = learner.team().run(task, **FAST)
    assert run.calls == len(task) and run.accuracy == 1.0
    with torch.no_grad():
        learner.logits[2, 1] = 5.0  # the guesser now speaks to the knower: it is called again
    assert set(learner.graph().silent) == {"adversary"}


def test_final_refer_can_learn_whom_it_hears():
    """The FinalRefer repeats the knower unless it hears the adversary: with its incoming edges
    learned, it stops hearing the adversary (the papers' decider hears every agent)."""
    task = secret_task(16)
    learner = al.topologies.AgentPrune(
        knower_agents(), model=knower_and_adversary_model(), decision_edges="learned",
        decider_role="I am final_refer", sparsity=0.0, seed=0, lr=0.3,
    )  # fmt: skip
    learner.fit(task.train(), epochs=8, batch_size=8, samples_per_query=4, **FAST)
    hears = learner.vote_logits.sigmoid().detach()
    knower, adversary = 0, 2
    assert hears[adversary] < 0.1 and hears[knower] > 0.9
    graph = learner.graph()
    assert ("adversary", "final_refer") not in graph.spatial and ("knower", "final_refer") in graph.spatial
    assert learner.team().run(task, **FAST).accuracy == 1.0
    with pytest.raises(
        ValueError, match="decision_edges='learned' learns the FinalRefer decider's incoming edges"
    ):
        al.topologies.GPTSwarm(knower_agents(), decision_edges="learned")


def test_gdesigner_designs_whom_each_query_asks_and_calls_no_one_else():
    task = secret_task(32, KINDS)
    designer = al.topologies.GDesigner(
        expert_agents(), model=two_experts_model(), decision="vote", token_penalty=0.005, seed=0, lr=0.02
    )
    designer.fit(task.train(), epochs=25, batch_size=8, samples_per_query=4, **FAST)
    astronomy, cooking = task.items[0], task.items[1]
    assert designer.graph_for(astronomy).decision == al.MajorityVote(("astro",))
    assert designer.graph_for(cooking).decision == al.MajorityVote(("chef",))
    assert set(designer.graph_for(astronomy).silent) == {"chef", "decider"}
    run = designer.team().run(task, **FAST)
    assert run.accuracy == 1.0 and run.calls == len(task)  # one agent asked per query
