"""The decision outside the learned graph, as the papers keep it: GPTSwarm's vote node with learned
incoming edges, AgentPrune's and G-Designer's FinalRefer that hears every agent in the last round."""

import agentlab as al
from tests.topologies.learning_fixtures import FAST, code_of, secret_task, speaker_and_heard


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
