"""Run-time routing presets, on scripted models, routing as their docstrings say."""

import itertools

import pytest
import yaml
from langchain_core.messages import AIMessage

import agentlab as al
from agentlab.experiment import read_jsonl
from agentlab.routing import Blackboard, SemiCentralized
from tests.killing import killed_then_resumed
from tests.scripted_tools import OnABoard


def by_item(run):
    out = {}
    for m in run.records:
        out.setdefault(m.item_id, []).append(m)
    return out


def test_a_blackboard_offers_picks_posts_and_decides():
    task = al.tasks.load("arithmetic", n=6)
    run = al.topologies.load("blackboard", n_agents=3, model=OnABoard()).run(
        task, cache=False, progress=False
    )
    assert all(r.error is None and r.prediction == 24.0 for r in run.results)
    routes = set()
    for messages in by_item(run).values():
        steps = [(m.round, m.sender) for m in messages]
        offers = [(0, "agent0"), (0, "agent1"), (0, "agent2")]
        assert steps[:4] == [*offers, (1, "controller")]
        chosen = [s for r, s in steps if r == 2]
        assert chosen in (["agent0", "agent2"], ["agent1"])
        routes.add(tuple(chosen))
        control = messages[3]
        assert control.receivers == tuple(chosen)  # the controller's pick hears it
        assert all("I can add a check" in control.prompt[-1][1] for _ in chosen)  # it read the offers
        posts = [m for m in messages if m.round == 2]
        assert all(
            set(p.receivers) == {"agent0", "agent1", "agent2", "controller", "decider"} - {p.sender}
            for p in posts
        )
        later_offer = next(m for m in messages if m.round == 3 and m.sender == "agent1")
        assert all(
            f"[{p.sender}]: My part: 24" in later_offer.prompt[-1][1] for p in posts
        )  # the board is shared
        assert messages[-1].sender == "decider" and messages[-2].content == "DECIDE"
    assert len(routes) == 2  # items took different routes
    first = run.results[0].item_id
    graph = run.graph_of(first)  # the graph as it was used
    picked = [m.sender for m in by_item(run)[first] if m.round == 2]
    assert {("controller", p) for p in picked} <= set(graph.spatial + graph.temporal)


def test_a_route_that_names_an_unknown_agent_or_loops_is_an_error_on_its_item():
    def respond(messages):
        role, text = messages[0].text, messages[-1].text
        if role.startswith("You are the controller"):
            return "POST: agent7" if "Gus" in text else "POST: agent0"  # never DECIDE
        return "The answer is 1"

    task = al.tasks.load("arithmetic", n=4)
    team = al.Team(
        [al.Agent(n, role=r) for n, r in Blackboard(workers=["agent0"], max_steps=2).agent_roles()],
        Blackboard(workers=["agent0"], max_steps=2),
        model=al.models.ScriptedChatModel(respond=respond),
    )
    run = team.run(task, cache=False, progress=False)
    errors = {r.item_id: r.error for r in run.results}
    assert len(errors) == 4 and all(errors.values())
    unknown = [e for e in errors.values() if "agent7" in e]
    assert unknown and all("'agent7' is not an agent here" in e for e in unknown)
    assert all("past max_steps=2" in e for e in errors.values() if "agent7" not in e)
    assert all(r.score == 0 and r.prediction is None for r in run.results)


def test_semi_centralized_workers_address_each_other_directly():
    def respond(messages):
        role, text = messages[0].text, messages[-1].text
        if role.startswith("You are planner"):
            if "What the workers sent you" in text:
                return "The answer is " + text.rsplit("result ", 1)[1].split()[0]
            return "@agent0: add the numbers\n@agent1: check agent0's sum"
        if role.startswith("You are agent0"):
            return "@agent1: my sum is 24" if "[planner]" in text else "ok"
        if role.startswith("You are agent1"):
            if "[agent0]: my sum is 24" in text:
                return "@planner: result 24 checked"
            return "waiting for agent0"
        return "?"

    task = al.tasks.load("arithmetic", n=2)
    run = al.topologies.load(
        "semi-centralized", n_agents=2, model=al.models.ScriptedChatModel(respond=respond)
    ).run(task, cache=False, progress=False)
    assert [r.prediction for r in run.results] == [24.0, 24.0]
    messages = by_item(run)[run.results[0].item_id]
    assert [(m.round, m.sender, m.receivers) for m in messages] == [
        (0, "planner", ("agent0", "agent1")),
        (1, "agent0", ("agent1",)),
        (1, "agent1", ("planner",)),  # it heard nothing from agent0 yet: it talks to the planner
        (2, "agent1", ("planner",)),  # agent0 wrote to it directly; it answers the planner
        (3, "planner", ()),
    ]
    assert "[agent0]: my sum is 24" in messages[3].prompt[-1][1]


