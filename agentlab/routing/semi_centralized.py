"""Semi-centralized: a planner assigns work, and workers address each other directly by name.

After Ren et al. (2025), "Anemoi: A Semi-Centralized Multi-agent System Based on Agent-to-Agent
Communication MCP server" (arXiv:2508.17068). The planner reads the problem and writes lines
``@agent1: <subtask>``; each addressed worker reads what was sent to it and replies, and a reply
may address other workers (``@agent2: ...``) or the planner (``@planner: ...``); whoever is
addressed speaks in the next step. When a step addresses no worker, or after ``max_steps``, the
planner reads everything sent to it and answers.

Simplified: Anemoi's agents talk through an MCP server of threads and can keep working while
others do; here a step is synchronous (everyone addressed answers, then the next step), and
workers have no tools of their own unless given them. Addressing an agent who does not exist, or
messages still flowing after ``max_steps``, is a ``RouteError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentlab.routing.base import ROUTINGS, Route, RouteError, RouteTurn, Routing, named

ADDRESS = r"@([A-Za-z_][\w-]*)\s*:"


class SemiCentralized(Routing):
    """A ``planner`` and ``workers`` who message each other by ``@name:`` lines."""

    name = "semi-centralized"

    def __init__(
        self,
        workers: Sequence[str] = ("agent0", "agent1", "agent2"),
        planner: str = "planner",
        max_steps: int = 4,
        roles: Sequence[str] = (),
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be 1 or more; got {max_steps}")
        if not workers or planner in workers or len(set(workers)) < len(workers):
            raise ValueError(
                f"give distinct workers and a planner who is not one; got {list(workers)}, {planner!r}"
            )
        self.workers, self.planner, self.max_steps = list(workers), planner, max_steps
        self.roles = list(roles) or [""]

    def agent_roles(self) -> list[tuple[str, str]]:
        others = ", ".join(self.workers)
        worker = (
            "You are {name}, a worker. You may message another worker or the planner directly with a line "
            "'@name: message'. The agents: {others}, {planner}. {role}"
        )
        roles = [
            (
                w,
                worker.format(
                    name=w, others=others, planner=self.planner, role=self.roles[i % len(self.roles)]
                ).strip(),
            )
            for i, w in enumerate(self.workers)
        ]
        planner = (
            f"You are {self.planner}, the planner. Assign work to the workers ({others}) with lines "
            "'@name: subtask', and give the final answer when their results come back."
        )
        return [*roles, (self.planner, planner)]

    def start(self, question: str, state: Any = None) -> Route:
        return _Route(self, question)


ROUTINGS.add("semi-centralized", SemiCentralized)


class _Route(Route):
    def __init__(self, spec: SemiCentralized, question: str) -> None:
        self.spec, self.question = spec, question
        self.inbox: dict[str, list[tuple[str, str]]] = {}  # addressee -> (sender, message)
        self.to_planner: list[tuple[str, str]] = []
        self.steps, self.final = 0, None
        self.phase = "plan"

    def turns(self) -> list[RouteTurn]:
        spec = self.spec
        if self.phase == "plan":
            return [
                RouteTurn(
                    spec.planner,
                    f"Problem: {self.question}\n\nAssign the work: one '@name: subtask' line per worker.",
                )
            ]
        if self.phase == "work":
            out = []
            for worker in spec.workers:
                received = self.inbox.get(worker)
                if received:
                    notes = "\n".join(f"[{who}]: {text}" for who, text in received)
                    ask = (
                        "Do your part and reply; address another agent with '@name: message' if you need to."
                    )
                    out.append(
                        RouteTurn(
                            worker,
                            f"Problem: {self.question}\n\nMessages to you:\n{notes}\n\n{ask}",
                            tuple(dict.fromkeys(w for w, _ in received)),
                        )
                    )
            return out
        notes = "\n".join(f"[{who}]: {text}" for who, text in self.to_planner) or "(no worker wrote to you)"
        ask = "Give the final answer to the problem."
        return [
            RouteTurn(
                spec.planner,
                f"Problem: {self.question}\n\nWhat the workers sent you:\n{notes}\n\n{ask}",
                tuple(dict.fromkeys(w for w, _ in self.to_planner)),
            )
        ]

    def _deliver(self, sender: str, text: str, default: str | None) -> tuple[str, ...]:
        """Sorts ``text``'s ``@name:`` lines into inboxes; text to nobody goes to ``default``."""
        agents = [*self.spec.workers, self.spec.planner]
        addressed = named(text, agents, ADDRESS)
        if not addressed and default is not None:
            self.to_planner.append((sender, text.strip()))
            return (default,)
        for line in text.splitlines():
            for name in named(line, agents, ADDRESS):
                message = line.split(":", 1)[1].strip() if ":" in line else line
                if name == self.spec.planner:
                    self.to_planner.append((sender, message))
                elif name != sender:
                    self.next_inbox.setdefault(name, []).append((sender, message))
        return tuple(addressed)

    def hear(self, said: Sequence[tuple[RouteTurn, str]]) -> list[tuple[str, ...]]:
        spec = self.spec
        if self.phase == "answer":
            ((_, text),) = said
            self.final, self.phase = text, "done"
            return [()]
        self.next_inbox: dict[str, list[tuple[str, str]]] = {}
        if self.phase == "plan":
            ((_, text),) = said
            heard = [self._deliver(spec.planner, text, None)]
            if not self.next_inbox:
                raise RouteError(
                    f"the planner assigned no work (no '@worker: ...' line in {text.strip()[:120]!r})"
                )
        else:
            heard = [self._deliver(t.agent, text, spec.planner) for t, text in said]
        self.steps += 1
        self.inbox = self.next_inbox
        if not self.inbox:
            self.phase = "answer"
        elif self.steps > spec.max_steps:
            raise RouteError(f"workers were still messaging each other after max_steps={spec.max_steps}")
        else:
            self.phase = "work"
        return heard

    @property
    def answer(self) -> str | None:
        return self.final
