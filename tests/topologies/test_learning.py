"""What all learners share: gradient for every loss term, training tokens apart, held-out items."""

import random

import pytest
import torch

import agentlab as al
from agentlab.topologies.edges import sample_graph
from tests.topologies.learning_fixtures import (
    FAST,
    KINDS,
    expert_agents,
    knower_agents,
    knower_and_adversary_model,
    secret_task,
    two_experts_model,
)


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


def test_training_tokens_are_counted_apart_from_test_tokens(swarm):
    learner, task = swarm
    steps = 12 * 3
    assert len(learner.log.steps) == steps
    # items x samples x the agents called: from the decider alone to all four (an agent whose words
    # reach no decider is not called)
    assert steps * 8 * 4 < learner.log.calls < steps * 8 * 4 * 4
    assert learner.log.usage.total_tokens > 0
    run = learner.team().run(task, **FAST)
    assert run.usage.total_tokens < learner.log.usage.total_tokens / 10


def test_learners_refuse_test_items_and_stop_at_a_token_budget():
    task = secret_task(16)
    learner = al.topologies.GPTSwarm(knower_agents(), model=knower_and_adversary_model())
    with pytest.raises(ValueError, match=r"pass task.train\(n\)"):
        learner.fit(task, **FAST)
    learner.fit(task.train(), epochs=5, batch_size=4, samples_per_query=2, token_budget=1000, **FAST)
    assert learner.log.stopped and "token budget 1000" in learner.log.stopped
    assert 1000 <= learner.log.usage.total_tokens < 1000 + 4 * 2 * 4 * 40
    assert len(learner.log.steps) < 5 * 4


def test_a_token_budget_that_cannot_fit_one_step_is_an_error_and_leaves_the_learner_as_it_was():
    task = secret_task(8)
    learner = al.topologies.GPTSwarm(knower_agents(), model=knower_and_adversary_model())
    before = learner.probabilities().detach().clone()
    with pytest.raises(
        ValueError,
        match=r"token_budget=10 cannot fit one training step: the first step \(4 items x 2 graphs\) "
        r"used \d+ tokens",
    ):
        learner.fit(task.train(), batch_size=4, samples_per_query=2, token_budget=10, **FAST)
    assert torch.equal(learner.probabilities(), before) and not learner.log.steps
    with pytest.raises(ValueError, match="token_budget is a number of training tokens, at least 1; got 0"):
        learner.fit(task.train(), token_budget=0, **FAST)


def test_parameters_are_saved_by_name_and_files_saved_by_position_still_load(tmp_path):
    learner = al.topologies.AgentPrune(knower_agents(), model=knower_and_adversary_model(), rounds=2, seed=3)
    saved = torch.load(learner.save(tmp_path / "new.pt"), weights_only=False)
    scores = ["spatial_logits", "temporal_logits"]
    assert saved["format"] == 2 and set(saved["state"]) == {*scores, "spatial_kept", "temporal_kept"}
    assert saved["config"]["rounds"] == 2 and saved["config"]["sparsity"] == 0.5
    old = {k: v for k, v in saved.items() if k != "format"} | {"state": [saved["state"][k] for k in scores]}
    torch.save(old, tmp_path / "old.pt")  # what earlier versions wrote: a list, in parameter order
    again = al.topologies.AgentPrune.load(tmp_path / "old.pt")
    assert torch.equal(again.temporal_logits, learner.temporal_logits)
    saved["state"]["extra"] = saved["state"].pop("temporal_logits")
    torch.save(saved, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"missing \['temporal_logits'\], unexpected \['extra'\]"):
        al.topologies.AgentPrune.load(tmp_path / "bad.pt")


def test_an_unknown_learner_setting_is_named_with_the_closest():
    with pytest.raises(TypeError, match=r"GDesigner does not take \['kl_wieght'\]; did you mean 'kl_weight'"):
        al.topologies.GDesigner(expert_agents(), kl_wieght=0.1)
