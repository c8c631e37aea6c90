"""Each learner's ``variant="authors"``: the choices the authors' code makes, beside ours."""

import random

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


def always_right() -> al.models.ScriptedChatModel:
    return al.models.ScriptedChatModel(respond=lambda m: f"The answer is {code_of(speaker_and_heard(m)[2])}")


@pytest.mark.parametrize("variant", ["ours", "authors"])
def test_gptswarm_without_baseline_moves_even_when_every_graph_scores_the_same(variant):
    """With a baseline, equal rewards give no gradient; the authors' u·log p(G) still raises the
    probability of whatever was sampled."""
    learner = al.topologies.GPTSwarm(knower_agents(), model=always_right(), decision="last", variant=variant)
    assert learner.settings.baseline is (variant == "ours")
    before = learner.logits.detach().clone()
    learner.fit(secret_task(4).train(), epochs=1, batch_size=4, samples_per_query=2, **FAST)
    assert torch.equal(learner.logits.detach(), before) is (variant == "ours")


def test_an_explicit_setting_wins_over_the_authors_variant():
    learner = al.topologies.AgentPrune(knower_agents(), variant="authors", pruning="one_shot")
    assert learner.settings.pruning == "one_shot" and learner.settings.resample_rounds
    with pytest.raises(ValueError, match="variant is 'ours' or 'authors'"):
        al.topologies.AgentPrune(knower_agents(), variant="paper")


def test_agentprune_as_its_authors_prune_a_quarter_every_five_steps_resample_rounds_and_sample_at_test():
    learner = al.topologies.AgentPrune(
        knower_agents(), model=knower_and_adversary_model(), rounds=2, variant="authors", seed=1
    )
    s = learner.settings
    assert (s.pruning, s.prune_every, s.prune_rate, s.resample_rounds, s.sample_at_test, s.baseline) == (
        "iterative", 5, 0.25, True, True, False,
    )  # fmt: skip
    learner.fit(secret_task(40).train(), epochs=1, batch_size=4, samples_per_query=1, **FAST)
    assert len(learner.log.steps) == 10
    # 12 spatial candidates: 12 -> 9 -> 7; 16 temporal: 16 -> 12 -> 9
    assert learner.spatial_kept.sum() == 7 and learner.temporal_kept.sum() == 9
    pruned = {(i, j) for i in range(4) for j in range(4) if i != j and not learner.spatial_kept[i, j]}
    dist = learner.distributions([])[0]
    samples = [learner.sample(dist, random.Random(k)) for k in range(30)]
    assert all(len(g.rounds) == 2 and g.rounds[0].temporal == [] for g in samples)
    assert any(g.rounds[0].spatial != g.rounds[1].spatial for g in samples)  # each round its own draw
    assert not {e for g in samples for part in g.rounds for e in part.spatial} & pruned
    task = secret_task(6)
    graphs = [learner.graph_for(item) for item in task.items]
    assert graphs == [learner.graph_for(item) for item in task.items]  # sampled, but seeded by the item
    assert len(set(graphs)) > 1
    run = learner.team().run(task, **FAST)
    assert run.calls == (4 * 2 + 1) * len(task)


def test_gdesigner_as_its_authors_a_plain_gcn_a_scaled_inner_product_and_reinforce_alone():
    designer = al.topologies.GDesigner(
        expert_agents(), model=two_experts_model(), decision="last", variant="authors", seed=0
    )
    s = designer.settings
    assert (s.architecture, s.lr, s.baseline, s.sample_at_test) == ("gcn", 0.1, False, True)
    task = secret_task(8, KINDS).train()
    dists = designer.distributions(list(task.items)[:1])
    assert designer.regularizers(dists) == {}
    off = ~torch.eye(3, dtype=torch.bool)
    p = dists[0].spatial[off]
    assert torch.isclose(p.min(), torch.sigmoid(torch.tensor(-1.0))) and torch.isclose(
        p.max(), torch.sigmoid(torch.tensor(1.0))
    )  # logits min-max scaled to [-1, 1]
    mlp = [p.detach().clone() for p in designer.gcn.mlp.parameters()]
    conv = designer.gcn.conv1.lin.weight.detach().clone()
    designer.fit(task, epochs=1, batch_size=4, samples_per_query=2, **FAST)
    assert all(torch.equal(a, b) for a, b in zip(mlp, designer.gcn.mlp.parameters(), strict=True))
    assert not torch.equal(conv, designer.gcn.conv1.lin.weight)
    again = al.topologies.GDesigner.load(designer.save("/tmp/gd-authors.pt"))
    item = secret_task(2, KINDS).items[0]
    assert again.graph_for(item) == designer.graph_for(item)
