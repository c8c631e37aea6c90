import re
import time

import pytest

import agentlab as al
from tests.conftest import heard, speaker, team_of


def prompts_by(run, agent, round=None):
    return [m for m in run.records if m.sender == agent and (round is None or m.round == round)]


def test_in_a_chain_each_agent_hears_only_the_one_before(echo_model, small_task):
    team = team_of(["a", "b", "c"], spatial=[("a", "b"), ("b", "c")], model=echo_model)
    run = team.run(small_task, cache=False, progress=False)
    for m in prompts_by(run, "c"):
        prompt = m.prompt[-1][1]
        assert "[b]: b heard a." in prompt
        assert "[a]:" not in prompt
    assert all(m.content.startswith("a heard nobody") for m in prompts_by(run, "a"))
    assert {m.receivers for m in prompts_by(run, "a")} == {("b",)}


def test_a_star_hub_hears_every_spoke(echo_model, small_task):
    team = al.topologies.load("star", n_agents=4, model=echo_model)
    run = team.run(small_task, cache=False, progress=False)
    hub = prompts_by(run, "agent3")
    assert len(hub) == len(small_task)
    for m in hub:
        assert re.findall(r"^\[(\w+)\]:", m.prompt[-1][1], re.M) == ["agent0", "agent1", "agent2"]


def test_temporal_edges_carry_last_rounds_messages(small_task):
    def respond(messages):
        me, round_ = speaker(messages), "r1" if heard(messages) else "r0"
        return f"{me}-{round_} heard {','.join(heard(messages))}. The answer is 1"

    model = al.models.ScriptedChatModel(respond=respond)
    team = team_of(["a", "b"], temporal=[("a", "b"), ("b", "b")], model=model)
    run = team.run(small_task, rounds=2, cache=False, progress=False)
    b1 = prompts_by(run, "b", round=1)[0].prompt[-1][1]
    assert "[a]: a-r0 heard ." in b1 and "[b]: b-r0 heard ." in b1
    assert prompts_by(run, "a", round=1)[0].content.startswith("a-r0")  # a hears nobody, ever
    assert prompts_by(run, "b", round=0)[0].receivers == ("b",)
    assert prompts_by(run, "b", round=1)[0].receivers == ()  # no round follows the last
    # round-1 calls ran in a later batch than round-0 calls
    assert min(m.step for m in run.records if m.round == 1) > max(m.step for m in run.records if m.round == 0)


def test_all_items_share_each_batch(small_task):
    sizes = []

    class Counting(al.models.ScriptedChatModel):
        def batch(self, inputs, config=None, **kw):
            sizes.append(len(inputs))
            return super().batch(inputs, config, **kw)

    model = Counting(respond=lambda m: "The answer is 2")
    team = al.topologies.load("star", n_agents=4, model=model)
    team.run(small_task, rounds=2, cache=False, progress=False)
    # round 0: 3 spokes x 5 items, then the hub x 5; round 1 likewise
    assert sizes == [15, 5, 15, 5]


def test_final_agent_and_majority_vote(small_task):
    answers = {"a": "The answer is 3", "b": "The answer is 5", "c": "The answer is 5"}
    model = al.models.ScriptedChatModel(respond=lambda m: answers[speaker(m)])
    final = team_of(["a", "b", "c"], decision=al.FinalAgent("a"), model=model)
    vote = team_of(["a", "b", "c"], decision=al.MajorityVote(), model=model)
    assert {r.prediction for r in final.run(small_task, cache=False, progress=False).results} == {3.0}
    results = vote.run(small_task, cache=False, progress=False).results
    assert {r.prediction for r in results} == {5.0}
    assert results[0].answers == {"a": 3.0, "b": 5.0, "c": 5.0}


def test_majority_tie_goes_to_the_first_agent_in_order(small_task):
    answers = {"a": "The answer is 3", "b": "The answer is 5", "c": "no idea"}
    model = al.models.ScriptedChatModel(respond=lambda m: answers[speaker(m)])
    run = team_of(["a", "b", "c"], decision=al.MajorityVote(), model=model).run(
        small_task, cache=False, progress=False
    )
    assert {r.prediction for r in run.results} == {3.0}


