"""SwarmBench-style grid tasks, after Ruan et al., "Benchmarking LLMs' Swarm Intelligence"
(SwarmBench, 2025), and its code (RUC-GSAI/YuLan-SwarmIntell).

N agents live on a walled grid. Each step every agent sees only the ``view`` × ``view`` cells
around it (global coordinates on the rows and columns, itself as ``Y``, other agents by their
number, ``*`` outside the map), its views and actions of the last ``memory`` steps, and the
messages that agents within its view sent at the last step (anonymous, at most 120 characters).
It replies with ``ACTION: UP|DOWN|LEFT|RIGHT|STAY`` and may add ``MSG: ...``. All agents move at
once. Two tasks:

- **pursuit** (``swarmbench/pursuit``): a prey ``P`` that moves two cells a step to the cell with
  the fewest agents and walls near it. It is caught when its four neighbours are all agents or
  walls: a point, and a new prey appears where the danger is least.
- **foraging** (``swarmbench/foraging``): a maze of walls with a 2×2 food source ``F`` and a 2×2
  nest ``N`` in opposite corners. An agent next to ``F`` picks up one piece (carrying agents show
  as their number, the others as ``$`` and their number); next to ``N`` it drops it: a point.

Metrics: the task's score (preys caught, food delivered), as the paper reports it (mean and std
over seeds: ``sim.spread()``), and the paper's group-behaviour measures averaged over steps:
moving distance, stillness, directional entropy, dominant-action share, polarization, the cells
explored, message rate and length, plus collisions and invalid actions.

Where we depart from the authors' code:
- moves are resolved as simple exclusion (an agent moves into a free cell that no other agent
  wants and that is not swapped), not their force-and-mass physics: agents do not push each other,
  and no task here has a pushable obstacle (their Transport task is left out);
- the prey's and the respawn's "danger" (agents + 0.9 × walls) is counted in the square of
  radius 4 around a cell (theirs is the 8 × 8 slice ``grid[i-4:i+4, j-4:j+4]``), its current cell
  included, and the respawn takes the least dangerous free cell (theirs samples cells at random);
- an agent does not receive its own message (it is in its action history);
- a reply without a readable ``ACTION:`` is recorded as invalid and the agent stays, as their
  agent does when it finds no action.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from agentlab.envs.base import Observations, Phase, StepResult, TextEnv, invalid

MOVES = {"UP": (-1, 0), "DOWN": (1, 0), "LEFT": (0, -1), "RIGHT": (0, 1), "STAY": (0, 0)}
_ACTION = re.compile(r"action\s*:\s*\**\s*\[?\s*(UP|DOWN|LEFT|RIGHT|STAY)\b", re.IGNORECASE)
_MESSAGE = re.compile(r"msg\s*:\s*(.*)", re.IGNORECASE)
MESSAGE_CHARS = 120
Cell = tuple[int, int]


def parse_reply(text: str) -> tuple[str | None, str]:
    """The action (``UP``...``STAY``, or None when there is none) and the message of a reply."""
    action = _ACTION.search(text)
    message = _MESSAGE.search(text)
    said = message.group(1).strip().strip('"[]').strip() if message else ""
    if len(said) > MESSAGE_CHARS:
        said = said[:MESSAGE_CHARS] + "..."
    return (action.group(1).upper() if action else None), said


def resolve_moves(
    positions: Mapping[str, Cell], moves: Mapping[str, str], free: Any
) -> tuple[dict[str, Cell], set[str]]:
    """Everyone moves at once: where each agent ends, and who was stopped by another agent.

    A move goes ahead when its cell is ``free`` (no wall, prey, food or nest), no other agent
    moves into it, the two agents are not swapping places, and whoever stands there moves away.
    """
    targets: dict[str, Cell] = {}
    for agent, at in positions.items():
        di, dj = MOVES.get(moves.get(agent) or "STAY", (0, 0))
        if (di, dj) != (0, 0) and free((at[0] + di, at[1] + dj)):
            targets[agent] = (at[0] + di, at[1] + dj)
    wanted = Counter(targets.values())
    standing = {at: agent for agent, at in positions.items()}
    stopped = {a for a, t in targets.items() if wanted[t] > 1}
    stopped |= {
        a for a, t in targets.items()
        if t in standing and targets.get(standing[t]) == positions[a]
    }  # fmt: skip
    going = {a: t for a, t in targets.items() if a not in stopped}
    changed = True
    while changed:  # into a cell whose agent stays: stopped, which may stop the one behind
        changed = False
        for agent, target in list(going.items()):
            there = standing.get(target)
            if there is not None and there not in going:
                del going[agent]
                stopped.add(agent)
                changed = True
    return {a: going.get(a, at) for a, at in positions.items()}, stopped


def entropy(values: Iterable[str]) -> float:
    counts = Counter(values)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


class SwarmGrid(TextEnv):
    """What the grid tasks share: walls, agents, views, messages, moves and the behaviour metrics."""

    paper = "SwarmBench (Ruan et al., 2025)"

    clock = ("round",)

    def __init__(
        self,
        agents: int = 10,
        width: int = 10,
        height: int = 10,
        view: int = 5,
        rounds: int = 100,
        memory: int = 5,
    ) -> None:
        if agents < 1:
            raise ValueError(f"a grid task needs at least 1 agent; got {agents}")
        if width < 6 or height < 6:
            raise ValueError(f"the grid must be at least 6 x 6 (walls included); got {width} x {height}")
        if (width - 2) * (height - 2) < 2 * agents + 8:
            raise ValueError(
                f"{agents} agents do not fit a {width} x {height} grid; make it larger or the swarm smaller"
            )
        if view < 1 or view % 2 == 0:
            raise ValueError(f"view is the side of a square centred on the agent: an odd number; got {view}")
        if rounds < 1 or memory < 1:
            raise ValueError(f"rounds and memory must be at least 1; got {rounds} and {memory}")
        self.n, self.width, self.height, self.view = agents, width, height, view
        self.rounds, self.memory = rounds, memory
        self.possible_agents = [f"agent{k}" for k in range(agents)]
        self.agents = []

    # ---- the world: subclasses place things and score ----

    def _build(self, rng: random.Random) -> None:
        """Fills ``self.static`` (walls, food, nest) and ``self.positions``."""
        raise NotImplementedError

    def _update(self) -> None:
        """The task's rules after everyone moved: capture, pick-up, delivery."""
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _own(self, agent: str) -> str:
        """What the task adds to an agent's own observation."""
        return ""

    def _token(self, agent: str) -> str:
        return agent.removeprefix("agent")

    # ---- the environment ----

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observations, dict]:
        self.rng = random.Random(seed)
        self.agents = list(self.possible_agents)
        self.round, self.score, self.collisions = 0, 0, 0
        self.static = [["W" if i in (0, self.height - 1) or j in (0, self.width - 1) else "."
                        for j in range(self.width)] for i in range(self.height)]  # fmt: skip
        self.positions: dict[str, Cell] = {}
        self.prey: Cell | None = None
        self._build(self.rng)
        self.views: dict[str, list[str]] = {a: [] for a in self.agents}  # newest last
        self.history: dict[str, list[str]] = {a: [] for a in self.agents}
        self.inbox: dict[str, list[str]] = {a: [] for a in self.agents}
        self.visited = set(self.positions.values())
        self.steps: list[dict[str, float]] = []  # per step: the behaviour measures
        self._look()
        return {a: self.observe(a) for a in self.agents}, {a: {} for a in self.agents}

    def phase(self) -> Phase:
        return Phase("act", tuple(self.agents))

    def free(self, cell: Cell) -> bool:
        """No wall, food, nest or prey there (agents are the moves' business)."""
        i, j = cell
        inside = 0 <= i < self.height and 0 <= j < self.width
        return inside and self.static[i][j] == "." and cell != self.prey

    def _look(self) -> None:
        for agent in self.agents:
            self.views[agent] = [*self.views[agent], self._view(agent)][-self.memory :]

    def _view(self, agent: str) -> str:
        """The agent's square of the grid, with global row and column numbers."""
        ci, cj = self.positions[agent]
        half = self.view // 2
        cells = {at: "Y" if a == agent else self._token(a) for a, at in self.positions.items()}
        if self.prey is not None:
            cells[self.prey] = "P"
        rows = ["    " + "".join(f"{j:>4}" for j in range(cj - half, cj + half + 1))]
        for i in range(ci - half, ci + half + 1):
            line = []
            for j in range(cj - half, cj + half + 1):
                inside = 0 <= i < self.height and 0 <= j < self.width
                line.append(cells.get((i, j), self.static[i][j]) if inside else "*")
            rows.append(f"{i:>4}" + "".join(f"{c:>4}" for c in line))
        return "\n".join(rows)

    def _sees(self, observer: str, other: str) -> bool:
        (a, b), (c, d) = self.positions[observer], self.positions[other]
        return max(abs(a - c), abs(b - d)) <= self.view // 2

    def observe(self, agent: str) -> str:
        number = self._token(agent).lstrip("$")
        views = "\n".join(
            f"{'Now' if k == 0 else f'{k} step(s) before'}:\n{v}"
            for k, v in enumerate(reversed(self.views[agent]))
        )
        inbox = "".join(f'Message: "{m}"\n' for m in self.inbox[agent]) or "(none)\n"
        history = "".join(f"{h}\n" for h in self.history[agent][-self.memory :]) or "(none yet)\n"
        at = self.positions[agent]
        return (
            f"You are Agent {number}, one of {self.n} agents on a {self.height} x {self.width} grid. "
            f"{self._describe()}\n\nRound {self.round + 1} of {self.rounds}. You are at (i={at[0]}, "
            f"j={at[1]}).{self._own(agent)}\nYour view, {self.view} x {self.view} cells around you "
            f"(not the whole map), rows i and columns j in global coordinates:\n{views}\n"
            f"Messages from agents in your view:\n{inbox}Your last actions:\n{history}"
            "Legend: Y you; a number: the agent with that id; W wall; . empty; * outside the map.\n"
            "i grows downward, j to the right. Actions: UP, DOWN, LEFT, RIGHT, STAY. End your reply "
            'with "ACTION: <action>" and, to tell the agents in your view something, a line '
            f'"MSG: <message, at most {MESSAGE_CHARS} characters>".'
        )

    def step(self, actions: Mapping[str, str]) -> StepResult:
        infos: dict[str, dict[str, Any]] = {a: {} for a in self.agents}
        moves: dict[str, str] = {}
        said: dict[str, str] = {}
        for agent in self.agents:
            text = actions.get(agent, "")
            move, message = parse_reply(text)
            if move is None:
                infos[agent] = invalid(text, 'no "ACTION: UP|DOWN|LEFT|RIGHT|STAY"; the agent stays')
            else:
                moves[agent] = move
            if message:
                said[agent] = message
            note = f"Round {self.round + 1}: {move or 'NONE'}"
            self.history[agent].append(note + (f', message "{message}"' if message else ""))
            self.history[agent] = self.history[agent][-self.memory :]
        before = dict(self.positions)
        self.positions, stopped = resolve_moves(before, moves, self.free)
        self.collisions += len(stopped)
        self.visited |= set(self.positions.values())
        scored = self.score
        self._update()
        self.steps.append(self._behaviour(before, moves, said, len(stopped)))
        self.inbox = {a: [m for s, m in said.items() if s != a and self._sees(a, s)] for a in self.agents}
        self.round += 1
        gain = float(self.score - scored)
        rewards = dict.fromkeys(self.agents, gain)  # the swarm's point is everyone's
        over = self.round >= self.rounds
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, over)
        if over:
            observations: Observations = {}
            self.agents = []
        else:
            self._look()
            observations = {a: self.observe(a) for a in self.agents}
        return observations, rewards, terminations, truncations, infos

    def _behaviour(
        self, before: Mapping[str, Cell], moves: Mapping[str, str], said: Mapping[str, str], stopped: int
    ) -> dict[str, float]:
        """SwarmBench's per-step group measures (their analysis/utils/metrics.py)."""
        chosen = list(moves.values())
        directions = [m for m in chosen if m != "STAY"]
        vector = [sum(MOVES[m][1] for m in chosen), -sum(MOVES[m][0] for m in chosen)]
        return {
            "moving_distance": sum(
                abs(self.positions[a][0] - b[0]) + abs(self.positions[a][1] - b[1]) for a, b in before.items()
            ) / max(1, len(before)),
            "stillness": chosen.count("STAY") / len(chosen) if chosen else 0.0,
            "directional_entropy": entropy(directions),
            "dominant_action": max(Counter(chosen).values()) / len(chosen) if chosen else 0.0,
            "polarization": math.hypot(*vector) / len(chosen) if chosen else 0.0,
            "message_rate": len(said) / max(1, len(before)),
            "message_length": sum(map(len, said.values())) / len(said) if said else 0.0,
            "invalid": (len(before) - len(chosen)) / max(1, len(before)),
            "collisions": float(stopped),
            "moved": sum(self.positions[a] != b for a, b in before.items()),
        }  # fmt: skip

    def state(self) -> dict[str, Any]:
        last = self.steps[-1] if self.steps else {}
        return {
            "round": self.round,
            "score": self.score,
            "agents": {a: list(at) for a, at in self.positions.items()},
            "prey": list(self.prey) if self.prey is not None else None,
            "carrying": sorted(getattr(self, "carrying", ())),
            "static": ["".join(row) for row in self.static],
            "moved": last.get("moved", 0),
            "collisions": last.get("collisions", 0.0),
            "explored": len(self.visited),
        }

    @property
    def horizon(self) -> int:
        return self.rounds

    def metrics(self) -> dict[str, float]:
        names = ("moving_distance", "stillness", "directional_entropy", "dominant_action", "polarization",
                 "message_rate", "message_length", "invalid")  # fmt: skip
        steps = self.steps or [dict.fromkeys(names, 0.0)]
        return {
            "score": float(self.score),
            **{name: sum(s[name] for s in steps) / len(steps) for name in names},
            "collisions": float(self.collisions),
            "explored": float(len(self.visited)),
        }

    def picture(self, state: dict[str, Any] | None = None) -> str:
        from agentlab.views.charts import grid_svg

        state = self.state() if state is None else state
        marks = {tuple(at): ("agent", a.removeprefix("agent"), a in state["carrying"])
                 for a, at in state["agents"].items()}  # fmt: skip
        if state["prey"] is not None:
            marks[tuple(state["prey"])] = ("prey", "P", False)
        return grid_svg(state["static"], marks, title=f"round {state['round']}: score {state['score']}")

    def spawn(self, rng: random.Random, rows: range, columns: range) -> None:
        """Places every agent on a distinct free cell in ``rows`` × ``columns``, as their ``spread``."""
        cells = [(i, j) for i in rows for j in columns if self.free((i, j))]
        for agent, cell in zip(self.agents, rng.sample(cells, len(self.agents)), strict=True):
            self.positions[agent] = cell


