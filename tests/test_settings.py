"""Budgets, retries, and replaying an interrupted run's messages."""

import agentlab as al


def answer(messages):
    return "The answer is 4"


def test_a_budget_stops_the_run_cleanly_and_says_so():
    model = al.models.ScriptedChatModel(respond=answer)
    task = al.tasks.load("arithmetic", n=5)
    team = al.topologies.load("chain", n_agents=3, model=model)
    run = team.run(task, rounds=2, cache=False, progress=False, budget=al.Budget(max_calls=12))
    assert run.stopped == "budget max_calls=12 reached (15 used)"
    assert run.calls == 15 and run.results == []  # three of six steps, no item finished
    assert "STOPPED EARLY" in repr(run)
    full = team.run(task, rounds=2, cache=False, progress=False, budget=al.Budget(max_calls=1000))
    assert full.stopped is None and full.n_items == 5


def test_cache_hits_do_not_spend_the_budget(tmp_path):
    model = al.models.ScriptedChatModel(respond=answer)
    task = al.tasks.load("arithmetic", n=5)
    cache = al.CallCache(tmp_path / "c.sqlite")
    al.Team([al.Agent("a")], model=model).run(task, cache=cache, progress=False)
    again = al.Team([al.Agent("a")], model=model).run(
        task, rounds=2, cache=cache, progress=False, budget=al.Budget(max_tokens=1)
    )
    # both rounds send the same prompt (one agent, no edges): all ten calls come free from the cache
    assert again.stopped is None and again.cache_hits == 10


def test_transient_failures_are_retried_and_others_are_not():
    from agentlab.engine import Engine

    timeouts = []
    batches = []

    def respond(messages):
        text = str(messages[-1].content)
        if "Gus" in text and len(timeouts) < 2:
            timeouts.append(text)
            return TimeoutError("slow service")
        return ValueError("malformed request") if "Eli" in text else "The answer is 4"

    class Recording(al.models.ScriptedChatModel):
        def batch(self, inputs, config=None, **kwargs):
            batches.append([str(c[-1].content).split()[0] for c in inputs])
            return super().batch(inputs, config, **kwargs)

    task = al.tasks.load("arithmetic", n=4)
    assert [i.question.split()[0] for i in task] == ["Gus", "Eli", "Eli", "Eli"]
    team = al.Team([al.Agent("a")], model=Recording(respond=respond))
    run = Engine(team, task, 1, al.RunSettings(retries=2, retry_backoff=0.001), progress=False).run()
    # the scripted model's batch retried Gus alone once (a second time-out); the engine then retried
    # that time-out alone and it passed; the ValueErrors were never sent again
    assert len(timeouts) == 2
    assert batches == [["Gus", "Eli", "Eli", "Eli"], ["Gus"]]
    assert [m.error for m in run.records if m.error] == ["ValueError: malformed request"] * 3


def test_prior_messages_are_replayed_not_called_again():
    from agentlab.engine import Engine

    calls = []

    def respond(messages):
        calls.append(str(messages[-1].content))
        return "The answer is 4"

    model = al.models.ScriptedChatModel(respond=respond)
    task = al.tasks.load("arithmetic", n=3)
    team = al.topologies.load("chain", n_agents=2, model=model)
    whole = team.run(task, cache=False, progress=False)
    calls.clear()
    prior = {(m.item_id, m.round, m.sender): m for m in whole.records if m.sender == "agent0"}
    seen = []
    resumed = Engine(team, task, cache=None, progress=False, prior=prior, on_message=seen.append).run()
    assert len(calls) == 3 and len(seen) == 3  # only agent1's calls were made, and only they were emitted
    assert [(m.item_id, m.sender, m.content) for m in resumed.records] == [
        (m.item_id, m.sender, m.content) for m in whole.records
    ]
    assert [r.score for r in resumed.results] == [r.score for r in whole.results]
