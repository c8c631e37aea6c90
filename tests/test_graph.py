import pytest

import agentlab as al


def test_layers_follow_the_dag():
    g = al.CommGraph(["a", "b", "c", "d"], spatial=[("a", "c"), ("b", "c"), ("c", "d")])
    assert g.layers == (("a", "b"), ("c",), ("d",))
    assert g.spatial_predecessors("c") == ("a", "b")
    assert g.decision == al.FinalAgent("d")


def test_a_cycle_is_an_error_that_names_it():
    with pytest.raises(ValueError, match=r"cycle: a -> b -> c -> a"):
        al.CommGraph(["a", "b", "c"], spatial=[("a", "b"), ("b", "c"), ("c", "a")])


def test_a_spatial_self_loop_is_a_cycle_but_a_temporal_one_is_fine():
    with pytest.raises(ValueError, match="cycle"):
        al.CommGraph(["a"], spatial=[("a", "a")])
    assert al.CommGraph(["a"], temporal=[("a", "a")]).temporal == (("a", "a"),)


@pytest.mark.parametrize("kind", ["spatial", "temporal"])
def test_an_edge_to_an_unknown_agent_names_it_and_the_known_ones(kind):
    with pytest.raises(ValueError, match=r"unknown agent\(s\) \['z'\]; known agents: \['a', 'b'\]"):
        al.CommGraph(["a", "b"], **{kind: [("a", "z")]})


def test_empty_and_duplicate_agents_are_errors():
    with pytest.raises(ValueError, match="at least one agent"):
        al.CommGraph([])
    with pytest.raises(ValueError, match=r"repeated: \['a'\]"):
        al.CommGraph(["a", "b", "a"])


def test_decision_must_name_known_agents():
    with pytest.raises(ValueError, match="decision agent 'x'"):
        al.CommGraph(["a"], decision=al.FinalAgent("x"))
    with pytest.raises(ValueError, match="majority vote"):
        al.CommGraph(["a"], decision=al.MajorityVote(("x",)))


def test_to_networkx_keeps_both_edge_kinds():
    g = al.CommGraph(["a", "b"], spatial=[("a", "b")], temporal=[("b", "a")]).to_networkx()
    assert sorted(g.nodes) == ["a", "b"]
    assert sorted((u, v, d["kind"]) for u, v, d in g.edges(data=True)) == [
        ("a", "b", "spatial"),
        ("b", "a", "temporal"),
    ]


def test_a_graph_converts_to_torch_geometric():
    g = al.CommGraph(["a", "b", "c"], spatial=[("a", "c"), ("b", "c")], temporal=[("c", "a")])
    data = g.to_pyg()
    assert data.num_nodes == 3 and data.names == ["a", "b", "c"]
    assert data.edge_index.tolist() == [[0, 1], [2, 2]]
    assert data.temporal_edge_index.tolist() == [[2], [0]]
    assert al.CommGraph(["solo"]).to_pyg().edge_index.shape == (2, 0)
