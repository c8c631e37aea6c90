"""team.simulate: every episode's step in one batch, records and states on disk, kill -9 resume,
the same records for the same seed, views, and a PettingZoo environment brought by the user."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agentlab as al
from agentlab.experiment import read_jsonl
from agentlab.models.scripted import ScriptedChatModel
from agentlab.views.simulation import step_view

REPOSITORY = Path(__file__).parents[2]


class CountingModel(ScriptedChatModel):
    """A scripted model that notes the size of every batch it is given."""

    sizes: list = []  # noqa: RUF012 (a pydantic field, copied per instance)

    def _generate_all(self, conversations, stop, **tools):
        self.sizes.append(len(conversations))
        return super()._generate_all(conversations, stop, **tools)


def fisher(messages):
    text = messages[-1].content
    if "How many tonnes" in text:
        return "I catch 8 tonnes." if "month 1 " in text else "I catch 9."
    return "Let us keep it small." if "Talk with" in text else "Be careful."


def test_every_episode_s_step_goes_to_the_model_in_one_batch():
    model = CountingModel(respond=fisher, sizes=[])
    team = al.topologies.load("debate", n_agents=5, model=model)  # a discussion turn hears the last one
    sim = team.simulate(
        al.envs.load("govsim/fishery", months=2), episodes=3, seed=0, cache=False, progress=False
    )
    # per month: a harvest (15 calls), two discussion turns (15 each), a reflection (15)
    assert model.sizes == [15] * 8 and sim.calls == 120 and len(sim.records) == 120
    assert [len(t) for t in sim.timeline] == [6, 6, 6] and [r["phase"] for r in sim.timeline[0][:3]] == [
        "harvest", "discussion", "reflection",
    ]  # fmt: skip
    talk = [m for m in sim.records if m.item_id == "ep0-t1-discussion" and m.round == 1]
    assert len(talk) == 5 and all(m.prompt[-1][1].count("]: Let us keep it small.") == 5 for m in talk)
    assert sim.summary()["survived"] == (1.0, 1.0, 1.0) and sim.summary()["total_gain"][0] == 8 * 5 + 9 * 5
    assert (
        set(sim.by_phase) == {"harvest", "discussion", "reflection"}
        and sum(u.total_tokens for u in sim.by_agent.values()) == sim.usage.total_tokens
    )
    assert sorted(sim.by_step) == list(range(6))


def test_the_same_seed_gives_the_same_records_and_states():
    def run(seed):
        llm = ScriptedChatModel(respond=lambda m: str(len(m[-1].content) % 101))
        team = al.Team([al.Agent(f"p{i}") for i in range(6)], model=llm)
        game = al.envs.load("two-thirds", agents=6, rounds=3, personas=True)
        return team.simulate(game, episodes=2, seed=seed, cache=False, progress=False)

    a, b, c = run(4), run(4), run(5)
    assert [m.content for m in a.records] == [m.content for m in b.records]
    assert a.timeline == b.timeline and a.timeline != c.timeline


def test_views_draw_the_state_timeline_and_a_metric_over_steps():
    llm = ScriptedChatModel(respond=lambda m: "50" if "Round 1" in m[-1].content else "25")
    team = al.Team([al.Agent(f"p{i}") for i in range(4)], model=llm, name="fixed")
    sim = team.simulate(
        al.envs.load("two-thirds", agents=4, rounds=2), episodes=2, cache=False, progress=False
    )
    view = step_view(sim, 1, 1)
    assert "<svg" in view["picture"] and "round 2: guesses" in view["picture"]
    assert [m.item_id for m in view["messages"]] == ["ep1-t1-guess"] * 4
    assert sim.series("average") == [(1.0, 50.0, 50.0, 50.0), (2.0, 25.0, 25.0, 25.0)]
    other = al.Team([al.Agent(f"p{i}") for i in range(4)], model=ScriptedChatModel(respond=lambda m: "10"))
    tens = other.simulate(al.envs.load("two-thirds", agents=4, rounds=2), cache=False, progress=False)
    plot = sim.plot("average", others={"tens": tens})
    assert plot.ax.get_legend_handles_labels()[1] == ["fixed", "tens"]
    assert [list(line.get_ydata()) for line in plot.ax.get_lines()] == [[50.0, 25.0], [10.0, 10.0]]
    assert "fixed" in plot._repr_svg_() and plot._repr_svg_().startswith("<svg")
    assert "nash_distance" in sim._repr_html_()
    with pytest.raises(
        KeyError, match=r"no numeric variable 'averge' \(did you mean 'average'\?\); its variables: round"
    ):
        sim.plot("averge")


def test_bad_simulation_input_is_named():
    llm = ScriptedChatModel(respond=lambda m: "1")
    small = al.Team([al.Agent("a"), al.Agent("b")], model=llm)
    with pytest.raises(ValueError, match="needs 5 agents and the team has 2; build the team with n_agents=5"):
        small.simulate(al.envs.load("govsim/fishery"), progress=False)
    with pytest.raises(TypeError, match="simulate takes an environment"):
        small.simulate("govsim/fishery", progress=False)

    class Stray(al.envs.TextEnv):
        possible_agents = ["a", "b"]  # noqa: RUF012

        def reset(self, seed=None, options=None):
            self.agents = list(self.possible_agents)
            return {}, {}

        def phase(self):
            return al.envs.Phase("vote", ("a", "zed"))

        observe = step = state = metrics = lambda self, *a: {}

    with pytest.raises(ValueError, match=r"phase 'vote' .* names agent\(s\) \['zed'\]"):
        small.simulate(Stray(), progress=False, cache=False)


SCRIPT = """
import sys, agentlab as al
from agentlab.models.scripted import ScriptedChatModel
def respond(m):
    t = m[-1].content
    return "I catch 9" if "How many" in t else ("Keep it at 9." if "Talk" in t else "Careful.")
