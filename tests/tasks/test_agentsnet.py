"""AgentsNet: generated graphs, the paper's rounds and scoring rules, and agents that hear only neighbours."""

import re

import networkx as nx
import pytest

import agentlab as al
from agentlab.tasks.agentsnet import PROBLEMS, extract_answer, generate_graph, graph_of, parse_messages


def score(problem, edges, answers):
    graph = nx.Graph(edges)
    return PROBLEMS[problem].score(graph, {v: answers.get(v) for v in graph})


# a triangle a-b-c with a pendant d on c; max degree 3, so four groups
PAW = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")]


def test_coloring_gives_the_share_of_proper_edges_and_zero_for_an_invalid_answer():
    proper = {"a": "Group 1", "b": "Group 2", "c": "Group 3", "d": "Group 1"}
    assert score("coloring", PAW, proper) == 1.0
    assert score("coloring", PAW, {**proper, "b": "Group 1"}) == 0.75  # a-b clash: 3 of 4 edges proper
    assert score("coloring", PAW, {**proper, "d": "Group 9"}) == 0.0
    assert score("coloring", PAW, {**proper, "d": None}) == 0.0


def test_consensus_and_leader_election_are_all_or_nothing():
    assert score("consensus", PAW, dict.fromkeys("abcd", "1")) == 1.0
    assert score("consensus", PAW, {**dict.fromkeys("abc", "1"), "d": "0"}) == 0.0
    assert score("leader_election", PAW, {"a": "Yes", "b": "No", "c": "No", "d": "No"}) == 1.0
    assert score("leader_election", PAW, {"a": "Yes", "b": "Yes", "c": "No", "d": "No"}) == 0.0
    assert score("leader_election", PAW, {"a": "Yes", "b": "No", "c": "No", "d": None}) == 0.0


def test_matching_credits_each_consistent_agent():
    assert score("matching", PAW, {"a": "b", "b": "a", "c": "d", "d": "c"}) == 1.0
    # c names d, who does not name c back: c is inconsistent; d's "None" stands, as c is not "None"
    assert score("matching", PAW, {"a": "b", "b": "a", "c": "d", "d": "None"}) == 0.75
    # d is not a's neighbour: a is inconsistent, and so is b, whom a does not name back
    assert score("matching", PAW, {"a": "d", "b": "a", "c": "d", "d": "c"}) == 0.5


def test_vertex_cover_multiplies_coverage_by_minimality():
    assert score("vertex_cover", PAW, {"a": "Yes", "b": "No", "c": "Yes", "d": "No"}) == 1.0
    # everyone a coordinator: covered, but any one of them could be dropped, so none is needed
    assert score("vertex_cover", PAW, dict.fromkeys("abcd", "Yes")) == 0.0
    assert score("vertex_cover", PAW, {"a": "Yes", "b": "No", "c": "No", "d": "No"}) == 0.5 * 1.0
    assert score("vertex_cover", PAW, dict.fromkeys("abcd", "No")) == 0.0


@pytest.mark.parametrize("generator", ["ws", "ba", "dt"])
@pytest.mark.parametrize("n", [4, 16, 100])
def test_generated_graphs_are_connected_named_and_seeded(generator, n):
    graph = generate_graph(generator, n, seed=3)
    assert graph.number_of_nodes() == n and nx.is_connected(graph)
    assert all(isinstance(v, str) and v[0].isupper() for v in graph)
    assert nx.utils.graphs_equal(graph, generate_graph(generator, n, seed=3))
    assert not nx.utils.graphs_equal(graph, generate_graph(generator, n, seed=4))


def test_bad_graph_requests_are_named():
    with pytest.raises(ValueError, match="4 to 100 nodes"):
        generate_graph("ws", 101, 0)
    with pytest.raises(ValueError, match="unknown graph generator 'grid'"):
        generate_graph("grid", 8, 0)


def test_rounds_follow_the_paper():
    coloring = al.tasks.load("agentsnet/coloring", sizes=[8, 20], generators=["ba"], samples=1)
    small, large = coloring.items
    assert coloring.message_rounds(small) == 4  # the fixed default below 17 nodes
    assert coloring.message_rounds(large) == 2 * nx.diameter(graph_of(large)) + 1
    consensus = al.tasks.load("agentsnet/consensus", sizes=[8], generators=["ba"], samples=1)
    assert consensus.message_rounds(consensus.items[0]) == 2 * nx.diameter(graph_of(consensus.items[0])) + 1
    assert coloring.rounds_for(small) == 5  # an opening turn, then one per round of messages


def test_train_graphs_differ_from_test_graphs():
    task = al.tasks.load("agentsnet/matching", sizes=[16], samples=4)
    test = {frozenset(map(frozenset, i.reference["edges"])) for i in task.items}
    train = {frozenset(map(frozenset, i.reference["edges"])) for i in task.train_items}
    assert len(task.items) == len(task.train_items) == 12 and not test & train