def test_scores_compare_the_decision_with_the_reference():
    task = al.tasks.load("arithmetic", n=4, seed=3)
    truth = {item.question: item.reference for item in task}

    def respond(messages):
        question = next(q for q in truth if q in str(messages[-1].content))
        return f"The answer is {truth[question]}" if truth[question] % 2 == 0 else "The answer is -1"

    run = al.Team([al.Agent("solo")], model=al.models.ScriptedChatModel(respond=respond)).run(
        task, cache=False, progress=False
    )
    expected = sum(ref % 2 == 0 for ref in truth.values()) / len(truth)
    assert run.accuracy == pytest.approx(expected)
    assert run.interval[0] <= run.accuracy <= run.interval[1]


def test_token_sums_per_agent_and_per_run(echo_model, small_task):
    run = team_of(["a", "b"], spatial=[("a", "b")], model=echo_model).run(
        small_task, cache=False, progress=False
    )
    for agent, usage in run.usage_by_agent().items():
        mine = [m for m in run.records if m.sender == agent]
        assert usage.prompt_tokens == sum(len(" ".join(t for _, t in m.prompt).split()) for m in mine)
        assert usage.completion_tokens == sum(len(m.content.split()) for m in mine)
    total = run.usage
    assert total.total_tokens == sum(u.total_tokens for u in run.usage_by_agent().values())
    assert total.prompt_tokens == sum(u.prompt_tokens for u in run.usage_by_round().values())
    assert run.summary()["prompt_tokens"] == total.prompt_tokens > 0


def test_same_inputs_give_the_same_records(echo_model):
    def records(run):
        return [(m.sender, m.receivers, m.round, m.item_id, m.step, m.content, m.usage) for m in run.records]

    first = al.topologies.load("mesh", n_agents=4, model=echo_model).run(
        al.tasks.load("arithmetic", n=6, seed=4), rounds=2, cache=False, progress=False
    )
    second = al.topologies.load("mesh", n_agents=4, model=echo_model).run(
        al.tasks.load("arithmetic", n=6, seed=4), rounds=2, cache=False, progress=False
    )
    assert records(first) == records(second)
    assert len(first.records) == 6 * 4 * 2


def test_a_failing_call_is_recorded_and_the_run_goes_on(small_task):
    bad_item = small_task.items[2].question

    def respond(messages):
        if bad_item in str(messages[-1].content) and speaker(messages) == "a":
            return RuntimeError("model fell over")
        return "The answer is 7"

    team = team_of(["a", "b"], spatial=[("a", "b")], model=al.models.ScriptedChatModel(respond=respond))
    run = team.run(small_task, cache=False, progress=False)
    assert len(run.errors) == 1
    failed = run.errors[0]
    assert failed.item_id == small_task.items[2].id and "model fell over" in failed.error
    assert run.calls == 10  # b still answered that item, having heard nothing from a
    b_on_bad = next(m for m in run.records if m.sender == "b" and m.item_id == failed.item_id)
    assert "[a]:" not in b_on_bad.prompt[-1][1]


def test_fail_fast_raises_on_the_first_failure(small_task):
    model = al.models.ScriptedChatModel(respond=lambda m: ValueError("boom"))
    with pytest.raises(al.AgentCallError, match="boom"):
        al.Team([al.Agent("a")], model=model).run(small_task, cache=False, progress=False, fail_fast=True)


def test_bad_team_input_is_named(echo_model, small_task):
    with pytest.raises(ValueError, match="at least one agent"):
        al.Team([], model=echo_model)
    with pytest.raises(ValueError, match="agent 'a' has no model"):
        al.Team([al.Agent("a")])
    with pytest.raises(ValueError, match=r"graph-only \['z'\], agents-only \['b'\]"):
        al.Team([al.Agent("a"), al.Agent("b")], al.CommGraph(["a", "z"]), model=echo_model)
    with pytest.raises(TypeError, match="the model of agent 'a' is 'gpt-4': a name is not a model here"):
        al.Team([al.Agent("a", model="gpt-4")])
    agent = al.Agent("b")
    agent.model = object()
    with pytest.raises(TypeError, match=r"give a langchain-core chat model \(BaseChatModel\)"):
        al.Team([agent])
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        al.Team([al.Agent("a")], model=echo_model).run(small_task, rounds=0)
    with pytest.raises(ValueError, match=r"lacks \{context\}"):
        al.Agent("a", template="{task}")


def test_any_langchain_chat_model_works():
    from langchain_core.language_models import GenericFakeChatModel

    replies = iter(["The answer is 1", "The answer is 2", "The answer is 3"] * 10)
    model = GenericFakeChatModel(messages=replies)
    run = al.topologies.load("chain", n_agents=3, model=model).run(
        al.tasks.load("arithmetic", n=2), cache=False, progress=False
    )
    assert run.calls == 6 and not run.errors
    assert {m.model for m in run.records} == {"generic-fake-chat-model"}