class Pursuit(SwarmGrid, name="swarmbench/pursuit"):
    """``al.envs.load("swarmbench/pursuit", agents=10, rounds=100)``."""

    DANGER_RADIUS = 4

    def _build(self, rng: random.Random) -> None:
        h, w = self.height, self.width
        self.prey = (rng.randint(h // 2 + 1, h - 2), rng.randint(w // 2 + 1, w - 2))
        corner = range(1, min(h - 1, max(h // 2, 5) + 1)), range(1, min(w - 1, max(w // 2, 5) + 1))
        if sum(self.free((i, j)) for i in corner[0] for j in corner[1]) < self.n:
            corner = range(1, h - 1), range(1, w - 1)
        self.spawn(rng, *corner)

    def _describe(self) -> str:
        return (
            "There is a prey (P) somewhere on the map. Cooperate with the other agents to chase it "
            "down: it is caught only when its four neighbours (up, down, left, right) are all agents "
            "or walls (W). The prey moves faster than you (2 cells a step). Each catch earns a point, "
            "and a new prey appears somewhere on the map."
        )

    def _danger(self, cell: Cell) -> float:
        i, j = cell
        r = self.DANGER_RADIUS
        agents = sum(1 for a, b in self.positions.values() if abs(a - i) <= r and abs(b - j) <= r)
        walls = sum(
            self.static[a][b] == "W"
            for a in range(max(0, i - r), min(self.height, i + r + 1))
            for b in range(max(0, j - r), min(self.width, j + r + 1))
        )
        return agents + 0.9 * walls

    def _empty(self, cell: Cell) -> bool:
        return self.free(cell) and cell not in set(self.positions.values())

    def caught(self) -> bool:
        assert self.prey is not None
        i, j = self.prey
        taken = set(self.positions.values())
        return all(
            (i + di, j + dj) in taken or self.static[i + di][j + dj] == "W"
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))
        )

    def _update(self) -> None:
        assert self.prey is not None
        if self.caught():
            self.score += 1
            self.prey = None
            cells = [
                (i, j)
                for i in range(1, self.height - 1)
                for j in range(1, self.width - 1)
                if self._empty((i, j))
            ]
            least = min(self._danger(c) for c in cells)
            self.prey = self.rng.choice([c for c in cells if self._danger(c) == least])
            return
        i, j = self.prey
        self.prey = None  # the prey's own cell is free to it
        best, danger = (i, j), self._danger((i, j))
        steps = [d for d in MOVES.values() if d != (0, 0)]
        for di1, dj1 in steps:  # two unit steps, as theirs
            for di2, dj2 in steps:
                first, second = (i + di1, j + dj1), (i + di1 + di2, j + dj1 + dj2)
                if second == (i, j) or not (self._empty(first) and self._empty(second)):
                    continue
                if self._danger(second) < danger:
                    best, danger = second, self._danger(second)
        self.prey = best


class Foraging(SwarmGrid, name="swarmbench/foraging"):
    """``al.envs.load("swarmbench/foraging", agents=10, rounds=100)``."""

    def _build(self, rng: random.Random) -> None:
        h, w = self.height, self.width
        food_i, food_j = rng.choice([1, h - 3]), rng.choice([1, w - 3])
        nest_i, nest_j = (h - 3 if food_i == 1 else 1), (w - 3 if food_j == 1 else 1)
        if rng.randint(0, 1) == 0:  # walls across the rows, with gaps at alternating ends
            lines = list(range(4, h - 4, 4))
            if len(lines) % 2:
                nest_j = food_j = 1
            for k, i in enumerate(lines):
                for j in range(w):
                    if (j < w - math.ceil(w / 3) + 1) if k % 2 == 0 else (j >= w // 3):
                        self.static[i][j] = "W"
        else:  # the same across the columns
            lines = list(range(4, w - 4, 4))
            if len(lines) % 2:
                nest_i = food_i = 1
            for k, j in enumerate(lines):
                for i in range(h):
                    if (i < h - math.ceil(h / 3) + 1) if k % 2 == 0 else (i >= h // 3):
                        self.static[i][j] = "W"
        for di in (0, 1):
            for dj in (0, 1):
                self.static[food_i + di][food_j + dj] = "F"
                self.static[nest_i + di][nest_j + dj] = "N"
        self.carrying: set[str] = set()
        self.spawn(rng, range(1, h - 1), range(1, w - 1))

    def _describe(self) -> str:
        return (
            "You are in a maze whose walls (W) block your way. Carry food (F) to the nest (N): if you "
            "carry nothing, go next to F to pick up one piece (food is endless; you carry one piece at "
            "a time); if you carry food, go next to N to drop it, which earns a point. Only agents "
            "directly next to F or N (up, down, left, right) pick up or drop. Agents carrying food "
            "show as their id; the others as $ and their id."
        )

    def _own(self, agent: str) -> str:
        return f" You are {'carrying food' if agent in self.carrying else 'not carrying food'}."

    def _token(self, agent: str) -> str:
        number = agent.removeprefix("agent")
        return number if agent in self.carrying else f"${number}"

    def _next_to(self, cell: Cell, symbol: str) -> bool:
        i, j = cell
        return any(
            0 <= i + di < self.height and 0 <= j + dj < self.width and self.static[i + di][j + dj] == symbol
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))
        )

    def _update(self) -> None:
        for agent, at in self.positions.items():
            if self._next_to(at, "F"):
                self.carrying.add(agent)
            if agent in self.carrying and self._next_to(at, "N"):
                self.score += 1
                self.carrying.discard(agent)
