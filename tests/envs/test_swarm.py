"""SwarmBench-style grid tasks: moves and collisions, capture, foraging, local views and messages,
invalid replies, and a whole simulation with scripted agents."""

import pytest

import agentlab as al
from agentlab.envs.swarm import parse_reply, resolve_moves
from agentlab.experiment import read_jsonl
from agentlab.models.scripted import ScriptedChatModel


def open_floor(cell):
    return 0 < cell[0] < 9 and 0 < cell[1] < 9


def test_agents_move_at_once_and_those_that_collide_or_swap_stay():
    positions = {"a": (2, 2), "b": (2, 4), "c": (5, 5), "d": (5, 6), "e": (1, 1), "f": (7, 2), "g": (7, 3)}
    moves = {
        "a": "RIGHT", "b": "LEFT",  # both want (2, 3): a collision, both stay
        "c": "RIGHT", "d": "LEFT",  # a swap: both stay
        "e": "UP",  # into the wall
        "f": "RIGHT", "g": "RIGHT",  # g moves away, so f may follow it
    }  # fmt: skip
    ends, stopped = resolve_moves(positions, moves, open_floor)
    assert ends == {**positions, "f": (7, 3), "g": (7, 4)}
    assert stopped == {"a", "b", "c", "d"}  # the wall is not a collision


def test_a_move_into_an_agent_that_stays_is_stopped_and_stops_the_one_behind():
    positions = {"front": (3, 5), "middle": (3, 4), "back": (3, 3)}
    ends, stopped = resolve_moves(positions, {"middle": "RIGHT", "back": "RIGHT"}, open_floor)
    assert ends == positions and stopped == {"middle", "back"}


def test_replies_are_read_as_swarmbench_reads_them():
    assert parse_reply("I go.\nACTION: [LEFT]\nMSG: prey at (3, 4)") == ("LEFT", "prey at (3, 4)")
    assert parse_reply("action: stay") == ("STAY", "")
    assert parse_reply("I will move up")[0] is None  # no ACTION: line
    assert len(parse_reply("ACTION: UP\nMSG: " + "x" * 300)[1]) == 123  # 120 characters and "..."


def test_a_prey_whose_four_neighbours_are_agents_or_walls_is_caught_and_respawns():
    env = al.envs.load("swarmbench/pursuit", agents=4, rounds=5, memory=1)
    env.reset(seed=0)
    env.prey = (4, 4)
    env.positions = {"agent0": (3, 3), "agent1": (5, 4), "agent2": (4, 3), "agent3": (4, 6)}
    _, rewards, *_ = env.step(
        {
            "agent0": "ACTION: RIGHT",
            "agent1": "ACTION: STAY",
            "agent2": "ACTION: STAY",
            "agent3": "ACTION: LEFT",
        }
    )
    assert env.score == 1 and rewards == dict.fromkeys(env.possible_agents, 1.0)
    assert env.prey != (4, 4) and env.prey not in env.positions.values()
    assert env.state()["static"][env.prey[0]][env.prey[1]] == "."
    assert env.state()["score"] == 1 and env.metrics()["score"] == 1.0


def test_a_prey_in_a_corner_is_caught_by_two_agents_and_a_free_prey_flees_two_cells():
    env = al.envs.load("swarmbench/pursuit", agents=2, rounds=5, memory=1)
    env.reset(seed=0)
    env.prey, env.positions = (1, 1), {"agent0": (1, 3), "agent1": (2, 1)}
    env.step({"agent0": "ACTION: LEFT", "agent1": "ACTION: STAY"})
    assert env.score == 1  # the walls close two sides
    env.prey, env.positions = (4, 4), {"agent0": (4, 2), "agent1": (2, 4)}
    env.step({"agent0": "ACTION: STAY", "agent1": "ACTION: STAY"})
    assert env.score == 1 and abs(env.prey[0] - 4) + abs(env.prey[1] - 4) == 2  # away, two steps


def test_foragers_pick_up_next_to_the_food_and_score_next_to_the_nest():
    env = al.envs.load("swarmbench/foraging", agents=1, rounds=10, memory=1)
    env.reset(seed=1)
    rows = env.state()["static"]
    food = next((i, j) for i, r in enumerate(rows) for j, c in enumerate(r) if c == "F")
    nest = next((i, j) for i, r in enumerate(rows) for j, c in enumerate(r) if c == "N")
    below_food, below_nest = (food[0] + 2, food[1]), (nest[0] + 2, nest[1])
    env.positions = {"agent0": (below_food[0] + 1, below_food[1])}
    env.step({"agent0": "ACTION: UP"})
    assert env.carrying == {"agent0"} and "You are carrying food" in env.observe("agent0")
    env.positions = {"agent0": (below_nest[0] + 1, below_nest[1])}
    _, rewards, *_ = env.step({"agent0": "ACTION: UP"})
    assert env.score == 1 and rewards == {"agent0": 1.0} and not env.carrying