llm = ScriptedChatModel(respond=respond, delay=float(sys.argv[2]))
team = al.topologies.load("mesh", n_agents=5, model=llm)
env = al.envs.load("govsim/fishery", months=3)
sim = team.simulate(env, episodes=2, seed=0, folder=sys.argv[1], cache=False, progress=False)
print(sim.summary()["total_gain"][0])
"""


def test_a_simulation_killed_with_sigkill_resumes_with_nothing_lost_or_run_twice(tmp_path):
    script = tmp_path / "sim.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen([sys.executable, str(script), str(killed), "0.05"], env=env)
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and len(read_jsonl(killed / "records.jsonl") if (killed / "records.jsonl").exists() else []) < 40
    ):
        time.sleep(0.02)
    assert process.poll() is None, "the simulation ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    at_kill = len(read_jsonl(killed / "records.jsonl"))
    resumed = subprocess.run(
        [sys.executable, str(script), str(killed), "0"], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert subprocess.run([sys.executable, str(script), str(whole), "0"], env=env, check=True).returncode == 0
    records, reference = read_jsonl(killed / "records.jsonl"), read_jsonl(whole / "records.jsonl")
    assert 40 <= at_kill < len(records) == len(reference) == 2 * 3 * 20
    sites = [(r["item_id"], r["round"], r["sender"]) for r in records]
    assert len(set(sites)) == len(sites) and set(sites) == {
        (r["item_id"], r["round"], r["sender"]) for r in reference
    }
    states = read_jsonl(killed / "states.jsonl")
    assert sorted((s["episode"], s["step"]) for s in states) == sorted(
        (s["episode"], s["step"]) for s in read_jsonl(whole / "states.jsonl")
    )
    assert resumed.stdout.strip() == "135.0"  # 5 fishers x 9 tonnes x 3 months, the mean over episodes


def test_a_pettingzoo_parallel_env_is_played_in_text():
    from gymnasium.spaces import Discrete
    from pettingzoo import ParallelEnv

    class Matching(ParallelEnv):
        """Two players score 1 each when they pick the same of three cards; three rounds."""

        metadata = {"name": "matching_v0"}  # noqa: RUF012 (PettingZoo's convention)

        def __init__(self):
            self.possible_agents = ["left", "right"]

        def reset(self, seed=None, options=None):
            self.agents, self.t = list(self.possible_agents), 0
            return {a: 0 for a in self.agents}, {a: {} for a in self.agents}

        def step(self, actions):
            self.t += 1
            same = actions["left"] == actions["right"]
            rewards = dict.fromkeys(self.agents, float(same))
            done = self.t >= 3
            obs = {a: actions["right" if a == "left" else "left"] for a in self.agents}
            truncations = dict.fromkeys(self.agents, done)
            if done:
                self.agents = []
            return obs, rewards, dict.fromkeys(truncations, False), truncations, {a: {} for a in truncations}

        def action_space(self, agent):
            return Discrete(3)

        def observation_space(self, agent):
            return Discrete(3)

    env = al.envs.from_pettingzoo(
        Matching(),
        observe=lambda agent, obs: (
            f"You are {agent}. The other picked card {obs} last time. Pick card 0, 1 or 2."
        ),
        act=lambda agent, text: int(text.strip()[-1]) if text.strip()[-1:] in "012" else None,
    )
    llm = ScriptedChatModel(respond=lambda m: "card 1" if "You are left" in m[-1].content else "hmm")
    sim = al.Team([al.Agent("x"), al.Agent("y")], model=llm).simulate(env, episodes=2, seed=7, cache=False,
                                                                       progress=False)  # fmt: skip
    assert sim.env == "matching_v0" and [len(t) for t in sim.timeline] == [3, 3]
    assert all(row["invalid"]["y"]["text"] == "hmm" for row in sim.timeline[0])  # the fallback acted for it
    assert sim.metrics[0]["steps"] == 3 and "return" in sim.summary()
    with pytest.raises(TypeError, match="takes a PettingZoo ParallelEnv"):
        al.envs.from_pettingzoo(object(), observe=str, act=lambda a, t: 0)


def test_an_experiment_file_runs_a_simulation_into_its_run_folder_and_resumes(tmp_path):
    from agentlab.experiment import Experiment

    config = {
        "name": "fish",
        "simulation": {"env": "govsim/fishery", "episodes": 2, "options": {"months": 2}},
        "model": {"kind": "scripted", "reply": "I catch 9 tonnes"},
        "topologies": [
            {"preset": "debate", "n_agents": 5},
            {"preset": "random", "n_agents": 5, "options": {"p": 0.0}},
        ],
    }
    first = Experiment.from_dict(config).run(tmp_path, progress=False)
    folder = tmp_path / "fish"
    assert {"records.jsonl", "states.jsonl", "metrics.json", "report.html"} <= {
        p.name for p in folder.iterdir()
    }
    assert first.metrics["debate/seed0"]["summary"]["total_gain"][0] == 90.0
    report = (folder / "report.html").read_text()
    plots = report.split("State over steps")[1].split("State timeline")[0]
    assert "govsim/fishery: stock" in plots and "govsim/fishery: month" not in plots
    assert first.metrics["debate/seed0"]["std"]["total_gain"] == 0.0
    timeline = report.split("State timeline")[1]  # each run's lake after each of its 6 steps
    assert timeline.count("<figure") == 2 * 6 and "step 5 · reflection" in timeline
    records, states = read_jsonl(folder / "records.jsonl"), read_jsonl(folder / "states.jsonl")
    assert len(records) == 2 * 2 * 2 * 20 and len(states) == 2 * 2 * 6
    again = Experiment.from_dict(config).run(tmp_path, progress=False)  # all replayed: nothing new
    assert len(read_jsonl(folder / "records.jsonl")) == len(records) and len(
        read_jsonl(folder / "states.jsonl")
    ) == len(states)
    assert again.metrics["debate/seed0"]["summary"] == first.metrics["debate/seed0"]["summary"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"simulation": {"env": "govsim/fishry"}}, "did you mean 'govsim/fishery'"),
        (
            {"topologies": [{"preset": "debate", "n_agents": 3}]},
            "needs 5 agents and this debate has 3; set n_agents: 5",
        ),
        ({"topologies": [{"learner": "gptswarm"}]}, "a simulation runs presets"),
        ({"task": {"name": "arithmetic"}}, "give either `task:`"),
        ({"simulation": {"env": "two-thirds", "options": {"agnets": 3}}}, "did you mean 'agents'"),
    ],
)
def test_bad_simulation_files_are_named(change, message):
    from agentlab.experiment import Experiment

    config = {
        "name": "fish",
        "simulation": {"env": "govsim/fishery"},
        "model": {"kind": "scripted", "reply": "1"},
        "topologies": [{"preset": "debate", "n_agents": 5}],
    } | change
    with pytest.raises(ValueError, match=message):
        Experiment.from_dict(config)


class Relay(al.envs.TextEnv):
    """Two agents, two steps: episode 0 (seed 0) talks for three turns a step, the others act."""

    def __init__(self):
        self.possible_agents = ["left", "right"]

    def reset(self, seed=None, options=None):
        self.agents, self.seed, self.t, self.heard = list(self.possible_agents), seed, 0, []
        return {a: self.observe(a) for a in self.agents}, {}

    def phase(self):
        if self.seed == 0:
            return al.envs.Phase("talk", tuple(self.agents), talk=True, rounds=3)
        return al.envs.Phase("act", tuple(self.agents))

    def observe(self, agent):
        return f"You are {agent}, at step {self.t}."

    def step(self, actions):
        self.heard.append(dict(actions))
        self.t += 1
        if self.t == 2:
            self.agents = []
        done = {a: self.t == 2 for a in self.possible_agents}
        return ({}, {a: 0.0 for a in actions}, done, done, {a: {} for a in actions})

    def state(self):
        return {"t": self.t}

    def metrics(self):
        return {"steps": float(self.t)}


def test_episodes_do_not_wait_for_each_other_at_every_step():
    model = ScriptedChatModel(respond=lambda m: "ok")
    team = al.topologies.load("debate", n_agents=2, model=model)
    sim = team.simulate(Relay(), episodes=2, seed=0, cache=False, progress=False)
    steps = {(m.item_id, m.round): m.step for m in sim.records}
    # episode 1 acts at both its steps while episode 0 is still in its first discussion
    assert steps[("ep1-t0-act", 0)] == steps[("ep0-t0-talk", 0)] == 0
    assert steps[("ep1-t1-act", 0)] == steps[("ep0-t0-talk", 1)] == 1
    assert [len(t) for t in sim.timeline] == [2, 2] and sim.calls == 2 * 3 * 2 + 2 * 2


def test_a_discussion_runs_along_whatever_the_team_has():
    """A per-item graph function's edges, and a routing's turns (its controller and decider speak
    too; only the environment's agents' words are their actions)."""
    heard = []

    def respond(messages):
        heard.append(messages[-1].content)
        return "fine"

    agents = [al.Agent("p0"), al.Agent("p1")]
    chain = al.CommGraph(["p0", "p1"], [("p0", "p1")], decision=al.FinalAgent("p1"))
    team = al.Team(agents, lambda item: chain, model=ScriptedChatModel(respond=respond))
    env = Relay()
    sim = team.simulate(env, episodes=1, seed=0, cache=False, progress=False)
    assert any("[p0]: fine" in text for text in heard)  # p1 heard p0 along the function's edge
    assert len(sim.records) == 2 * 3 * 2

    from tests.scripted_tools import OnABoard

    board = al.topologies.load("blackboard", n_agents=3, model=OnABoard())  # agent2 works, off the env
    sim = board.simulate(Relay(), episodes=1, seed=0, cache=False, progress=False)
    speakers = {m.sender for m in sim.records}
    assert {"controller", "decider"} <= speakers and {"agent0", "agent1"} <= speakers
    assert (
        all(r["phase"] == "talk" and "error" not in r for r in sim.timeline[0]) and len(sim.timeline[0]) == 2
    )

    small = al.topologies.load("blackboard", n_agents=2, model=OnABoard())  # its controller names agent2
    sim = small.simulate(Relay(), episodes=1, seed=0, cache=False, progress=False)
    assert all("'agent2' is not an agent here" in row["error"] for row in sim.timeline[0])
