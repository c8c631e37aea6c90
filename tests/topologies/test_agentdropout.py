"""AgentDropout: each loss term as its docstring states it, who is dropped and when, and a dropped
agent making no call in its round."""

import random

import pytest
import torch

import agentlab as al
from tests.topologies.learning_fixtures import FAST, knower_agents, knower_and_adversary_model, secret_task


def grads(term, learner):
    for p in learner.parameters():
        p.grad = None
    term.backward(retain_graph=True)
    return {
        k for k, p in learner.learned_parameters().items() if p.grad is not None and p.grad.abs().sum() > 0
    }


@pytest.fixture
def dropout():
    learner = al.topologies.AgentDropout(knower_agents(), rounds=2, node_steps=1, low_rank=0.5, delta=0.1)
    with torch.no_grad():  # a state where every term is away from its kink
        learner.spatial_logits.copy_(torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(0)))
        learner.temporal_logits.copy_(torch.randn(1, 4, 4, generator=torch.Generator().manual_seed(1)))
    learner.log.steps.append({})  # past the node phase
    return learner


def test_the_node_phase_is_reinforce_on_its_own_adjacency_alone():
    learner = al.topologies.AgentDropout(knower_agents(), rounds=2)
    assert learner.phase == "node"
    dists = learner.distributions([])
    assert learner.regularizers(dists) == {}
    sample = learner.sample(dists[0], random.Random(0))
    assert len(sample.rounds) == 2 and len(sample.rounds[1].temporal) == 16  # every temporal edge on
    assert grads(-sample.log_prob, learner) == {"node_logits"}


def test_the_edge_phase_policy_term_reaches_the_per_round_adjacencies(dropout):
    sample = dropout.sample(dropout.distributions([])[0], random.Random(0))
    assert grads(-sample.log_prob, dropout) == {"spatial_logits", "temporal_logits"}


def test_low_rank_terms_are_eta_times_the_mean_nuclear_norm_per_round(dropout):
    terms = dropout.regularizers(dropout.distributions([]))
    a, b = dropout.adjacency()
    for name, matrix, param in (
        ("low_rank_spatial", a, "spatial_logits"),
        ("low_rank_temporal", b, "temporal_logits"),
    ):
        expected = 0.5 * torch.stack([torch.linalg.svdvals(m).sum() for m in matrix]).mean()
        assert torch.isclose(terms[name], expected)
        assert grads(terms[name], dropout) == {param}


def test_frobenius_terms_are_a_hinge_on_the_distance_to_the_dense_start(dropout):
    terms = dropout.regularizers(dropout.distributions([]))
    a, b = dropout.adjacency()
    dense_a, dense_b = 1 - torch.eye(4), torch.ones(4, 4)
    for name, matrix, dense, param in (
        ("frobenius_spatial", a, dense_a, "spatial_logits"),
        ("frobenius_temporal", b, dense_b, "temporal_logits"),
    ):
        distance = torch.stack([torch.linalg.norm(dense - m) for m in matrix]).mean()
        assert torch.isclose(terms[name], torch.relu(distance - 0.1))
        assert grads(terms[name], dropout) == {param}
    dropout.settings.delta = 100.0  # inside the slack the hinge is flat
    assert dropout.regularizers(dropout.distributions([]))["frobenius_spatial"] == 0


def test_each_round_drops_the_agents_of_lowest_weighted_degree_with_their_edges(echo_model, small_task):
    learner = al.topologies.AgentDropout(
        [al.Agent(n, role=f"I am {n}") for n in ("a", "b", "c", "d")],
        model=echo_model,
        node_dropout=0.25,
        node_steps=1,
    )
    with torch.no_grad():
        learner.node_logits.fill_(2.0)
        learner.node_logits[0, 2, :] = learner.node_logits[0, :, 2] = -3.0  # c, in round 0
        learner.node_logits[1, 0, :] = -3.0  # a's out-edges, in round 1
    learner.drop_agents()
    assert learner.dropped() == [["c"], ["a"]]
    assert not learner.spatial_kept[0, 2].any() and not learner.spatial_kept[0, :, 2].any()
    assert not learner.temporal_kept[0, 2].any() and not learner.temporal_kept[0, :, 0].any()
    learner.log.steps.append({})
    run = learner.team().run(small_task, **FAST)
    spoke = {(m.sender, m.round) for m in run.records}
    assert ("c", 0) not in spoke and ("a", 1) not in spoke and ("final_refer", 1) in spoke
    assert run.calls == (3 + 3 + 1) * len(small_task)
    finals = [m for m in run.records if m.sender == "final_refer"]
    assert all(set(m.content.split(" heard ")[1].split(".")[0].split(",")) == {"b", "c", "d"} for m in finals)


def test_agents_drop_after_the_node_phase_and_edges_on_the_pruning_schedule():
    learner = al.topologies.AgentDropout(
        knower_agents(), model=knower_and_adversary_model(), rounds=2, node_steps=2, prune_every=2,
        edge_dropout=0.25, decision="last",
    )  # fmt: skip
    kept = []
    original = learner.after_step

    def watch(step):
        original(step)
        kept.append((step, learner.spatial_kept[0].sum().item(), sum(map(len, learner.dropped()))))

    learner.after_step = watch
    learner.fit(secret_task(24).train(), epochs=1, batch_size=4, samples_per_query=1, **FAST)
    assert kept[0] == (1, 12, 0) and kept[1] == (2, 6, 2)  # one agent per round, with its 6 edges
    assert [k[1] for k in kept[2:]] == [6, 4, 4, 3]  # a quarter of what survives, every 2 steps


def test_agentdropout_drops_the_adversary_that_fools_the_decider():
    task = secret_task(24)
    learner = al.topologies.AgentDropout(
        knower_agents(), model=knower_and_adversary_model(), decision="last", rounds=1,
        node_dropout=0.25, node_steps=9, edge_dropout=0.0, lr=0.2, seed=0,
    )  # fmt: skip
    learner.fit(task.train(), epochs=6, batch_size=8, samples_per_query=4, **FAST)  # 9 node, 9 edge steps
    assert learner.dropped() == [["adversary"]]  # the decider, which decides, is never dropped
    assert learner.graph().spatial == (("knower", "decider"),)
    assert learner.team().run(task, **FAST).accuracy == 1.0
