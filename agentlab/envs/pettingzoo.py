"""An existing PettingZoo parallel environment as a text environment: ``al.envs.from_pettingzoo``.

The user gives how an observation reads as text (``observe(agent, observation) -> str``) and how a
reply becomes an action (``act(agent, text) -> action or None``). A reply ``act`` cannot read is
recorded as invalid and replaced by ``fallback(agent)`` (by default a sample of the agent's
action space, seeded with the episode), since a parallel environment needs an action from every
live agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agentlab.envs.base import Observations, Phase, StepResult, TextEnv, invalid


class PettingZooEnv(TextEnv):
    def __init__(
        self,
        env: Any,
        observe: Callable[[str, Any], str],
        act: Callable[[str, str], Any],
        fallback: Callable[[str], Any] | None = None,
        name: str | None = None,
    ) -> None:
        for method in ("reset", "step", "possible_agents"):
            if not hasattr(env, method):
                raise TypeError(
                    f"from_pettingzoo takes a PettingZoo ParallelEnv (with reset, step, possible_agents); "
                    f"{type(env).__name__} has no {method!r}. An AEC env converts with "
                    "pettingzoo.utils.conversions.aec_to_parallel(env)"
                )
        self.env, self._observe, self._act, self._fallback = env, observe, act, fallback
        self.name = name or str(getattr(env, "metadata", {}).get("name", type(env).__name__))
        self.possible_agents = [str(a) for a in env.possible_agents]
        self.agents = []

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observations, dict]:
        self._observations, infos = self.env.reset(seed=seed, options=options)
        self.agents = [str(a) for a in self.env.agents]
        self._seed, self._steps = seed, 0
        self._returns = dict.fromkeys(self.possible_agents, 0.0)
        return {a: self.observe(a) for a in self.agents}, infos

    def phase(self) -> Phase:
        return Phase("act", tuple(self.agents))

    def observe(self, agent: str) -> str:
        return self._observe(agent, self._observations[agent])

    def step(self, actions: Mapping[str, str]) -> StepResult:
        chosen, notes = {}, {}
        for agent in self.agents:
            text = actions.get(agent, "")
            action = self._act(agent, text)
            if action is None:
                notes[agent] = invalid(text, "act() could not read it; the fallback action was taken")
                action = self._fallback_for(agent)
            chosen[agent] = action
        self._observations, rewards, terminations, truncations, infos = self.env.step(chosen)
        for agent, reward in rewards.items():
            self._returns[str(agent)] += float(reward)
        self.agents = [str(a) for a in self.env.agents]
        self._steps += 1
        infos = {str(a): {**infos.get(a, {}), **notes.get(str(a), {})} for a in set(infos) | set(notes)}
        return ({a: self.observe(a) for a in self.agents}, rewards, terminations, truncations, infos)

    def _fallback_for(self, agent: str) -> Any:
        if self._fallback is not None:
            return self._fallback(agent)
        space = self.env.action_space(agent)
        space.seed(None if self._seed is None else self._seed * 100_003 + self._steps)
        return space.sample()

    def state(self) -> dict[str, Any]:
        return {"step": self._steps, "agents": list(self.agents), "returns": dict(self._returns)}

    def metrics(self) -> dict[str, float]:
        total = sum(self._returns.values())
        return {
            "return": total,
            "return_per_agent": total / max(1, len(self.possible_agents)),
            "steps": self._steps,
        }


def from_pettingzoo(
    env: Any,
    observe: Callable[[str, Any], str],
    act: Callable[[str, str], Any],
    fallback: Callable[[str], Any] | None = None,
    name: str | None = None,
) -> PettingZooEnv:
    """A PettingZoo ``ParallelEnv`` that agents play in text; see the module docstring."""
    return PettingZooEnv(env, observe, act, fallback, name)
