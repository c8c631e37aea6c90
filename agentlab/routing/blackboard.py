"""A blackboard: a shared board every agent reads, and a control step that picks who posts next.

After Han and Zhang (2025), "Exploring Advanced LLM Multi-Agent Systems Based on Blackboard
Architecture" (bMAS, arXiv:2507.01701), and Salemi et al. (2025), "LLM-based Multi-Agent Blackboard
System for Information Discovery" (arXiv:2510.01285). Each step: every worker reads the board and
offers, in a line, what it would add; the controller reads the board and the offers and names the
workers who post (``POST: agent1, agent3``), or hands over to the decider (``DECIDE``, or a reply
that names no worker); the chosen workers read the board and post; the decider finally reads the
board and answers.

Simplified: the board holds only posts (no cleaner or critic agents editing it), offers are
plain text the controller reads (no bidding), and there is one decider. A controller that names
an agent who does not exist, or steps past ``max_steps`` without handing over, is a ``RouteError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentlab.routing.base import ROUTINGS, Route, RouteError, RouteTurn, Routing, named

WORKER = "You are {name}, one of the workers sharing a blackboard. {role}"


class Blackboard(Routing):
    """``workers`` post to the board; ``controller`` picks who posts each step; ``decider`` answers."""

    name = "blackboard"

    def __init__(
        self,
        workers: Sequence[str] = ("agent0", "agent1", "agent2"),
        controller: str = "controller",
        decider: str = "decider",
        max_steps: int = 4,
        roles: Sequence[str] = (),
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be 1 or more; got {max_steps}")
        if not workers:
            raise ValueError("a blackboard needs at least one worker")
        names = [*workers, controller, decider]
        if len(set(names)) < len(names):
            raise ValueError(f"the workers, controller and decider need distinct names; got {names}")
        self.workers, self.controller, self.decider = list(workers), controller, decider
        self.max_steps = max_steps
        self.roles = list(roles) or [""]

    def agent_roles(self) -> list[tuple[str, str]]:
        roles = [
            (w, WORKER.format(name=w, role=self.roles[i % len(self.roles)]).strip())
            for i, w in enumerate(self.workers)
        ]
        return [
            *roles,
            (self.controller, "You are the controller of a blackboard: you decide which workers post next."),
            (self.decider, "You read the blackboard and give the final answer."),
        ]

    def start(self, question: str, state: Any = None) -> Route:
        return _BoardRoute(self, question)


ROUTINGS.add("blackboard", Blackboard)


class _BoardRoute(Route):
    def __init__(self, spec: Blackboard, question: str) -> None:
        self.spec, self.question = spec, question
        self.board: list[tuple[str, str]] = []
        self.offers: list[tuple[str, str]] = []
        self.phase, self.steps, self.final = "offer", 0, None
        self.chosen: list[str] = []

    def _board(self) -> str:
        posts = "\n".join(f"[{who}]: {text.strip()}" for who, text in self.board) or "(nothing posted yet)"
        return f"Problem: {self.question}\n\nThe blackboard:\n{posts}"

    def turns(self) -> list[RouteTurn]:
        spec, posted = self.spec, tuple(dict.fromkeys(w for w, _ in self.board))
        if self.phase == "offer":
            ask = "In one line, offer what you would add to the board next (or say you have nothing to add)."
            return [RouteTurn(w, f"{self._board()}\n\n{ask}", posted) for w in spec.workers]
        if self.phase == "control":
            offers = "\n".join(f"- {w}: {text.strip()}" for w, text in self.offers)
            ask = (
                f"Offers:\n{offers}\n\nName the workers who post next as 'POST: name, name', or reply "
                f"'DECIDE' when the board holds enough for {spec.decider} to answer."
            )
            return [RouteTurn(spec.controller, f"{self._board()}\n\n{ask}", tuple(w for w, _ in self.offers))]
        if self.phase == "post":
            ask = "Post your contribution to the board: reasoning, a partial result, or a check of a post."
            return [RouteTurn(w, f"{self._board()}\n\n{ask}", posted) for w in self.chosen]
        ask = "Give the final answer to the problem from what the board holds."
        return [RouteTurn(spec.decider, f"{self._board()}\n\n{ask}", posted)]

    def hear(self, said: Sequence[tuple[RouteTurn, str]]) -> list[tuple[str, ...]]:
        spec = self.spec
        if self.phase == "offer":
            self.offers = [(t.agent, text) for t, text in said]
            self.phase = "control"
            return [(spec.controller,)] * len(said)
        if self.phase == "control":
            ((_, text),) = said
            self.steps += 1
            if "DECIDE" in text.upper() and "POST:" not in text.upper():
                self.phase = "decide"
                return [(spec.decider,)]
            at = text.upper().find("POST:")
            listed = (text[at + 5 :].strip().splitlines() or [""])[0] if at >= 0 else text
            names = {n.lower(): n for n in [*spec.workers, spec.controller, spec.decider]}
            try:
                chosen = named(listed.lower(), list(names), r"\b(agent\d+|[a-z]+\d+)\b")
            except RouteError as error:
                raise RouteError(f"the controller named an unknown worker: {error}") from None
            chosen = [names[c] for c in chosen if names[c] in spec.workers]
            if not chosen:  # it named nobody: nothing more to post, the decider takes over
                self.phase = "decide"
                return [(spec.decider,)]
            if self.steps > spec.max_steps:
                raise RouteError(
                    f"the blackboard went past max_steps={spec.max_steps} without reaching DECIDE"
                )
            self.chosen, self.phase = chosen, "post"
            return [tuple(chosen)]
        if self.phase == "post":
            self.board += [(t.agent, text) for t, text in said]
            self.phase = "offer"
            everyone = (*spec.workers, spec.controller, spec.decider)
            return [tuple(n for n in everyone if n != t.agent) for t, _ in said]
        ((_, text),) = said
        self.final, self.phase = text, "done"
        return [()]

    @property
    def answer(self) -> str | None:
        return self.final