def test_semi_centralized_addressing_nobody_known_is_an_error():
    def respond(messages):
        return "@agent9: do it" if messages[0].text.startswith("You are planner") else "done"

    run = al.topologies.load(
        "semi-centralized", n_agents=2, model=al.models.ScriptedChatModel(respond=respond)
    ).run(al.tasks.load("arithmetic", n=1), cache=False, progress=False)
    assert "'agent9' is not an agent here" in run.results[0].error


def test_a_routing_without_its_controller_is_named_with_the_fix():
    with pytest.raises(ValueError, match=r"blackboard routing needs agent\(s\) \['controller'\]"):
        al.Team([al.Agent("agent0"), al.Agent("decider")], Blackboard(workers=["agent0"]), model=OnABoard())
    with pytest.raises(ValueError, match=r"needs agent\(s\) \['planner'\]"):
        al.Team([al.Agent("agent0")], SemiCentralized(workers=["agent0"]), model=OnABoard())
    with pytest.raises(ValueError, match="does not take option"):
        al.topologies.load("blackboard", n_agents=2, model=OnABoard(), max_stpes=2)


def test_a_routed_run_reruns_from_the_cache(tmp_path):
    cache = al.CallCache(tmp_path / "calls.sqlite")
    task = al.tasks.load("arithmetic", n=3)
    first = al.topologies.load("blackboard", model=OnABoard()).run(task, cache=cache, progress=False)
    again = al.topologies.load("blackboard", model=OnABoard()).run(task, cache=cache, progress=False)
    assert all(m.cached for m in again.records) and len(again.records) == len(first.records)
    assert [r.prediction for r in again.results] == [r.prediction for r in first.results]


KILL_CONFIG = {
    "name": "board",
    "task": {"name": "arithmetic", "n": 16},
    "model": {"class": "tests.scripted_tools.OnABoard", "args": {"delay": 0.15}},
    "cache": False,
    "topologies": [{"preset": "blackboard", "n_agents": 3, "memory": "full"}],
}


def test_kill_9_mid_route_then_resume_loses_and_duplicates_nothing(tmp_path):
    resumed, whole, folder = killed_then_resumed(tmp_path, KILL_CONFIG, after=60)  # into the first posts

    def turns(rows):
        return {
            (r["item_id"], r["round"], r["sender"]): (r["prompt"], r["content"], r["receivers"]) for r in rows
        }

    assert len(resumed) == len(turns(resumed)) == len(whole)  # nothing lost, nothing twice
    assert turns(resumed) == turns(whole)
    results = read_jsonl(folder / "results.jsonl")
    assert len(results) == 16 and all(r["prediction"] == 24.0 for r in results)


def forwarder(good="agent2"):
    """agent0 forwards to whoever it ranks first; ``good`` answers right, the others wrong and forward."""

    def respond(messages):
        role, text = messages[0].text, messages[-1].text
        me = role.split()[2].rstrip(",")
        if me == good:
            return "The answer is " + str(eval_item(text))
        if "Notes passed to you" in text:
            return "The answer is -1"
        first = text.split("most reliable first: ", 1)[1].split(" ", 1)[0]
        return f"FORWARD {first}: please solve this"

    return al.models.ScriptedChatModel(respond=respond)


def eval_item(text):
    task = al.tasks.load("arithmetic", n=12)
    return next(item.reference for item in task.items if item.question.split("\n")[0] in text)


def test_evolving_routes_forward_and_strengthen_the_edges_that_worked():
    task = al.tasks.load("arithmetic", n=12)
    team = al.topologies.load("evolving", n_agents=3, model=forwarder(), learning_rate=0.5)
    run = team.run(task, cache=False, progress=False, settings=al.RunSettings(window=2))
    routing = team.graph
    paths = [tuple(m.sender for m in messages) for messages in by_item(run).values()]
    assert paths[0] == ("agent0", "agent1")  # ties: the first agent, forwarding to its first neighbour
    assert run.results[0].score == 0 and routing.weights[("agent0", "agent1")] < 0.5
    assert (
        paths[-1] == ("agent2",) and run.results[-1].score == 1
    )  # later items enter where answers were right
    assert sum(r.score for r in run.results[:4]) == 0 and all(r.score == 1 for r in run.results[6:])
    route = routing.start("2 + 2?")
    (turn,) = route.turns()
    assert turn.agent == "agent2" and "most reliable first: agent0 (0.50), agent1 (0.50)" in turn.text
    assert route.hear([(turn, "FORWARD agent1: check")]) == [("agent1",)]
    routing.learn(route, 1.0)  # w <- (1 - lr) w + lr score
    assert routing.weights[("agent2", "agent1")] == pytest.approx(0.75)
    for messages in by_item(run).values():
        for m, nxt in itertools.pairwise(messages):
            assert m.receivers == (nxt.sender,) and "please solve this" in nxt.prompt[-1][1]
        assert messages[-1].receivers == ()


