import pytest

import agentlab as al


@pytest.fixture
def model():
    return al.models.ScriptedChatModel(respond=lambda m: "The answer is 1")


def edges(team):
    return sorted((int(u[5:]), int(v[5:])) for u, v in team.graph.spatial)


def test_presets_build_the_graphs_they_name(model):
    assert edges(al.topologies.load("chain", n_agents=4, model=model)) == [(0, 1), (1, 2), (2, 3)]
    assert edges(al.topologies.load("star", n_agents=4, model=model)) == [(0, 3), (1, 3), (2, 3)]
    assert edges(al.topologies.load("tree", n_agents=5, model=model)) == [(1, 0), (2, 0), (3, 1), (4, 1)]
    assert edges(al.topologies.load("mesh", n_agents=3, model=model)) == [(0, 1), (0, 2), (1, 2)]
    assert edges(al.topologies.load("layered", n_agents=4, model=model)) == [(0, 2), (0, 3), (1, 2), (1, 3)]
    assert edges(al.topologies.load("debate", n_agents=3, model=model)) == []
    assert len(al.topologies.load("debate", n_agents=3, model=model).graph.temporal) == 9
    assert isinstance(al.topologies.load("debate", n_agents=3, model=model).graph.decision, al.MajorityVote)
    assert al.topologies.load("tree", n_agents=5, model=model).graph.decision == al.FinalAgent("agent0")
    single = al.topologies.load("single", model=model)
    assert single.graph.agents == ("agent0",) and single.graph.temporal == (("agent0", "agent0"),)


def test_random_preset_is_seeded(model):
    a = al.topologies.load("random", n_agents=6, model=model, p=0.5, seed=3)
    b = al.topologies.load("random", n_agents=6, model=model, p=0.5, seed=3)
    assert a.graph.spatial == b.graph.spatial
    assert 0 < len(a.graph.spatial) < 15


def test_roles_are_cycled_over_agents(model):
    team = al.topologies.load("chain", n_agents=3, model=model, roles=["solver", "critic"])
    assert [a.role for a in team.agents] == ["solver", "critic", "solver"]


def test_bad_topology_input_is_named(model):
    with pytest.raises(ValueError, match="did you mean 'star'"):
        al.topologies.load("stra", model=model)
    with pytest.raises(ValueError, match="exactly 1 agent"):
        al.topologies.load("single", n_agents=3, model=model)
    with pytest.raises(ValueError, match="positive integer"):
        al.topologies.load("chain", n_agents=0, model=model)
