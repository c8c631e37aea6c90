"""The three topology learners find graphs known to be right, on scripted agents, from a fixed seed."""

import random

import pytest
import torch
from learning_fixtures import (
    KINDS,
    expert_agents,
    knower_agents,
    knower_and_adversary_model,
    secret_task,
    two_experts_model,
)

import agentlab as al
from agentlab.topologies.learning import sample_graph

FAST = {"progress": False, "cache": False}


def edges_into(graph, target):
    return {u for u, v in graph.spatial if v == target}


@pytest.fixture(scope="module")
def swarm():
    task = secret_task(24)
    learner = al.topologies.GPTSwarm(knower_agents(), model=knower_and_adversary_model(), seed=0, lr=0.2)
    learner.fit(task.train(), epochs=12, batch_size=8, samples_per_query=4, **FAST)
    return learner, task


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


def test_training_tokens_are_counted_apart_from_test_tokens(swarm):
    learner, task = swarm
    steps = 12 * 3
    assert len(learner.log.steps) == steps
    assert learner.log.calls == steps * 8 * 4 * 4  # items x samples x agents per step
    assert learner.log.usage.total_tokens > 0
    run = learner.team().run(task, **FAST)
    assert run.usage.total_tokens < learner.log.usage.total_tokens / 10


def test_agentprune_cuts_the_adversary_in_space_and_time_then_prunes_to_the_target():
    task = secret_task(24)
    learner = al.topologies.AgentPrune(
        knower_agents(), model=knower_and_adversary_model(), rounds=2, sparsity=0.75, seed=0, lr=0.2
    )
    learner.fit(task.train(), epochs=12, batch_size=8, samples_per_query=4, **FAST)
    masks = learner.masks()
    adversary, decider = 2, 3
    assert masks.spatial[adversary, decider] < 0.05 and masks.temporal[adversary, decider] < 0.05
    graph = learner.graph()
    assert len(graph.spatial) == 3 and len(graph.temporal) == 4  # a quarter of 12 and of 16 candidates
    assert ("adversary", "decider") not in graph.spatial + graph.temporal
    assert ("knower", "decider") in graph.spatial + graph.temporal
    team = learner.team()
    assert team.rounds == 2
    assert team.run(task, **FAST).accuracy == 1.0


def test_gdesigner_designs_a_different_graph_per_query():
    task = secret_task(32, KINDS)
    designer = al.topologies.GDesigner(
        expert_agents(), model=two_experts_model(), token_penalty=0.0, seed=0, lr=0.02
    )
    designer.fit(task.train(), epochs=25, batch_size=8, samples_per_query=4, **FAST)
    astro, chef, decider = 0, 1, 2
    astronomy, cooking = task.items[0], task.items[1]
    with torch.no_grad():
        pa, pc = (designer.distributions([item])[0].spatial for item in (astronomy, cooking))
    assert pa[astro, decider] > 0.9 and pa[chef, decider] < 0.1
    assert pc[chef, decider] > 0.9 and pc[astro, decider] < 0.1
    assert edges_into(designer.graph_for(astronomy), "decider") == {"astro"}
    assert edges_into(designer.graph_for(cooking), "decider") == {"chef"}
    assert designer.team().run(task, **FAST).accuracy == 1.0


def grads_from(term, params):
    for p in params:
        p.grad = None
    term.backward(retain_graph=True)
    return [p for p in params if p.grad is not None and p.grad.abs().sum() > 0]


def test_every_loss_term_receives_gradient():
    task = secret_task(4, KINDS).train()
    items = list(task.items)
    swarm = al.topologies.GPTSwarm(knower_agents(), model=knower_and_adversary_model())
    prune = al.topologies.AgentPrune(knower_agents(), model=knower_and_adversary_model(), rounds=2)
    designer = al.topologies.GDesigner(expert_agents(), model=two_experts_model())
    for learner in (swarm, prune, designer):
        dists = learner.distributions(items, training=True)
        policy = -sum(sample_graph(d, random.Random(k)).log_prob for k, d in enumerate(dists))
        terms = {"policy": policy, **learner.regularizers(dists)}
        for name, term in terms.items():
            assert grads_from(term, learner.parameters()), f"{type(learner).__name__}: {name} has no gradient"
    prune_terms = prune.regularizers(prune.distributions(items))
    assert grads_from(prune_terms["low_rank_temporal"], prune.parameters()) == [prune.temporal_logits]
    assert set(designer.regularizers(designer.distributions(items, training=True))) == {
        "kl",
        "anchor",
        "sparsity",
    }
    kl = designer.regularizers(designer.distributions(items, training=True))["kl"]
    assert any(p is designer.encoder.log_var.bias for p in grads_from(kl, designer.parameters()))


def test_a_learner_saves_and_loads(tmp_path, swarm):
    learner, _ = swarm
    path = learner.save(tmp_path / "swarm.pt")
    again = al.topologies.GPTSwarm.load(path, model=knower_and_adversary_model())
    assert torch.equal(again.probabilities(), learner.probabilities())
    assert again.graph() == learner.graph()
    assert again.log.usage == learner.log.usage and len(again.log.steps) == len(learner.log.steps)
    with pytest.raises(ValueError, match="holds a GPTSwarm, not a AgentPrune"):
        al.topologies.AgentPrune.load(path)


def test_gdesigner_saves_and_loads(tmp_path):
    task = secret_task(8, KINDS)
    designer = al.topologies.GDesigner(expert_agents(), model=two_experts_model(), seed=1)
    designer.fit(task.train(), epochs=1, batch_size=4, samples_per_query=2, **FAST)
    again = al.topologies.GDesigner.load(designer.save(tmp_path / "gd.pt"), model=two_experts_model())
    for item in task.items[:2]:
        assert again.graph_for(item) == designer.graph_for(item)


def test_same_seed_same_learned_graph():
    task = secret_task(8)

    def learned(seed):
        learner = al.topologies.GPTSwarm(knower_agents(), model=knower_and_adversary_model(), seed=seed)
        learner.fit(task.train(), epochs=2, batch_size=4, samples_per_query=2, **FAST)
        return learner.probabilities().detach()

    assert torch.equal(learned(3), learned(3))
    assert not torch.equal(learned(3), learned(4))


def test_learners_refuse_test_items_and_stop_at_a_token_budget():
    task = secret_task(16)
    learner = al.topologies.GPTSwarm(knower_agents(), model=knower_and_adversary_model())
    with pytest.raises(ValueError, match=r"pass task.train\(n\)"):
        learner.fit(task, **FAST)
    learner.fit(task.train(), epochs=5, batch_size=4, samples_per_query=2, token_budget=500, **FAST)
    assert learner.log.stopped and "token budget 500" in learner.log.stopped
    assert 500 <= learner.log.usage.total_tokens < 500 + 4 * 2 * 4 * 40
    assert len(learner.log.steps) < 5 * 4