def test_the_maze_has_a_food_source_and_a_nest_in_opposite_corners_and_is_seeded():
    for seed in range(6):
        env = al.envs.load("swarmbench/foraging")
        env.reset(seed=seed)
        static = env.state()["static"]
        assert sum(r.count("F") for r in static) == 4 and sum(r.count("N") for r in static) == 4
        assert sum(r.count("W") for r in static) > 36  # a maze wall inside the border
        again = al.envs.load("swarmbench/foraging")
        again.reset(seed=seed)
        assert again.state() == env.state()


def test_an_agent_sees_only_its_square_and_hears_only_the_agents_in_it():
    env = al.envs.load("swarmbench/pursuit", agents=3, rounds=5, view=3, memory=2)
    env.reset(seed=0)
    env.prey = (8, 8)
    env.positions = {"agent0": (2, 2), "agent1": (3, 3), "agent2": (6, 6)}
    env._look()
    now = env.observe("agent0").split("Now:\n")[1].split("\n1 step(s) before")[0]
    assert (
        now == "       1   2   3\n   1   .   .   .\n   2   .   Y   .\n   3   .   .   1"
    )  # agent2 is out of view
    env.step({
        "agent0": "ACTION: STAY\nMSG: zero here",
        "agent1": "ACTION: STAY\nMSG: one here",
        "agent2": "ACTION: STAY\nMSG: two far away",
    })  # fmt: skip
    seen = env.observe("agent0")
    heard, history = seen.split("Messages from agents in your view:\n")[1].split("Your last actions:\n")
    assert heard == 'Message: "one here"\n'  # not its own, not agent2's from afar
    assert history.startswith('Round 1: STAY, message "zero here"\nLegend')  # its own actions only
    assert "1 step(s) before" in seen  # memory=2: this step's view and the last one
    assert "two far away" not in env.observe("agent1")


def test_a_reply_without_an_action_is_invalid_and_the_agent_stays():
    env = al.envs.load("swarmbench/pursuit", agents=2, rounds=3, memory=1)
    env.reset(seed=0)
    where = env.positions["agent0"]
    _, _, _, _, infos = env.step({"agent0": "I think I should go left", "agent1": "ACTION: STAY"})
    assert (
        infos["agent0"]["invalid"]["text"] == "I think I should go left" and "invalid" not in infos["agent1"]
    )
    assert env.positions["agent0"] == where and env.metrics()["invalid"] == 0.5


def test_bad_options_say_what_to_change():
    with pytest.raises(ValueError, match="odd number"):
        al.envs.load("swarmbench/pursuit", view=4)
    with pytest.raises(ValueError, match="do not fit"):
        al.envs.load("swarmbench/foraging", agents=40)
    with pytest.raises(ValueError, match="does not take"):
        al.envs.load("swarmbench/pursuit", radius=2)


def mover(messages):
    """Agents with an even id go right, the others down, and say where they are."""
    text = messages[-1].content
    number = int(text.split("You are Agent ", 1)[1].split(",")[0])
    return f"ACTION: {'RIGHT' if number % 2 == 0 else 'DOWN'}\nMSG: agent {number} moving"


@pytest.mark.parametrize("name", ["swarmbench/pursuit", "swarmbench/foraging"])
def test_a_swarm_simulates_with_records_states_pictures_and_spread_over_seeds(name, tmp_path):
    called = []
    model = ScriptedChatModel(respond=lambda messages: called.append(1) or mover(messages))
    team = al.Team([al.Agent(f"a{k}") for k in range(4)], model=model)
    env = al.envs.load(name, agents=4, rounds=3, memory=1)
    sim = team.simulate(env, episodes=3, seed=0, folder=tmp_path / "run", cache=False, progress=False)
    assert sim.calls == 4 * 3 * 3 and [len(t) for t in sim.timeline] == [3, 3, 3]
    assert all(m["invalid"] == 0 and m["message_rate"] == 1 for m in sim.metrics)
    assert sim.timeline[0][0]["state"]["moved"] >= 1  # the seeded starts differ, so the moves do too
    spread = sim.spread()
    assert set(spread) == set(sim.summary()) and spread["explored"][1] >= 0
    assert "std" in sim.table()
    svg = sim.pictures(sim.timeline[0][-1]["state"])
    assert svg.startswith("<svg") and svg.count("<circle") == 4 + (name.endswith("pursuit"))
    assert len(called) == 36
    again = team.simulate(env, episodes=3, seed=0, folder=tmp_path / "run", cache=False, progress=False)
    assert len(called) == 36 and again.timeline == sim.timeline  # resumed from the folder: nothing called
    assert len(read_jsonl(tmp_path / "run" / "states.jsonl")) == 9
