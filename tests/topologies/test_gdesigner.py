"""G-Designer designs a different graph per query and saves what it learned."""

import pytest
import torch

import agentlab as al
from tests.topologies.learning_fixtures import (
    FAST,
    KINDS,
    edges_into,
    expert_agents,
    secret_task,
    two_experts_model,
)


def test_gdesigner_designs_a_different_graph_per_query():
    task = secret_task(32, KINDS)
    designer = al.topologies.GDesigner(
        expert_agents(), model=two_experts_model(), decision="last", token_penalty=0.0, seed=0, lr=0.02
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


def test_gdesigner_saves_and_loads(tmp_path):
    task = secret_task(8, KINDS)
    designer = al.topologies.GDesigner(expert_agents(), model=two_experts_model(), seed=1)
    designer.fit(task.train(), epochs=1, batch_size=4, samples_per_query=2, **FAST)
    again = al.topologies.GDesigner.load(designer.save(tmp_path / "gd.pt"), model=two_experts_model())
    for item in task.items[:2]:
        assert again.graph_for(item) == designer.graph_for(item)


def test_a_designer_of_decisions_saves_what_it_reads_queries_against(tmp_path):
    task = secret_task(8, KINDS)
    designer = al.topologies.GDesigner(expert_agents(), model=two_experts_model(), decision="vote", seed=1)
    designer.fit(task.train(), epochs=1, batch_size=4, samples_per_query=2, **FAST)
    assert designer.query_center.abs().sum() > 0  # the training queries' mean embedding
    again = al.topologies.GDesigner.load(designer.save(tmp_path / "gd.pt"), model=two_experts_model())
    assert torch.equal(again.query_center, designer.query_center)
    for item in task.items[:2]:
        assert again.graph_for(item) == designer.graph_for(item)


def test_the_decision_heads_bias_learns_at_its_own_rate():
    """Adam's first step moves every parameter with a gradient by its group's rate: lr for the
    head's weights, lr × bias_lr_scale for its per-agent bias."""
    task = secret_task(8, KINDS)
    moved = {}
    for scale in (1.0, 10.0):
        designer = al.topologies.GDesigner(
            expert_agents(), model=two_experts_model(), decision="vote", lr=0.01, bias_lr_scale=scale, seed=1
        )
        designer.fit(task.train(), epochs=1, batch_size=8, samples_per_query=4, **FAST)
        moved[scale] = designer.decision_head.bias.detach().abs().max().item()
        assert designer.decision_head.weight.detach().abs().max().item() <= 0.01 + 1e-6
    assert abs(moved[1.0] - 0.01) < 1e-4 and abs(moved[10.0] - 0.1) < 1e-3
    with pytest.raises(ValueError, match="bias_lr_scale"):
        al.topologies.GDesigner(expert_agents(), model=two_experts_model(), decision="vote", bias_lr_scale=0)