def test_run_renders_as_text_and_html(echo_model, small_task, tmp_path):
    roles = ["I am agent0", "I am agent1"]
    team = al.topologies.load("chain", n_agents=2, model=echo_model, roles=roles)
    run = team.run(small_task, cache=False, progress=False)
    assert "chain on arithmetic" in repr(run) and "10 calls" in repr(run)
    assert "<table>" in run._repr_html_()
    page = run.to_html(tmp_path / "report.html").read_text()
    assert "agent1 heard agent0" in page and small_task.items[0].id in page


def test_each_item_may_run_on_its_own_graph(echo_model, small_task):
    agents = [al.Agent(n, role=f"I am {n}") for n in ["a", "b", "c"]]
    first = small_task.items[0].id
    chain = al.CommGraph(["a", "b", "c"], [("a", "b"), ("b", "c")])
    pair = al.CommGraph(["c", "a"], [("c", "a")])
    team = al.Team(agents, lambda item: chain if item.id == first else pair, model=echo_model)
    run = team.run(small_task, cache=False, progress=False)
    by_item = {}
    for m in run.records:
        by_item.setdefault(m.item_id, []).append(m)
    assert sorted(m.sender for m in by_item[first]) == ["a", "b", "c"]
    for item in small_task.items[1:]:
        messages = {m.sender: m for m in by_item[item.id]}
        assert sorted(messages) == ["a", "c"]
        assert messages["a"].content == "a heard c. The answer is 7"
    assert len(run.results) == len(small_task)


def test_a_graph_naming_an_agent_the_team_lacks_is_named(echo_model, small_task):
    team = al.Team([al.Agent("a")], lambda item: al.CommGraph(["a", "zed"]), model=echo_model)
    with pytest.raises(ValueError, match=r"lacks: \['zed'\]"):
        team.run(small_task, cache=False, progress=False)


def test_items_may_prescribe_their_rounds(echo_model, small_task):
    class PerItemRounds(al.Task):
        def rounds_for(self, item):
            return 1 + small_task.items.index(item) % 2

    task = PerItemRounds(small_task.name, small_task.items, extractor=small_task.extractor)
    team = team_of(["a"], temporal=[("a", "a")], model=echo_model)
    run = team.run(task, cache=False, progress=False)
    rounds = {item.id: 1 + k % 2 for k, item in enumerate(small_task.items)}
    assert sorted(m.item_id for m in run.records) == sorted(i for i, r in rounds.items() for _ in range(r))
    assert run.rounds == 2
    assert len(run.results) == len(small_task)
    explicit = team.run(task, rounds=3, cache=False, progress=False)
    assert len(explicit.records) == 3 * len(small_task)


class Hanging(al.models.ScriptedChatModel):
    """Its first ``hangs`` batches never return in time (they sleep), later ones answer at once."""

    hangs: int = 1
    seen: int = 0

    def batch(self, inputs, config=None, **kwargs):
        self.seen += 1
        if self.seen <= self.hangs:
            time.sleep(3)
        return super().batch(inputs, config, **kwargs)


def test_a_hanging_batch_times_out_and_is_retried(small_task):
    model = Hanging(respond=lambda messages: "The answer is 7", hangs=1)
    started = time.perf_counter()
    run = al.Team([al.Agent("a")], model=model).run(small_task, cache=False, progress=False, timeout=0.3)
    assert time.perf_counter() - started < 2.5  # not waiting for the hung batch
    assert not run.errors and run.calls == len(small_task) and model.seen == 2


def test_a_batch_that_keeps_hanging_is_recorded_as_timed_out(small_task):
    model = Hanging(respond=lambda messages: "The answer is 7", hangs=10)
    run = al.Team([al.Agent("a")], model=model).run(
        small_task, cache=False, progress=False, timeout=0.2, retries=0
    )
    assert len(run.errors) == len(small_task)
    assert all("TimeoutError: no reply within timeout=0.2 s" in m.error for m in run.errors)