def test_evolving_state_is_rebuilt_exactly_on_resume_and_written_to_the_run_folder(tmp_path):
    task = al.tasks.load("arithmetic", n=12)
    settings = al.RunSettings(window=2)
    whole = al.topologies.load("evolving", model=forwarder(), learning_rate=0.5)
    full = whole.run(task, cache=False, progress=False, settings=settings)
    half = {(m.item_id, m.round, m.sender): m for m in full.records[: len(full.records) // 2]}
    resumed_team = al.topologies.load("evolving", model=forwarder(), learning_rate=0.5)
    engine = al.engine.Engine(resumed_team, task, settings=settings, cache=None, progress=False, prior=half)
    resumed = engine.run()
    assert resumed_team.graph.weights == whole.graph.weights
    assert [(m.item_id, m.round, m.sender, m.content) for m in resumed.records] == [
        (m.item_id, m.round, m.sender, m.content) for m in full.records
    ]
    config = {
        "name": "evolve",
        "task": {"name": "arithmetic", "n": 4},
        "model": {"kind": "scripted", "reply": "The answer is 24"},
        "topologies": [{"preset": "evolving", "n_agents": 3}],
    }
    al.Experiment.from_dict(config).run(tmp_path, progress=False)
    saved = yaml.safe_load((tmp_path / "evolve" / "routing-evolving-seed0.json").read_text())
    assert set(saved["weights"]) == {f"agent{u}->agent{v}" for u in range(3) for v in range(3) if u != v}


def test_forwarding_to_a_stranger_or_too_often_is_an_error_on_the_item():
    stranger = al.models.ScriptedChatModel(respond=lambda messages: "FORWARD agent9: you do it")
    run = al.topologies.load("evolving", model=stranger).run(
        al.tasks.load("arithmetic", n=1), cache=False, progress=False
    )
    assert "forwarded to 'agent9', not one of its neighbours" in run.results[0].error
    ping = al.models.ScriptedChatModel(
        respond=lambda messages: (
            "FORWARD " + ("agent1" if messages[0].text.startswith("You are agent0") else "agent0") + ": go"
        )
    )
    team = al.topologies.load("evolving", model=ping, max_hops=3)
    run = team.run(al.tasks.load("arithmetic", n=1), cache=False, progress=False)
    assert "forwarded more than max_hops=3 times" in run.results[0].error
    assert team.graph.weights[("agent0", "agent1")] < 0.5  # a failed route counts as score 0


def test_routed_agents_call_tools_batched_with_every_items_turns():
    from tests.scripted_tools import add

    def respond(messages):
        role, text = messages[0].text, messages[-1].text
        if role.startswith("You are the controller"):
            return "DECIDE" if "\n[agent" in text else "POST: agent0"
        if role.startswith("You read the blackboard"):
            return "The answer is " + text.rsplit("sum is ", 1)[1].split()[0]
        if "offer what you would add" in text:
            return "I can add"
        results = [m for m in messages if m.type == "tool"]
        if not results:
            return AIMessage("", tool_calls=[{"name": "add", "args": {"a": 20, "b": 4}, "id": "t1"}])
        return f"the sum is {results[-1].text}"

    team = al.topologies.load("blackboard", n_agents=2, model=al.models.ScriptedChatModel(respond=respond))
    team = team.with_agents(tools=[add])
    run = team.run(al.tasks.load("arithmetic", n=4), cache=False, progress=False)
    assert [r.prediction for r in run.results] == [24.0] * 4
    posts = [m for m in run.records if m.round == 2]
    assert len(posts) == 4 and all(
        m.tool_calls[0].output == "24" and m.content == "the sum is 24" for m in posts
    )
    # every item's post in the same steps, and its tool round trip takes a step of its own, as a
    # fixed graph's does (the runtime answers the tool-asking reply, then asks again)
    assert {m.step for m in posts} == {3}


def test_the_explorer_draws_each_items_route_as_it_was_used():
    run = al.topologies.load("blackboard", n_agents=3, model=OnABoard()).run(
        al.tasks.load("arithmetic", n=6), cache=False, progress=False
    )
    explorer = run.show()
    assert explorer is not None
    graphs = {r.item_id: run.graph_of(r.item_id) for r in run.results}
    assert len({g.temporal for g in graphs.values()}) == 2  # two routes, two graphs
