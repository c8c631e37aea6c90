"""Results a researcher analyses: DataFrames, seed-aware comparisons, loud failures, a training curve,
a simulation's table, plots and page, all through the public API as a notebook calls it."""

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

import agentlab as al
from agentlab.models import ScriptedChatModel
from agentlab.views.frames import ITEM_COLUMNS, MESSAGE_COLUMNS
from agentlab.views.report import report_html, text_table


@tool
def broken(x: int) -> int:
    """Always fails."""
    raise RuntimeError("the tool broke")


def calls_broken(messages):
    if not [m for m in messages if m.type == "tool"]:
        return AIMessage("", tool_calls=[{"name": "broken", "args": {"x": 1}, "id": "c0"}])
    return "The answer is 3"


def test_a_run_is_a_dataframe_per_message_and_per_item(echo_model, small_task):
    run = al.topologies.load("chain", n_agents=3, model=echo_model).run(
        small_task, progress=False, cache=False
    )
    messages = run.to_pandas()
    assert tuple(messages.columns) == MESSAGE_COLUMNS and len(messages) == run.calls == 15
    assert messages["prompt_tokens"].sum() == run.usage.prompt_tokens
    assert list(messages[messages["item"] == "test-0"]["sender"]) == ["agent0", "agent1", "agent2"]
    assert messages.loc[0, "receivers"] == "agent1"  # flat: a string, not a list
    items = run.to_pandas(per="item")
    assert tuple(items.columns) == ITEM_COLUMNS and len(items) == 5
    assert (items["tokens"].sum(), items["calls"].sum()) == (run.usage.total_tokens, 15)
    assert set(items["outcome"]) <= {"right", "wrong"}
    with pytest.raises(ValueError, match="per is 'message' or 'item'; got 'items'"):
        run.to_pandas(per="items")
    empty = al.topologies.load("chain", n_agents=2, model=echo_model).run(
        al.Task("empty", [], "{question}", lambda text, item: text, lambda p, r: 0.0),
        progress=False,
        cache=False,
    )
    with pytest.raises(ValueError, match="has no records to tabulate: it made no call"):
        empty.to_pandas()


def test_tool_calls_are_columns_and_their_failures_a_warning():
    agent = al.Agent("solo", tools=[broken])
    run = al.Team([agent], model=ScriptedChatModel(respond=calls_broken)).run(
        al.tasks.load("arithmetic", n=3), progress=False, cache=False
    )
    frame = run.to_pandas()
    assert list(frame["tool_calls"]) == [1, 1, 1] and list(frame["tool_errors"]) == [1, 1, 1]
    assert set(frame["tools"]) == {"broken"}
    assert run.warnings == [
        "3 of 3 tool calls failed (100%); most often: broken: RuntimeError: the tool broke"
    ]
    page = run._repr_html_()
    assert "agentlab-warning" in page and "<h3>Tools</h3>" in page and "{&quot;x&quot;: 1}" in page


def test_a_failing_model_is_loud_everywhere_and_its_items_are_errors_not_wrong_answers(small_task, tmp_path):
    task = al.tasks.load("arithmetic", n=8, seed=0)
    failing = [item.question for item in task.items[:6]]

    def flaky(messages):  # the first agent always answers; the deciding one fails on 6 items of 8
        if "agent1" in messages[0].content and any(q in messages[-1].content for q in failing):
            return ConnectionResetError("server went away")
        return "The answer is 7"

    agents = [al.Agent(f"agent{i}", role=f"I am agent{i}") for i in range(2)]
    team = al.Team(
        agents,
        al.CommGraph(["agent0", "agent1"], [("agent0", "agent1")]),
        model=ScriptedChatModel(respond=flaky),
    )
    run = team.run(
        task,
        progress=False,
        cache=False,
        settings=al.RunSettings(retries=0),
    )
    failed = len(run.errors)
    assert failed == 6
    assert run.warnings[0].startswith(f"{failed} of 16 model calls failed")
    assert "WARNING" in repr(run) and "agentlab-warning" in run._repr_html_()
    items = run.to_pandas(per="item")
    assert (items["outcome"] == "error").sum() == failed
    assert set(items[items["outcome"] == "error"]["error"]) == {
        "a call failed: ConnectionResetError: server went away"
    }
    page = report_html([run])
    assert page.count("data-outcome='error'") == failed and "⚠ error" in page
    assert f"WARNING {run.team}/seed0: {failed} of 16 model calls failed" in text_table([run])


def test_items_with_no_answer_read_are_a_warning(small_task):
    run = al.Team([al.Agent("a")], model=ScriptedChatModel(respond=lambda m: "no idea")).run(
        small_task, progress=False, cache=False
    )
    assert run.warnings == [
        "5 of 5 items had no answer the task could read (100%): check the replies' format against the task's "
        "extractor"
    ]
    assert set(run.to_pandas(per="item")["outcome"]) == {"unanswered"}


