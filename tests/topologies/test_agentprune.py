"""AgentPrune cuts the harmful edges in space and time, then prunes to its target."""

import agentlab as al
from tests.topologies.learning_fixtures import (
    FAST,
    knower_agents,
    knower_and_adversary_model,
    secret_task,
)


def test_agentprune_cuts_the_adversary_in_space_and_time_then_prunes_to_the_target():
    task = secret_task(24)
    learner = al.topologies.AgentPrune(
        knower_agents(),
        model=knower_and_adversary_model(),
        decision="last",
        rounds=2,
        sparsity=0.75,
        seed=0,
        lr=0.2,
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
