"""What a sandboxed run may use (``Limits``) and what came of it (``Outcome``)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Literal

Isolation = Literal["namespaces", "guard"]
CgroupUse = Literal["auto", "required", "off"]
Status = Literal["passed", "failed", "incomplete", "timeout"]
ISOLATION_VARIABLE = "AGENTLAB_SANDBOX"


@dataclass(frozen=True)
class Limits:
    """The bounds of one sandboxed run. Where a cgroup can be made (``cgroup``), the kernel bounds
    memory and tasks for all the run's processes together; elsewhere per-process rlimits do, and
    ``Outcome.bounds`` says which.

    >>> Limits(seconds=5, memory_mb=512).threads
    4
    """

    seconds: float = 10.0  # wall clock, then everything it started is killed
    memory_mb: int = (
        1024  # all its memory: a cgroup counts shared and kernel memory; rlimits only address space
    )
    file_mb: int = 16  # largest file it may write; also its captured output and each value it sends back
    disk_mb: int = 64  # all it writes together (the size of its tmpfs; namespaces only)
    processes: int = 0  # processes it may start: 0 refuses fork (seccomp, or the guard's refusal)
    threads: int = 4  # threads it may start; the kernel counts tasks: 1 + processes + threads at once
    open_files: int = 64  # file descriptors per process
    packages: tuple[str, ...] = ()  # installed packages it may import (e.g. ("numpy",)); the stdlib always
    cgroup: CgroupUse = "auto"  # auto: a cgroup where one can be made; required: refuse to run without
    isolation: Isolation | None = None  # None: $AGENTLAB_SANDBOX if set, else "namespaces"

    def __post_init__(self) -> None:
        for name in ("seconds", "memory_mb", "file_mb", "disk_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive; got {getattr(self, name)!r}")
        for name in ("processes", "threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"Limits.{name} must be 0 or more; got {getattr(self, name)!r}")
        if self.open_files < 16:
            raise ValueError(
                f"Limits.open_files must be at least 16 (Python needs a few); got {self.open_files!r}"
            )
        if self.isolation not in (None, "namespaces", "guard"):
            raise ValueError(f"Limits.isolation is 'namespaces' or 'guard'; got {self.isolation!r}")
        if self.cgroup not in ("auto", "required", "off"):
            raise ValueError(f"Limits.cgroup is 'auto', 'required' or 'off'; got {self.cgroup!r}")
        if isinstance(self.packages, str):
            raise ValueError(f"Limits.packages is a tuple of names, e.g. ({self.packages!r},)")
        for name in self.packages:
            if not name.isidentifier():
                raise ValueError(f"Limits.packages holds top-level package names; got {name!r}")
            if importlib.util.find_spec(name) is None:
                raise ValueError(f"Limits.packages: {name!r} is not installed here (pip install {name})")

    def chosen_isolation(self) -> Isolation:
        chosen = self.isolation or os.environ.get(ISOLATION_VARIABLE) or "namespaces"
        if chosen not in ("namespaces", "guard"):
            raise ValueError(f"{ISOLATION_VARIABLE} is 'namespaces' or 'guard'; got {chosen!r}")
        return chosen  # type: ignore[return-value]

    @property
    def tasks(self) -> int:
        """Tasks (processes and threads) the program may have at once, itself included."""
        return 1 + self.processes + self.threads


@dataclass(frozen=True)
class Outcome:
    """``incomplete``: the program ended without its last statement running (it exited early, was
    killed, or exited 0 on the way out), which is never a pass. ``limit`` names the bound that
    ended it, where one did: "time", "memory", "tasks" or "output"."""

    status: Status
    returncode: int | None
    output: str  # the end of stdout and stderr
    seconds: float
    isolation: str  # what contained it: "namespaces+seccomp", "namespaces" or "guard"
    bounds: str = ""  # what bounded memory and tasks: a cgroup, or rlimits only and why
    limit: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"