def test_a_window_bounds_the_items_in_flight_and_changes_no_answer(echo_model, small_task):
    team = al.topologies.load("chain", n_agents=3, model=echo_model)
    everything = team.run(small_task, rounds=2, cache=False, progress=False)
    from agentlab.engine import Engine

    seen: list[al.Message] = []
    windowed = Engine(
        team, small_task, 2, al.RunSettings(window=2), keep_records=False, on_message=seen.append
    ).run()
    assert windowed.records == [] and len(seen) == len(everything.records)
    per_step: dict[int, set[str]] = {}
    for m in seen:
        per_step.setdefault(m.step, set()).add(m.item_id)
    assert max(len(ids) for ids in per_step.values()) <= 2
    assert windowed.results == everything.results
    key = lambda m: (m.item_id, m.round, m.sender)  # noqa: E731
    assert sorted((key(m), m.content) for m in seen) == sorted(
        (key(m), m.content) for m in everything.records
    )


def test_a_graph_wired_by_round_runs_each_round_on_its_own_wiring(echo_model, small_task):
    """Round 0: a -> b, c silent; round 1: b -> c, a silent, b and c hear round 0's b; round 2: the
    decider d alone, hearing everyone of round 1."""
    graph = al.CommGraph.per_round(
        [
            al.CommGraph(["a", "b", "c"], [("a", "b")], silent=["c"]),
            al.CommGraph(["a", "b", "c"], [("b", "c")], temporal=[("b", "b"), ("b", "c")], silent=["a"]),
            al.CommGraph(["b", "c", "d"], temporal=[("b", "d"), ("c", "d")], silent=["b", "c"]),
        ],
        agents=["a", "b", "c", "d"],
    )
    assert graph.wired_rounds == 3 and graph.calls(3) == 5 and graph.decision == al.FinalAgent("d")
    team = al.Team([al.Agent(n, role=f"I am {n}") for n in "abcd"], graph, model=echo_model)
    run = team.run(small_task, cache=False, progress=False)
    assert run.calls == 5 * len(small_task) and len(run.results) == len(small_task)
    spoke = {(m.sender, m.round) for m in run.records}
    assert spoke == {("a", 0), ("b", 0), ("b", 1), ("c", 1), ("d", 2)}
    by = {(m.sender, m.round): m for m in run.records if m.item_id == small_task.items[0].id}
    assert by[("b", 0)].content.startswith("b heard a")
    assert by[("c", 1)].content.startswith("c heard b,b")  # round 0's b by a temporal edge, then round 1's
    assert by[("b", 0)].receivers == ("b", "c") and by[("a", 0)].receivers == ("b",)
    assert by[("d", 2)].content.startswith("d heard b,c")
    assert max(m.step for m in run.records if m.round == 0) < min(m.step for m in run.records if m.round == 2)
    with pytest.raises(ValueError, match=r"wired for 3 rounds.*rounds=3"):
        team.run(small_task, rounds=2, cache=False, progress=False)


def test_a_graph_wired_by_round_resumes_from_its_records(echo_model, small_task, tmp_path):
    graph = al.CommGraph.per_round(
        [
            al.CommGraph(["a", "b"], [("a", "b")]),
            al.CommGraph(["a", "b", "c"], temporal=[("a", "c"), ("b", "c")], silent=["a", "b"]),
        ]
    )
    team = al.Team([al.Agent(n, role=f"I am {n}") for n in "abc"], graph, model=echo_model)
    whole = team.run(small_task, cache=False, progress=False)
    from agentlab.engine import Engine

    prior = {(m.item_id, m.round, m.sender): m for m in whole.records if m.round == 0}
    engine = Engine(team, small_task, None, cache=None, progress=False, prior=prior)
    assert engine.resumption().calls_left == len(small_task)  # only c's turns are left
    again = engine.run()
    assert [r.prediction for r in again.results] == [r.prediction for r in whole.results]


def test_a_badly_wired_per_round_graph_is_named():
    with pytest.raises(ValueError, match=r"round 1 hears \['c'\] from round 0, where they do not speak"):
        al.CommGraph.per_round(
            [
                al.CommGraph(["a", "c"], silent=["c"]),
                al.CommGraph(["b", "c"], temporal=[("c", "b")], silent=["c"]),
            ]
        )
    with pytest.raises(ValueError, match=r"edges \[\('a', 'b'\)\] reach or leave a silent agent"):
        al.CommGraph(["a", "b"], [("a", "b")], silent=["b"])
    with pytest.raises(ValueError, match="round 0 has temporal edges"):
        al.CommGraph.per_round([al.CommGraph(["a"], temporal=[("a", "a")])])
    with pytest.raises(ValueError, match=r"agents= leaves out"):
        al.CommGraph.per_round([al.CommGraph(["a", "b"])], agents=["a"])
