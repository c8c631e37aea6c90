"""Environments: worlds whose state evolves while agents act in them (``al.envs.load(name, ...)``),
run with ``team.simulate(env, episodes=N, seed=0)``.

Each built-in environment is a card in ``envs/`` (its paper, its rules, what is simplified) and a
class registered by name (``class Mine(TextEnv, name="mine")``); ``from_pettingzoo`` brings an
existing PettingZoo parallel environment.
"""

from __future__ import annotations

from typing import Any

from agentlab.envs.base import ENVS, Phase, TextEnv, invalid
from agentlab.envs.pettingzoo import from_pettingzoo
from agentlab.envs.simulate import Simulation, simulate


def load(name: str, **options: Any) -> TextEnv:
    """``al.envs.load("govsim/fishery", agents=5, months=12)``; ``names()`` lists them."""
    import inspect

    cls = ENVS.resolve(name)
    takes = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        from agentlab.registry import did_you_mean

        raise ValueError(
            f"environment {name!r} does not take {unknown}{did_you_mean(unknown[0], takes)}; it takes {takes}"
        )
    return cls(**options)


def names() -> list[str]:
    return ENVS.names()


def card(name: str) -> dict[str, Any]:
    """An environment's card: its paper, rules, options, metrics and every simplification."""
    from agentlab._cards import load_card

    ENVS.resolve(name)  # an unknown name gets the closest known one
    return load_card("envs", name)


__all__ = [
    "ENVS",
    "Phase",
    "Simulation",
    "TextEnv",
    "from_pettingzoo",
    "invalid",
    "load",
    "names",
    "simulate",
]
