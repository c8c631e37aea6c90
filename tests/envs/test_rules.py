"""The built-in environments' rules, with scripted actions: regrowth and collapse, assignment,
the 2/3 game's scoring, and what each agent observes."""

import pytest

import agentlab as al
from agentlab.envs.govsim import gini
from agentlab.envs.two_thirds import parse_guess


def harvest(env, tonnes):
    """One month of the fishery: everyone asks for ``tonnes`` (a dict or one number for all)."""
    wanted = tonnes if isinstance(tonnes, dict) else dict.fromkeys(env.agents, tonnes)
    _, rewards, term, trunc, infos = env.step({a: f"I catch {n}" for a, n in wanted.items()})
    for _ in env.phases[1:]:
        _, _, term, trunc, _ = env.step(dict.fromkeys(env.agents, "fine"))
    return rewards, term, trunc, infos


def test_the_lake_doubles_up_to_its_capacity_and_collapses_below_five():
    env = al.envs.load("govsim/fishery", agents=5, months=12)
    env.reset(seed=0)
    assert env.phase().name == "harvest" and env.threshold == 10
    rewards, _, _, _ = harvest(env, 10)
    assert rewards == dict.fromkeys(env.possible_agents, 10.0) and env.stock == 100  # 50 left, doubled
    harvest(env, 14)  # 70 taken: 30 left, 60 after regrowth
    assert env.stock == 60 and env.threshold == 6
    _, term, _, _ = harvest(env, 12)  # all 60 taken: collapse
    assert all(term.values()) and env.done and env.collapsed
    metrics = env.metrics()
    assert metrics["survival_time"] == 2 and metrics["survived"] == 0
    assert metrics["total_gain"] == 50 + 70 + 60 and metrics["over_usage"] == 10 / 15
    assert metrics["efficiency"] == pytest.approx(1 - (12 * 50 - 180) / (12 * 50))


def test_an_oversubscribed_lake_goes_tonne_by_tonne_to_those_still_wanting():
    env = al.envs.load("govsim/fishery", agents=2, months=3, capacity=10)
    env.reset(seed=3)
    rewards, _, _, _ = harvest(env, {"John": 9, "Kate": 3})
    assert sum(rewards.values()) == 10 and rewards["Kate"] <= 3 and rewards["John"] <= 9
    again = al.envs.load("govsim/fishery", agents=2, months=3, capacity=10)
    again.reset(seed=3)
    assert harvest(again, {"John": 9, "Kate": 3})[0] == rewards  # seeded


def test_a_fishery_that_lasts_every_month_is_truncated_and_survives_with_full_equality():
    env = al.envs.load("govsim/fishery", agents=5, months=3, discussion=False, reflection=False)
    env.reset(seed=0)
    for _ in range(3):
        _, term, trunc, _ = harvest(env, 10)
    assert all(trunc.values()) and not any(term.values())
    metrics = env.metrics()
    assert metrics["survived"] == 1 and metrics["survival_time"] == 3 and metrics["equality"] == 1.0
    assert gini([1, 1, 1]) == 0 and gini([0, 0, 3]) == pytest.approx(2 / 3)


def test_an_unreadable_harvest_is_invalid_and_catches_nothing():
    env = al.envs.load("govsim/fishery", agents=2, months=2)
    env.reset(seed=0)
    _, rewards, _, _, infos = env.step({"John": "as many as I can!", "Kate": "5"})
    assert rewards == {"John": 0.0, "Kate": 5.0}
    assert infos["John"]["invalid"]["text"] == "as many as I can!" and "invalid" not in infos["Kate"]


def test_a_fisher_sees_its_own_notes_and_catches_not_the_others_notes():
    env = al.envs.load("govsim/fishery", agents=2, months=3, universalization=True)
    env.reset(seed=0)
    assert "more than 25 tonnes" in env.observe("John")  # the universalization prompt
    env.step({"John": "7", "Kate": "9"})
    assert "John 7, Kate 9" in env.observe("John")  # the discussion shows every catch, as GovSim's baseline
    env.step({"John": "Let us take 7.", "Kate": "Fine."})
    assert "Kate said: Fine." in env.observe("John")
    env.step({"John": "Kate is greedy.", "Kate": "John is slow."})
    john = env.observe("John")
    assert "Kate is greedy." in john and "John is slow." not in john
    assert "you caught 7 tonnes" in john and "you caught 9" not in john


def test_the_two_thirds_game_scores_the_guess_closest_to_two_thirds_of_the_average():
    env = al.envs.load("two-thirds", agents=4, rounds=2)
    env.reset(seed=0)
    _, rewards, _, trunc, infos = env.step(
        {"player0": "I say 30", "player1": "60", "player2": "90", "player3": "no idea"}
    )
    assert env.state()["average"] == 60 and env.state()["target"] == 40 and env.state()["winning"] == 30
    assert rewards == {"player0": 1.0, "player1": 0.0, "player2": 0.0, "player3": 0.0}
    assert infos["player3"]["invalid"]["text"] == "no idea" and not any(trunc.values())
    seen = env.observe("player1")
    assert "the average was 60.0" in seen and "You guessed 60" in seen and "90" not in seen
    _, rewards, _, trunc, _ = env.step(dict.fromkeys(env.possible_agents, "20"))
    assert all(trunc.values()) and env.done and rewards["player0"] == 0.25  # a four-way tie
    assert env.metrics() == {"nash_distance": 20.0, "first_mean": 60.0, "invalid_share": 1 / 8}
    assert parse_guess("between 101 and 5") is None and parse_guess("maybe 33.5") == 33.5


def test_personas_are_drawn_with_the_seed():
    env = al.envs.load("two-thirds", agents=3, personas=True)
    env.reset(seed=1)
    first = env.observe("player0")
    env.reset(seed=1)
    assert env.observe("player0") == first and "-year-old" in first


def test_bad_environment_requests_are_named():
    with pytest.raises(ValueError, match="did you mean 'govsim/fishery'"):
        al.envs.load("govsim/fishry")
    with pytest.raises(ValueError, match=r"does not take \['montsh'\]; did you mean 'months'"):
        al.envs.load("govsim/fishery", montsh=3)
    with pytest.raises(ValueError, match="at least 2 agents"):
        al.envs.load("two-thirds", agents=1)
    for name in al.envs.names():
        card = al.envs.card(name)
        assert card["paper"] and card["simplifications"] and card["metrics"]