def test_many_topologies_over_seeds_compare_seed_by_seed():
    presets = ["single", "chain", "star", "debate", "mesh", "tree", "random", "layered"]
    runs = {}
    for k, name in enumerate(presets):
        for seed in range(3):
            # topology k answers the first k + seed items right: every run differs
            task = al.tasks.load("arithmetic", n=10, seed=seed)
            answers = {item.question: item.reference for item in task.items[: k + seed]}

            def knows(messages, answers=answers):
                question = next((q for q in answers if q in messages[-1].content), None)
                return f"The answer is {answers[question]}" if question else "The answer is -1"

            team = al.topologies.load(
                name, n_agents=1 if name == "single" else 3, model=ScriptedChatModel(respond=knows)
            )
            runs[(name, seed)] = team.run(task, progress=False, cache=False)
    comparison = al.compare(runs)
    assert comparison.reference == "single" and comparison.seeded
    chain1 = next(r for r in comparison.rows if (r["topology"], r["seed"]) == ("chain", 1))
    assert chain1["paired_with"] == "single/seed1" and chain1["accuracy"] == pytest.approx(0.2)
    assert [r["paired_with"] for r in comparison.rows[:3]] == [None, None, None]  # the reference's own seeds
    star = next(g for g in comparison.groups if g["topology"] == "star")
    assert star["seeds"] == 3 and star["accuracy"] == pytest.approx((2 + 3 + 4) / 30)
    low, high = star["ci95"]
    assert 0 <= low < star["accuracy"] < high <= 1
    frame = comparison.to_pandas()
    assert len(frame) == 24 and list(frame.columns[:3]) == ["topology", "seed", "accuracy"]
    assert frame.groupby("topology")["seed"].nunique().eq(3).all()
    table = comparison.table()
    assert "seeds" in table.splitlines()[0] and "paired with single's run of the same seed" in table
    plot = comparison.plot()
    legend = [t.get_text() for t in plot.ax.get_legend().get_texts()]
    assert legend == presets
    looks = {(str(c.lines[0].get_color()), c.lines[0].get_marker()) for c in plot.ax.containers}
    assert len(looks) == 8  # no two topologies drawn alike
    with pytest.raises(ValueError, match="not comparable item by item"):
        al.compare(
            {
                "a": runs[("chain", 0)],
                "b": al.Team([al.Agent("x")], model=ScriptedChatModel(respond=lambda m: "1")).run(
                    al.tasks.load("hidden-fact", n=2), progress=False, cache=False
                ),
            }
        )


def test_an_experiment_folder_is_a_dataframe_with_topology_and_seed(tmp_path):
    from agentlab.experiment import Experiment, load_runs

    config = {
        "name": "two-by-two",
        "task": {"name": "arithmetic", "n": 3},
        "seeds": [0, 1],
        "model": {"kind": "scripted", "reply": "The answer is 7"},
        "topologies": [{"preset": "single"}, {"preset": "chain", "n_agents": 2}],
    }
    Experiment.from_dict(config).run(tmp_path, progress=False)
    runs = load_runs(tmp_path / "two-by-two")
    per_run = runs.to_pandas()
    assert list(zip(per_run["topology"], per_run["seed"], strict=True)) == [
        ("single", 0), ("chain", 0), ("single", 1), ("chain", 1)
    ]  # fmt: skip
    items = runs.to_pandas(per="item")
    assert len(items) == 12 and list(items.columns[:2]) == ["topology", "seed"]
    messages = runs.to_pandas(per="message")
    assert len(messages) == 2 * (3 + 6)
    meta = runs[("chain", 1)].meta
    assert meta["task_options"]["seed"] == 1 and meta["models"][0]["kind"] == "scripted"
    page = (tmp_path / "two-by-two" / "report.html").read_text()
    for shown in ("models", "run settings", "seeds", "agentlab", "commit", "date", "chain/seed1"):
        assert shown in page


def test_a_training_log_plots_its_curve(echo_model):
    learner = al.topologies.GPTSwarm([al.Agent(f"a{i}") for i in range(3)], model=echo_model)
    learner.fit(
        al.tasks.load("arithmetic", n=4, seed=0).train(4), epochs=2, batch_size=2, cache=False, progress=False
    )
    plot = learner.log.plot()
    assert [line.get_label() for line in plot.ax.get_lines()] == ["reward", "score"]
    assert len(plot.ax.get_lines()[0].get_xdata()) == len(learner.log.steps) == 4
    assert plot.ax.get_xlabel() == "training step"
    assert list(learner.log.to_pandas().columns[:2]) == ["step", "reward"]
    with pytest.raises(KeyError, match="the training log has no 'rewrd'; it has reward, score"):
        learner.log.plot("rewrd")
    assert "TrainingLog(4 steps" in repr(learner.log) and "<svg" in learner.log._repr_html_()


def test_a_simulation_tabulates_counts_every_call_and_warns_of_invalid_actions(tmp_path):
    llm = ScriptedChatModel(respond=lambda m: "I guess fifty")  # never a number: every action invalid
    team = al.Team(
        [al.Agent(f"p{i}", role=f"You are player {i}.") for i in range(4)], model=llm, name="wordy"
    )
    env = al.envs.load("two-thirds", agents=4, rounds=3)
    cache = al.CallCache(tmp_path / "calls.sqlite")
    sim = team.simulate(env, episodes=2, cache=cache, progress=False)
    # the two episodes see the same prompts (no random personas): the second's are the cache's
    assert (sim.calls, sim.cache_hits) == (24, 12) and "24 calls (12 cached)" in sim.table()
    again = team.simulate(env, episodes=2, cache=cache, progress=False)
    assert (again.calls, again.cache_hits) == (24, 24)  # every call counted, the cache's apart
    assert sim.warnings[0].startswith("24 of 24 actions were invalid (100%)")
    assert "WARNING: 24 of 24 actions were invalid" in sim.table()
    steps = sim.to_pandas()
    assert len(steps) == 6 and {"episode", "step", "phase", "state.average", "invalid_actions"} <= set(
        steps.columns
    )
    assert list(steps["invalid_actions"]) == [4] * 6
    episodes = sim.to_pandas(per="episode")
    assert list(episodes["episode"]) == [0, 1] and "invalid_share" in episodes.columns
    one = team.simulate(env, episodes=1, cache=cache, progress=False)
    assert "interval" not in one.table() and "[" not in one.table().split("\n", 2)[2]  # no interval of one
    page = sim.to_html(tmp_path / "sim.html").read_text()
    assert "agentlab-warning" in page and "<th>run</th>" in page and "commit" in page
