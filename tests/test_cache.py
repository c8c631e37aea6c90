from typing import Any

import agentlab as al
from agentlab.cache import ModelIdentity


class CountingModel(al.models.ScriptedChatModel):
    calls: int = 0

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls += 1
        return super()._generate(messages, stop, run_manager, **kwargs)


class SamplingModel(CountingModel):
    temperature: float | None = 0.7
    seed: int | None = None

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.name_, "temperature": self.temperature, "seed": self.seed}


def answer(messages):
    return "The answer is 9"


def test_rerunning_the_same_experiment_makes_no_model_call(tmp_path):
    cache = al.CallCache(tmp_path / "calls.sqlite")
    model = CountingModel(respond=answer)
    task = al.tasks.load("arithmetic", n=4)
    first = al.topologies.load("chain", n_agents=3, model=model).run(
        task, rounds=2, cache=cache, progress=False
    )
    assert model.calls == 24 and first.cache_hits == 0
    again = al.topologies.load("chain", n_agents=3, model=model).run(
        task, rounds=2, cache=cache, progress=False
    )
    assert model.calls == 24  # nothing new
    assert again.cache_hits == again.calls == 24 and all(m.cached for m in again.records)
    assert again.usage == first.usage  # hits still report the tokens the model counted
    assert [r.prediction for r in again.results] == [r.prediction for r in first.results]


def test_the_default_cache_lives_on_disk_and_survives_a_new_cache_object():
    model = CountingModel(respond=answer)
    task = al.tasks.load("arithmetic", n=3)
    al.Team([al.Agent("a")], model=model).run(task, progress=False)
    run = al.Team([al.Agent("a")], model=model).run(task, progress=False)
    assert model.calls == 3 and run.cache_hits == 3
    assert len(al.CallCache()) == 3


def test_cache_off_calls_the_model_every_time():
    model = CountingModel(respond=answer)
    task = al.tasks.load("arithmetic", n=3)
    for _ in range(2):
        run = al.Team([al.Agent("a")], model=model).run(task, cache=False, progress=False)
    assert model.calls == 6 and run.cache_hits == 0
    assert len(al.CallCache()) == 0


def test_other_generation_settings_miss_the_cache(tmp_path):
    cache = al.CallCache(tmp_path / "c.sqlite")
    task = al.tasks.load("arithmetic", n=2)
    for seed in (1, 2):
        model = SamplingModel(respond=answer, seed=seed)
        run = al.Team([al.Agent("a")], model=model).run(task, cache=cache, progress=False)
        assert run.cache_hits == 0
    rerun = al.Team([al.Agent("a")], model=SamplingModel(respond=answer, seed=2)).run(
        task, cache=cache, progress=False
    )
    assert rerun.cache_hits == 2


def test_sampling_without_a_seed_is_never_cached(tmp_path):
    cache = al.CallCache(tmp_path / "c.sqlite")
    model = SamplingModel(respond=answer)
    task = al.tasks.load("arithmetic", n=2)
    for _ in range(2):
        run = al.Team([al.Agent("a")], model=model).run(task, cache=cache, progress=False)
    assert model.calls == 4 and run.cache_hits == 0 and len(cache) == 0
    # an unset temperature means the provider's default, which samples
    assert ModelIdentity.of(SamplingModel(respond=answer, temperature=None)).cacheable is False
    assert ModelIdentity.of(SamplingModel(respond=answer, temperature=0.0)).cacheable is True
    assert ModelIdentity.of(al.models.LocalChatModel(model_name="m")).cacheable is True  # greedy
    assert ModelIdentity.of(al.models.LocalChatModel(model_name="m", temperature=0.8)).cacheable is False


def test_failed_calls_are_not_cached(tmp_path):
    cache = al.CallCache(tmp_path / "c.sqlite")
    flaky = CountingModel(respond=lambda m: RuntimeError("try later"))
    task = al.tasks.load("arithmetic", n=2)
    al.Team([al.Agent("a")], model=flaky).run(task, cache=cache, progress=False)
    assert len(cache) == 0


def test_seeded_sampling_caches_each_agent_apart(tmp_path):
    """Three agents sending one prompt draw three samples; a re-run must give back all three."""
    cache = al.CallCache(tmp_path / "c.sqlite")
    draws = iter(range(1000))
    model = SamplingModel(respond=lambda m: f"The answer is {next(draws)}", seed=0)
    task = al.tasks.load("arithmetic", n=2)
    first = al.topologies.load("debate", n_agents=3, model=model).run(task, cache=cache, progress=False)
    again = al.topologies.load("debate", n_agents=3, model=model).run(task, cache=cache, progress=False)
    assert again.cache_hits == 6
    assert [m.content for m in again.records] == [m.content for m in first.records]
    assert len({m.content for m in first.records}) == 6


def test_identical_calls_in_one_step_are_sent_once():
    model = CountingModel(respond=answer)
    task = al.tasks.load("arithmetic", n=3)
    team = al.topologies.load("star", n_agents=4, model=model)  # three spokes, no roles: one prompt
    run = team.run(task, progress=False)
    assert model.calls == 3 + 3  # one spoke call per item, then the hub
    spokes = [m for m in run.records if m.sender != "agent3"]
    assert sum(not m.cached for m in spokes) == 3 and run.cache_hits == 6
    # the copies report the tokens of the call they share
    assert len({(m.item_id, m.usage) for m in spokes}) == len({m.item_id for m in spokes}) == 3

    off = CountingModel(respond=answer)
    assert (
        al.topologies.load("star", n_agents=4, model=off).run(task, cache=False, progress=False).cache_hits
        == 0
    )
    assert off.calls == 12


def test_a_failed_call_shares_its_error_with_its_copies():
    sent = []

    class Down(al.models.ScriptedChatModel):
        def batch(self, inputs, config=None, **kwargs):
            sent.append(len(inputs))
            return super().batch(inputs, config, **kwargs)

    model = Down(respond=lambda m: RuntimeError("down"))
    task = al.tasks.load("arithmetic", n=2)
    run = al.topologies.load("debate", n_agents=3, model=model).run(task, progress=False)
    assert sent == [2]  # three agents x two items, two distinct prompts
    assert len(run.errors) == 6 and all("down" in m.error for m in run.errors)


def test_agentlabs_cache_is_asked_before_langchains(tmp_path):
    from langchain_core.caches import InMemoryCache
    from langchain_core.globals import set_llm_cache

    replies = iter(["The answer is 1", "The answer is 2", "The answer is 3"])
    model = al.models.ScriptedChatModel(respond=lambda messages: next(replies))
    task = al.tasks.load("arithmetic", n=1)
    cache = al.CallCache(tmp_path / "calls.sqlite")
    first = al.Team([al.Agent("a")], model=model).run(task, cache=cache, progress=False)
    langchains = InMemoryCache()
    set_llm_cache(langchains)
    try:
        again = al.Team([al.Agent("a")], model=model).run(task, cache=cache, progress=False)
        assert again.cache_hits == 1 and again.records[0].content == first.records[0].content
        fresh = al.Team([al.Agent("a")], model=model).run(task, cache=False, progress=False)
        assert fresh.records[0].content == "The answer is 2"  # a miss here reaches the model ...
        assert langchains._cache  # ... through langchain's generate, which keeps it in its own cache
    finally:
        set_llm_cache(None)
