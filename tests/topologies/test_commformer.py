"""CommFormer learns whom each agent hears under a budget, on scripted agents, from a fixed seed."""

import random

import pytest
import torch

import agentlab as al
from tests.topologies.learning_fixtures import FAST, knower_agents, knower_and_adversary_model, secret_task


def test_each_agent_hears_exactly_its_budget_and_itself_and_every_draw_has_gradient():
    learner = al.topologies.CommFormer(knower_agents(), model=knower_and_adversary_model(), budget=2)
    for seed in range(5):
        sampled = learner.sample(learner.distributions([])[0], random.Random(seed))
        senders = {i: sorted(j for j, r in sampled.temporal if r == i and j != i) for i in range(4)}
        assert all(len(s) == 2 and i not in s for i, s in senders.items())
        assert all((i, i) in sampled.temporal for i in range(4))
        learner.alpha.grad = None
        sampled.log_prob.backward()
        assert learner.alpha.grad.abs().sum() > 0
        # Plackett-Luce: two draws without replacement among three equal scores, per agent
        assert sampled.log_prob.item() == pytest.approx(4 * (torch.log(torch.tensor(1 / 3 * 1 / 2)).item()))
    assert al.topologies.CommFormer(knower_agents()).k == 1  # the paper's default: max(1, floor(0.4 n))


def test_commformer_learns_that_the_decider_must_not_hear_the_adversary():
    """A majority of the four last answers: the knower right, the adversary wrong, the guesser
    none; the decider sides with whom it hears. Hearing the adversary loses (two wrong against
    one right); hearing the knower or the guesser wins (a tie goes to the knower, first)."""
    task = secret_task(16)
    learner = al.topologies.CommFormer(
        knower_agents(), model=knower_and_adversary_model(), budget=1, seed=0, lr=0.3
    )
    learner.fit(task.train(), epochs=8, batch_size=8, samples_per_query=4, **FAST)
    adversary, decider = 2, 3
    heard = torch.softmax(learner.scores()[decider], dim=0)
    assert heard[adversary] < 0.05
    assert ("adversary", "decider") not in learner.graph().temporal
    assert learner.team().run(task, **FAST).accuracy == 1.0
    assert learner.log.plot().ax.get_lines()  # its training curve


def test_commformer_saves_and_loads_by_name(tmp_path):
    learner = al.topologies.CommFormer(knower_agents(), model=knower_and_adversary_model(), budget=2, seed=1)
    learner.fit(secret_task(4).train(), epochs=1, batch_size=4, samples_per_query=2, **FAST)
    again = al.topologies.CommFormer.load(
        learner.save(tmp_path / "cf.pt"), model=knower_and_adversary_model()
    )
    assert set(learner.state_dict()) == {"alpha"} and torch.equal(again.alpha, learner.alpha)
    assert again.graph() == learner.graph() and again.k == 2
    assert al.topologies.learners.resolve("commformer") is al.topologies.CommFormer


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"budget": 4}, "budget is how many other agents each agent hears, from 1 to 3 with 4 agents; got 4"),
        ({"budget": 0}, "from 1 to 3"),
        ({"rounds": 1}, "it needs rounds >= 2"),
        ({"sparsity": 0.0}, r"sparsity is the share of agents each one hears, in \(0, 1\]"),
    ],
)
def test_bad_commformer_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        al.topologies.CommFormer(knower_agents(), **settings)
