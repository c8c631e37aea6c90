"""The 2/3-of-the-average game at scale, after AgentScope's very-large-scale simulation (Pan et al.,
"Very Large-Scale Multi-Agent Simulation in AgentScope", 2024).

Every round each agent guesses a number from 0 to 100; the guesses closest to ``ratio`` (2/3) of
the round's average win (reward 1, shared ties). From the second round on, each agent is told the
last round's average, its 2/3 and the winning guess, and its own last guess. The Nash equilibrium
is everyone guessing 0; the distance to it is the mean guess.

Simplified: no agent-to-agent messages (as in the paper's main setting); an optional persona line
per agent (``personas=True``, drawn with the seed from an age, an occupation and a trait) stands
in for the paper's generated profiles. An unparseable guess (no number in 0..100) is invalid:
recorded, left out of the average, and it cannot win.
"""

from __future__ import annotations

import random
import re
import statistics
from collections.abc import Mapping
from typing import Any

from agentlab.envs.base import Observations, Phase, StepResult, TextEnv, invalid

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_AGES = (19, 23, 27, 31, 36, 42, 48, 55, 61, 67)
_JOBS = (
    "teacher",
    "nurse",
    "engineer",
    "farmer",
    "student",
    "chef",
    "lawyer",
    "artist",
    "driver",
    "economist",
)
_TRAITS = (
    "cautious",
    "competitive",
    "curious",
    "impatient",
    "analytical",
    "optimistic",
    "sceptical",
    "playful",
)


def parse_guess(text: str) -> float | None:
    """The first number in ``text`` if it lies in 0..100, else None."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = float(match.group())
    return value if 0 <= value <= 100 else None


class TwoThirdsGame(TextEnv, name="two-thirds"):
    """``al.envs.load("two-thirds", agents=1000, rounds=3)``."""

    paper = "AgentScope very-large-scale simulation (Pan et al., 2024)"

    clock = ("round",)

    def __init__(
        self, agents: int = 10, rounds: int = 3, ratio: float = 2 / 3, personas: bool = False
    ) -> None:
        if agents < 2:
            raise ValueError(f"the 2/3 game needs at least 2 agents; got {agents}")
        if rounds < 1:
            raise ValueError(f"rounds must be at least 1; got {rounds}")
        self.n, self.rounds, self.ratio, self.with_personas = agents, rounds, ratio, personas
        self.possible_agents = [f"player{i}" for i in range(agents)]
        self.agents = []

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observations, dict]:
        rng = random.Random(seed)
        self.agents = list(self.possible_agents)
        self.round = 0
        # per round: average, target, winning guess, invalid count; only the last round's guesses
        # are kept, so a long game of many agents holds no more than one round of them
        self.history: list[dict[str, Any]] = []
        self.guesses: dict[str, float] = {}
        self.personas = {
            a: f"You are a {rng.choice(_AGES)}-year-old {rng.choice(_TRAITS)} {rng.choice(_JOBS)}. "
            for a in self.agents
        } if self.with_personas else {}  # fmt: skip
        return {a: self.observe(a) for a in self.agents}, {a: {} for a in self.agents}

    def phase(self) -> Phase:
        return Phase("guess", tuple(self.agents))

    def observe(self, agent: str) -> str:
        intro = (
            f"{self.personas.get(agent, '')}You play a game with {self.n - 1} others. Each round everyone "
            f"guesses a number from 0 to 100; whoever is closest to 2/3 of the average guess wins. "
        )
        if self.history:
            last = self.history[-1]
            mine = self.guesses.get(agent)
            said = f" You guessed {mine:g}." if mine is not None else " Your guess was invalid."
            average = "nobody guessed validly" if last["average"] is None else (
                f"the average was {last['average']:.1f}, 2/3 of it {last['target']:.1f}, "
                f"and the winning guess {last['winning']:g}"
            )  # fmt: skip
            intro += f"Last round {average}.{said} "
        return f"{intro}Round {self.round + 1} of {self.rounds}: reply with your guess, one number."

    def step(self, actions: Mapping[str, str]) -> StepResult:
        infos: dict[str, dict[str, Any]] = {a: {} for a in self.agents}
        guesses: dict[str, float] = {}
        for agent in self.agents:
            text = actions.get(agent, "")
            guess = parse_guess(text)
            if guess is None:
                infos[agent] = invalid(text, "no number from 0 to 100")
            else:
                guesses[agent] = guess
        rewards = dict.fromkeys(self.agents, 0.0)
        average = target = winning = None
        if guesses:
            average = statistics.fmean(guesses.values())
            target = self.ratio * average
            best = min(abs(g - target) for g in guesses.values())
            winners = [a for a, g in guesses.items() if abs(g - target) == best]
            winning = guesses[winners[0]]
            for a in winners:
                rewards[a] = 1.0 / len(winners)
        self.guesses = guesses
        invalid_count = len(self.agents) - len(guesses)
        self.history.append(
            {"average": average, "target": target, "winning": winning, "invalid": invalid_count}
        )
        self.round += 1
        over = self.round >= self.rounds
        truncations = dict.fromkeys(self.agents, over)
        terminations = dict.fromkeys(self.agents, False)
        observations = {a: self.observe(a) for a in self.agents}
        if over:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def state(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else None
        guesses = list(self.guesses.values())
        return {
            "round": self.round,
            "average": last["average"] if last else None,
            "target": last["target"] if last else None,
            "winning": last["winning"] if last else None,
            "invalid": last["invalid"] if last else 0,
            "histogram": histogram(guesses),  # guesses in ten bins of width 10
            "std": statistics.pstdev(guesses) if len(guesses) > 1 else 0.0,
        }

    @property
    def horizon(self) -> int:
        return self.rounds

    def metrics(self) -> dict[str, float]:
        rounds = [h for h in self.history if h["average"] is not None]
        if not rounds:
            return {"nash_distance": float("nan"), "first_mean": float("nan"), "invalid_share": 1.0}
        return {
            "nash_distance": rounds[-1]["average"],  # the mean guess of the last round; Nash is 0
            "first_mean": rounds[0]["average"],
            "invalid_share": sum(h["invalid"] for h in self.history) / (self.n * len(self.history)),
        }

    def picture(self, state: dict[str, Any] | None = None) -> str:
        from agentlab.views.plots import bar_panels

        state = self.state() if state is None else state
        bins = [f"{10 * k}–{10 * k + 9}" for k in range(10)]
        panel = {"values": state["histogram"], "labels": bins, "ylabel": "agents guessing"}
        return bar_panels([panel], title=f"round {state['round']}: guesses").text


def histogram(values: list[float]) -> list[int]:
    counts = [0] * 10
    for v in values:
        counts[min(9, int(v // 10))] += 1
    return counts
