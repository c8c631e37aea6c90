"""GPTSwarm finds the graph known to be right, on scripted agents, from a fixed seed."""

import pytest
import torch

import agentlab as al
from tests.topologies.learning_fixtures import (
    FAST,
    edges_into,
    knower_agents,
    knower_and_adversary_model,
    secret_task,
)


def test_gptswarm_links_the_knower_to_the_decider_and_cuts_the_adversary(swarm):
    learner, task = swarm
    p = learner.probabilities().detach()
    knower, adversary, decider = 0, 2, 3
    assert p[knower, decider] > 0.95
    assert p[adversary, decider] < 0.05
    graph = learner.graph()
    assert "knower" in edges_into(graph, "decider") and "adversary" not in edges_into(graph, "decider")
    run = learner.team().run(task, **FAST)
    assert run.accuracy == 1.0


def test_a_learner_saves_and_loads(tmp_path, swarm):
    learner, _ = swarm
    path = learner.save(tmp_path / "swarm.pt")
    again = al.topologies.GPTSwarm.load(path, model=knower_and_adversary_model())
    assert torch.equal(again.probabilities(), learner.probabilities())
    assert again.graph() == learner.graph()
    assert again.log.usage == learner.log.usage and len(again.log.steps) == len(learner.log.steps)
    with pytest.raises(ValueError, match="holds a GPTSwarm, not a AgentPrune"):
        al.topologies.AgentPrune.load(path)


def test_same_seed_same_learned_graph():
    task = secret_task(8)

    def learned(seed):
        learner = al.topologies.GPTSwarm(knower_agents(), model=knower_and_adversary_model(), seed=seed)
        learner.fit(task.train(), epochs=2, batch_size=4, samples_per_query=2, **FAST)
        return learner.probabilities().detach()

    assert torch.equal(learned(3), learned(3))
    assert not torch.equal(learned(3), learned(4))


def test_gptswarm_starts_from_a_preset_by_name_or_from_a_graph():
    agents = knower_agents()
    chain = al.topologies.GPTSwarm(agents, start="chain", start_prob=0.9)
    p = chain.probabilities().detach()
    assert p[0, 1] == pytest.approx(0.9) and p[1, 0] == pytest.approx(0.1)
    assert chain.start_graph().spatial == (
        ("knower", "guesser"),
        ("guesser", "adversary"),
        ("adversary", "decider"),
    )
    empty = al.topologies.GPTSwarm(agents, start=al.CommGraph([a.name for a in agents]), start_prob=0.9)
    off_diagonal = ~torch.eye(4, dtype=torch.bool)
    assert torch.allclose(empty.probabilities()[off_diagonal], torch.tensor(0.1))
    sparse = al.topologies.GPTSwarm(agents, start_prob=0.1)  # no start graph: every edge at start_prob
    assert torch.equal(sparse.probabilities(), empty.probabilities())
    with pytest.raises(ValueError, match=r"start_prob .* in \(0, 1\); got 1"):
        al.topologies.GPTSwarm(agents, start_prob=1)
    with pytest.raises(ValueError, match=r"names agents \['stranger'\] the learner does not have"):
        al.topologies.GPTSwarm(agents, start=al.CommGraph(["knower", "stranger"], [("knower", "stranger")]))