def test_answers_and_messages_parse_from_model_output():
    options = ["Group 1", "Group 2", "Group 10"]
    assert extract_answer("I pick...\n### Final Answer ### Group 10", options) == "Group 10"
    assert extract_answer("### Final Answer ###\n**Group 2**", options) == "Group 2"
    assert extract_answer("I will take Group 2.", options) is None
    assert extract_answer("I will take Group 2.", options, lenient=True) == "Group 2"
    assert parse_messages('Sure. {"Ada": "I take 1", "Ben": "you take 2"} done') == {
        "Ada": "I take 1",
        "Ben": "you take 2",
    }
    assert parse_messages('{not json} {"Ada": 3}') is None


def oracle(task, solve):
    """A scripted model that sends each neighbour a personal note and answers with ``solve``."""

    def respond(messages):
        setup, text = messages[0].content, messages[-1].content  # with history, the setup came first
        me = re.search(r"You are (\w+)", setup).group(1)
        item = next(
            i
            for i in task.items
            if me in i.reference["nodes"] and f"one of {len(i.reference['nodes'])} " in setup
        )
        graph = graph_of(item)
        if "Message passing is over" in text:
            return f"Done.\n### Final Answer ### {solve(graph)[me]}"
        return "Plan: " + str({n: f"from {me} to {n}" for n in graph[me]}).replace("'", '"')

    return al.models.ScriptedChatModel(respond=respond)


def test_agents_hear_only_their_neighbours_and_a_correct_team_scores_one():
    task = al.tasks.load("agentsnet/coloring", sizes=[6], generators=["ws"], samples=1)
    item = task.items[0]
    graph = graph_of(item)

    def greedy(g):
        return {v: f"Group {c + 1}" for v, c in nx.greedy_color(g).items()}

    run = task.team(oracle(task, greedy)).run(task, cache=False, progress=False)
    assert run.results[0].score == 1.0 and run.rounds == 5
    assert len(run.records) == 6 * 5
    for m in run.records:
        prompt = m.prompt[-1][1]
        senders = set(re.findall(r"^\[(\w+)\]:", prompt, re.M))
        assert senders <= set(graph[m.sender]) | {m.sender}
        for sender in senders - {m.sender}:  # each neighbour's note is the one addressed to this agent
            assert f"[{sender}]: from {sender} to {m.sender}" in prompt
        if m.round:
            assert senders == set(graph[m.sender]) | {m.sender}


def test_a_wrong_team_gets_the_papers_partial_credit():
    task = al.tasks.load("agentsnet/coloring", sizes=[6], generators=["ws"], samples=1)
    graph = graph_of(task.items[0])
    run = task.team(oracle(task, lambda g: dict.fromkeys(g, "Group 1"))).run(
        task, cache=False, progress=False
    )
    assert run.results[0].score == 0.0
    assert run.results[0].prediction == dict.fromkeys(graph, "Group 1")


def test_with_history_each_agent_keeps_its_own_whole_chat_and_hears_the_setup_once():
    task = al.tasks.load("agentsnet/coloring", sizes=[4], generators=["ws"], samples=1, history=True)
    graph = graph_of(task.items[0])

    def greedy(g):
        return {v: f"Group {c + 1}" for v, c in nx.greedy_color(g).items()}

    run = task.team(oracle(task, greedy)).run(task, cache=False, progress=False)
    assert run.results[0].score == 1.0
    by_site = {(m.round, m.sender): m for m in run.records}
    for m in run.records:
        turns = m.prompt
        assert len(turns) == 2 * m.round + 1 and m.remembered == tuple(range(m.round))
        assert [t for t, _ in turns] == ["human", "ai"] * m.round + ["human"]
        assert [text for t, text in turns if t == "ai"] == [
            by_site[(r, m.sender)].content for r in range(m.round)
        ]
        assert sum("You are " in text for _, text in turns) == 1  # the setup, in the first turn only
        senders = set(re.findall(r"^\[(\w+)\]:", turns[-1][1], re.M))
        assert senders == (set(graph[m.sender]) if m.round else set())  # its own words are in its chat


def test_the_authors_variant_takes_their_rounds_generator_history_and_reask():
    task = al.tasks.load(
        "agentsnet/coloring", sizes=[4, 8, 16], generators=["ws"], samples=1, variant="authors"
    )
    assert [task.message_rounds(item) for item in task.items] == [4, 5, 6]
    assert graph_of(task.items[0]).number_of_edges() == 6  # k=4 at 4 nodes: the complete graph
    assert task.history and task.reask_once
    ours = al.tasks.load("agentsnet/coloring", sizes=[4], generators=["ws"], samples=1)
    assert graph_of(ours.items[0]).number_of_edges() < 6 and not ours.reask_once
    leader = al.tasks.load(
        "agentsnet/leader_election", sizes=[8], generators=["ws"], samples=1, variant="authors"
    )
    assert leader.message_rounds(leader.items[0]) == 2 * nx.diameter(graph_of(leader.items[0])) + 1
    alone = al.tasks.load(
        "agentsnet/coloring", sizes=[4], generators=["ws"], samples=1, variant="authors", history=False
    )
    assert not alone.history and alone.reask_once
    with pytest.raises(ValueError, match="variant is 'ours' or 'authors'"):
        al.tasks.load("agentsnet/coloring", variant="paper")


