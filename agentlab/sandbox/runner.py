"""Running untrusted generated code: a separate process inside the operating system's sandbox
(namespaces and a seccomp filter, see ``namespaces`` and ``seccomp``), under time, CPU, memory and
file-size limits, with a scrubbed environment; a pass needs the harness's nonce (see ``harness``).

``isolation="guard"`` is the weaker mode for machines where the sandbox cannot be set up: the
same process limits and harness, a throw-away host directory, and only the in-process guard in the
way of a hostile program. It is never chosen silently.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentlab.sandbox import namespaces, seccomp

Isolation = Literal["namespaces", "guard"]
ISOLATION_VARIABLE = "AGENTLAB_SANDBOX"
_HARNESS = Path(__file__).with_name("harness.py")


@dataclass(frozen=True)
class Limits:
    seconds: float = 10.0  # wall clock, then everything it started is killed
    memory_mb: int = 1024  # address space, per process
    file_mb: int = 16  # largest file it may write, its captured output included
    disk_mb: int = 64  # all it writes together (the size of its tmpfs; namespaces only)
    processes: int = 0  # processes it may start: 0 refuses fork (seccomp, or the guard's refusal)
    isolation: Isolation | None = None  # None: $AGENTLAB_SANDBOX if set, else "namespaces"

    def __post_init__(self) -> None:
        for name in ("seconds", "memory_mb", "file_mb", "disk_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive; got {getattr(self, name)!r}")
        if self.processes < 0:
            raise ValueError(f"Limits.processes must be 0 or more; got {self.processes!r}")
        if self.isolation not in (None, "namespaces", "guard"):
            raise ValueError(f"Limits.isolation is 'namespaces' or 'guard'; got {self.isolation!r}")

    def chosen_isolation(self) -> Isolation:
        chosen = self.isolation or os.environ.get(ISOLATION_VARIABLE) or "namespaces"
        if chosen not in ("namespaces", "guard"):
            raise ValueError(f"{ISOLATION_VARIABLE} is 'namespaces' or 'guard'; got {chosen!r}")
        return chosen  # type: ignore[return-value]


Status = Literal["passed", "failed", "incomplete", "timeout"]


@dataclass(frozen=True)
class Outcome:
    """``incomplete``: the program ended without its last statement running (it exited early, was
    killed, or exited 0 on the way out), which is never a pass."""

    status: Status
    returncode: int | None
    output: str  # the end of stdout and stderr
    seconds: float
    isolation: str  # what contained it: "namespaces+seccomp", "namespaces" or "guard"

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _user_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # the process may have ended meanwhile
                count += entry.stat().st_uid == uid
    return count


def _confiner(limits: Limits, isolation: Isolation) -> Callable[[], None]:
    # bubblewrap itself runs two processes (its reaper and the program) under the same user
    nproc = _user_processes() + limits.processes + (2 if isolation == "namespaces" else 0) + 1

    def confine() -> None:  # runs in the child, before bubblewrap or the interpreter starts
        memory, size = limits.memory_mb * 2**20, limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CPU, (int(limits.seconds) + 1, int(limits.seconds) + 2))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))  # root is exempt: seccomp binds there
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return confine


def run_untrusted(program: str, limits: Limits = Limits()) -> Outcome:
    """Run ``program`` (Python source) under the limits; it passes when it runs to its last
    statement within the time and exits 0. Raises ``SandboxUnavailable`` (why, and how to fix it)
    when the namespaces cannot be set up and the guard was not chosen.

    >>> run_untrusted("assert 1 + 1 == 2").status
    'passed'
    >>> run_untrusted("import sys; sys.exit(0); assert False").status
    'incomplete'
    >>> run_untrusted("while True: pass", Limits(seconds=0.5)).status
    'timeout'
    """
    isolation = limits.chosen_isolation()
    if isolation == "namespaces" and (reason := namespaces.unavailable_reason()) is not None:
        raise namespaces.SandboxUnavailable(reason)
    host = Path(tempfile.mkdtemp(prefix="agentlab-sandbox-"))
    try:
        return _run(program, limits, isolation, host)
    finally:
        shutil.rmtree(host, ignore_errors=True)


def _run(program: str, limits: Limits, isolation: Isolation, host: Path) -> Outcome:
    code_dir, work_dir = host / "code", host / "work"
    code_dir.mkdir()
    work_dir.mkdir()
    (code_dir / "program.py").write_text(program, encoding="utf-8")
    shutil.copyfile(_HARNESS, code_dir / "harness.py")
    nonce = secrets.token_hex(16).encode()
    verdict = (host / "verdict").open("wb")
    keep = [verdict.fileno()]
    label: str = isolation
    filter_file = None
    if isolation == "namespaces":
        inside = namespaces.CODE_DIR
        argv = [sys.executable, "-I", "-B", f"{inside}/harness.py", f"{inside}/program.py"]
        filter_bytes = seccomp.program(allow_processes=limits.processes > 0)
        if filter_bytes is not None:
            (host / "seccomp.bpf").write_bytes(filter_bytes)
            filter_file = (host / "seccomp.bpf").open("rb")
            keep.append(filter_file.fileno())
            label = "namespaces+seccomp"
        argv = namespaces.command(
            [*argv, str(verdict.fileno())],
            code_dir,
            limits.disk_mb,
            filter_file.fileno() if filter_file else None,
        )
        cwd, home = host, namespaces.WORKDIR
    else:
        argv = [sys.executable, "-I", "-B", str(code_dir / "harness.py"), str(code_dir / "program.py")]
        argv.append(str(verdict.fileno()))
        cwd, home = work_dir, str(work_dir)
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    started = time.perf_counter()
    status: Status
    try:
        with (host / "out.txt").open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=keep,
                preexec_fn=_confiner(limits, isolation),
            )
            verdict.close()
            if filter_file is not None:
                filter_file.close()
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(nonce + b"\n")
                process.stdin.close()
            try:
                returncode: int | None = process.wait(timeout=limits.seconds)
            except subprocess.TimeoutExpired:
                returncode = None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # bubblewrap (or the program) and its group
                process.wait()
    finally:
        verdict.close()
    finished = (host / "verdict").read_bytes()[: len(nonce) + 1] == nonce
    if returncode is None:
        status = "timeout"
    elif returncode != 0:
        status = "failed"
    else:
        status = "passed" if finished else "incomplete"
    with (host / "out.txt").open("rb") as f:
        f.seek(max(0, (host / "out.txt").stat().st_size - 4000))
        output = f.read().decode(errors="replace")
    return Outcome(status, returncode, output, time.perf_counter() - started, label)
