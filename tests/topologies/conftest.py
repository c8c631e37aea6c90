"""The learners' shared fixture: a GPTSwarm trained once for the tests that read it."""

import pytest

import agentlab as al
from tests.topologies.learning_fixtures import FAST, knower_agents, knower_and_adversary_model, secret_task


@pytest.fixture(scope="module")
def swarm():
    task = secret_task(24)
    learner = al.topologies.GPTSwarm(
        knower_agents(), model=knower_and_adversary_model(), decision="last", seed=0, lr=0.2
    )
    learner.fit(task.train(), epochs=12, batch_size=8, samples_per_query=4, **FAST)
    return learner, task