def sloppy(task, solve, hopeless=()):
    """The oracle, but each turn's first reply is unreadable; asked again, it replies properly,
    except the ``hopeless`` agents, which never do."""
    right = oracle(task, solve)

    def respond(messages):
        me = re.search(r"You are (\w+)", messages[0].content).group(1)
        if me in hopeless or "could not be read" not in messages[-1].content:
            return "Let me think about it."
        return right.respond(messages[:-2])  # as if asked the first time

    return al.models.ScriptedChatModel(respond=respond)


def test_an_unreadable_reply_is_asked_again_once_and_counted(tmp_path):
    task = al.tasks.load("agentsnet/coloring", sizes=[4], generators=["ws"], samples=1, reask=True)
    graph = graph_of(task.items[0])

    def greedy(g):
        return {v: f"Group {c + 1}" for v, c in nx.greedy_color(g).items()}

    hopeless = sorted(graph)[0]
    run = task.team(sloppy(task, greedy, hopeless=[hopeless])).run(task, cache=False, progress=False)
    turns = 4 * task.rounds_for(task.items[0])
    assert len(run.records) == turns and all(len(m.rejected) == 1 for m in run.records)
    assert all(m.rejected == ("Let me think about it.",) for m in run.records)
    fine = [m for m in run.records if m.sender != hopeless]
    assert all("Let me think" not in m.content for m in fine)
    result = run.results[0]
    assert result.scoring["reasks"] == turns and result.scoring["unparsed_after_reask"] == task.rounds_for(
        task.items[0]
    )
    assert result.prediction[hopeless] is None and result.score == 0.0  # an invalid answer scores 0
    one = next(m for m in fine if m.round == 0)
    assert one.usage.total_tokens > 0 and [t for t, _ in one.prompt][-1] == "human"
    # resumed from its records, the same counts come back without calling anything
    from agentlab.engine import Engine

    prior = {(m.item_id, m.round, m.sender): m for m in run.records}
    again = Engine(
        task.team(sloppy(task, greedy, hopeless=[hopeless])), task, None, progress=False, prior=prior
    ).run()
    assert again.results[0].scoring == result.scoring and again.calls == turns


def test_the_published_graphs_load_from_a_local_copy_of_the_dataset(tmp_path):
    import json

    from networkx.readwrite import json_graph

    rows = []
    for n, index in ((4, 0), (4, 1), (8, 0)):
        g = nx.cycle_graph(n)
        nx.set_node_attributes(g, {v: f"P{n}x{v}" for v in g}, "name")
        payload = {"graph": json_graph.node_link_data(g, edges="links"), "num_nodes": n}
        rows.append({"graph_generator": "ws", "num_nodes": n, "index": index, "graph": json.dumps(payload)})
    copy = tmp_path / "agentsnet.jsonl"
    copy.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = al.tasks.load("agentsnet/coloring", sizes=[4], generators=["ws"], samples=2, graphs=copy)
    assert [i.id for i in task.items] == ["test-ws-4-0", "test-ws-4-1"]
    assert sorted(graph_of(task.items[0])) == ["P4x0", "P4x1", "P4x2", "P4x3"]
    assert graph_of(task.items[0]).number_of_edges() == 4 and task.train_items  # train: generated
    with pytest.raises(ValueError, match=r"lacks the graphs \[\('ws', 16, 0\)"):
        al.tasks.load("agentsnet/coloring", sizes=[16], generators=["ws"], samples=1, graphs=copy)


def test_reask_counts_survive_a_rescore_of_the_run_folder(tmp_path):
    from agentlab.experiment import Experiment, load_runs

    config = {
        "name": "reasked",
        "task": {
            "name": "agentsnet/coloring",
            "sizes": [4],
            "generators": ["ws"],
            "samples": 1,
            "reask": True,
        },
        "model": {"kind": "scripted", "reply": "hmm"},
        "topologies": [{"preset": "task"}],
    }
    result = Experiment.from_dict(config).run(tmp_path, progress=False)
    scoring = result.runs[("task", 0)].results[0].scoring
    assert scoring["reasks"] == scoring["unparsed_after_reask"] == 4 * 5
    rescored = load_runs(tmp_path / "reasked", rescore=True)
    assert rescored[("task", 0)].results[0].scoring == scoring
