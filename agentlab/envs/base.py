"""Environments whose state evolves while agents act in it, in PettingZoo's parallel API shape with
text for observations and actions.

``reset(seed)`` gives each agent's observation; ``step(actions)`` takes one text per acting agent,
parses it, advances the world and gives observations, rewards, terminations, truncations and
infos, as ``pettingzoo.ParallelEnv`` does. Besides, a text environment says what happens next
(``phase()``: who acts, and whether they act or talk along the team's graph), what it looks like
(``state()`` as JSON, ``picture()`` as SVG) and how the episode went (``metrics()``).

An action the environment cannot parse is never an error: ``step`` records it in
``infos[agent]["invalid"]`` (with the text) and does what the environment documents.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from agentlab.registry import Registry

Observations = dict[str, str]
StepResult = tuple[
    Observations, dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
]


@dataclass(frozen=True)
class Phase:
    """What happens at the next step: ``agents`` act at once, or, with ``talk``, discuss for
    ``rounds`` turns along the team's graph (their words go to ``step`` as the actions)."""

    name: str
    agents: tuple[str, ...]
    talk: bool = False
    rounds: int = 1


class TextEnv(ABC):
    """Base of the built-in environments: subclasses keep ``possible_agents`` and ``agents`` (the
    live ones) as PettingZoo does and implement the methods below."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    clock: ClassVar[tuple[str, ...]] = ()  # state keys that count time (a month, a round): not plotted
    possible_agents: list[str]
    agents: list[str]

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name = name
            ENVS.add(name, cls)

    @abstractmethod
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observations, dict]:
        """Starts an episode: each agent's first observation, and infos."""

    @abstractmethod
    def phase(self) -> Phase:
        """Who acts at the next step, and how."""

    @abstractmethod
    def observe(self, agent: str) -> str:
        """What ``agent`` is shown now: only what it may know (its own view and history)."""

    @abstractmethod
    def step(self, actions: Mapping[str, str]) -> StepResult:
        """Takes one text per acting agent (a missing or unparseable one is recorded as invalid)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """The world now, as JSON: what ``states.jsonl`` records after every step."""

    @abstractmethod
    def metrics(self) -> dict[str, float]:
        """How the episode has gone so far, by the paper's metrics."""

    def picture(self, state: dict[str, Any] | None = None) -> str:
        """A state (a recorded one, or the world now) as SVG for the explorer's state timeline;
        plain JSON by default."""
        import html
        import json

        return f"<pre>{html.escape(json.dumps(self.state() if state is None else state, indent=1))}</pre>"

    def topic(self, phase: Phase) -> str:
        """What a discussion is about, for a team that sends every speaker the same text (a
        routing, or a protocol of one's own): the first speaker's observation by default."""
        return self.observe(phase.agents[0])

    @property
    def horizon(self) -> int | None:
        """The most steps an episode takes, when known (a progress bar's length); None if not."""
        return None

    @property
    def done(self) -> bool:
        """Every agent terminated or truncated: the episode is over."""
        return not self.agents


ENVS: Registry[type[TextEnv]] = Registry("environment", packages=["agentlab.envs"])


def invalid(text: str, why: str) -> dict[str, Any]:
    """The ``infos`` entry of an action the environment could not use."""
    return {"invalid": {"text": text, "why": why}}
