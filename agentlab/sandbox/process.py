"""One sandboxed interpreter running the harness: started under the limits (namespaces and seccomp,
a fresh unprivileged user for a root caller, a cgroup where one can be made, rlimits), its output
read through a pipe with a cap, and on ``close`` everything it started killed and removed.

Nothing it writes lands on the host's disk: stdout and stderr, the verdict and the replies all go
through pipes, and the parent never keeps more of them than the limits allow.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from agentlab.sandbox import identity, namespaces, seccomp
from agentlab.sandbox.cgroups import CgroupUnavailable, RunCgroup
from agentlab.sandbox.limits import Limits

OUTPUT_TAIL = 4000  # bytes of stdout and stderr an Outcome keeps: the end, where errors are
_HARNESS = Path(__file__).with_name("harness.py")
_LITERALS = Path(__file__).with_name("literals.py")
_BWRAP_TASKS = 2  # bubblewrap's monitor and its init inside the PID namespace, in the run's cgroup
_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    # numerical libraries start a thread per core at import: one is what Limits.threads expects
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@functools.cache
def _warn_without_cgroup(reason: str) -> None:
    warnings.warn(
        f"sandboxed runs are bounded by rlimits only, which miss shared and kernel memory: {reason}",
        RuntimeWarning,
        stacklevel=4,
    )


@functools.cache
def _warn_guard_as_root(python: str) -> None:
    warnings.warn(
        f"the guard runs programs as root here: {python} lives where an unprivileged user cannot "
        "read it, so the program cannot switch to one. Use the namespaces (the default), or a Python "
        "installed where other users can read it (e.g. /usr/local or /opt)",
        RuntimeWarning,
        stacklevel=4,
    )


def _open_to_others(python: str) -> bool:
    """Whether a user with no privileges could run ``python`` and read its standard library."""
    for path in (os.path.realpath(python), os.path.dirname(os.__file__)):
        for ancestor in (Path(path), *Path(path).parents):
            mode = ancestor.stat().st_mode
            if not mode & (0o001 if ancestor.is_dir() else 0o004):
                return False
    return True


def _user_tasks() -> int:
    """The caller's user's tasks (threads included), which RLIMIT_NPROC counts."""
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # the process may have ended meanwhile
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(entry / "task"))
    return count


class SandboxProcess:
    """The harness in ``mode`` ("run" or "serve") over ``program``, started at once.

    ``send`` writes to its stdin, ``read_line`` reads one line of its replies, ``wait`` waits for
    it to end; ``close`` (always call it) kills what is left and says which limit, if any, ended it.
    """

    def __init__(self, mode: str, program: str, limits: Limits, entry: str | None = None) -> None:
        self.limits = limits
        isolation = limits.chosen_isolation()
        self.user = identity.for_run()
        if isolation == "namespaces":
            reason = namespaces.unavailable_reason(self.user is not None)
            if reason is not None:
                raise namespaces.SandboxUnavailable(reason)
        self.limit: str | None = None
        self.started = time.perf_counter()
        self.deadline = time.monotonic() + limits.seconds
        self._tail = bytearray()
        self._written = 0
        self._host = Path(tempfile.mkdtemp(prefix="agentlab-sandbox-"))
        self.cgroup: RunCgroup | None = None
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self.bounds = self._bound(isolation)
            self._start(mode, program, isolation, entry)
        except BaseException:
            self.close()
            raise

    def _bound(self, isolation: str) -> str:
        limits = self.limits
        tasks = limits.tasks + (_BWRAP_TASKS if isolation == "namespaces" else 0)
        if limits.cgroup != "off":
            try:
                self.cgroup = RunCgroup.create(limits.memory_mb * 2**20, tasks)
                return self.cgroup.describe(limits.memory_mb, limits.tasks)
            except CgroupUnavailable as error:
                if limits.cgroup == "required":
                    raise namespaces.SandboxUnavailable(
                        f"Limits(cgroup='required'), but no cgroup can be made: {error}"
                    ) from None
                _warn_without_cgroup(str(error))
                reason = f" ({error})"
        else:
            reason = " (Limits(cgroup='off'))"
        whose = "its own user's" if self.user is not None else "counted with the caller's"
        return (
            f"rlimits only{reason}: address space {limits.memory_mb} MB per process, "
            f"{limits.tasks} tasks ({whose}), shared memory refused, tmpfs inodes and kernel memory unbounded"
        )

    def _start(self, mode: str, program: str, isolation: str, entry: str | None) -> None:
        code_dir, work_dir = self._host / "code", self._host / "work"
        code_dir.mkdir()
        work_dir.mkdir()
        (code_dir / "program.py").write_text(program, encoding="utf-8")
        shutil.copyfile(_HARNESS, code_dir / "harness.py")
        shutil.copyfile(_LITERALS, code_dir / "literals.py")
        for path in (code_dir, *code_dir.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        reply_read, reply_write = os.pipe()
        output_read, output_write = os.pipe()
        self._replies, self._output = reply_read, output_read
        keep = [reply_write]
        filter_fd = None
        entry_args = [] if entry is None else [entry]
        if isolation == "namespaces":
            filter_bytes = seccomp.program(allow_processes=self.limits.processes > 0)
            self.isolation = "namespaces"
            if filter_bytes is not None:  # a few hundred bytes: the pipe holds them until bubblewrap reads
                filter_fd, filter_write = os.pipe()
                os.write(filter_write, filter_bytes)
                os.close(filter_write)
                keep.append(filter_fd)
                self.isolation = "namespaces+seccomp"
            harness = [namespaces.interpreter(), "-I", "-B", f"{namespaces.CODE_DIR}/harness.py"]
            if self.user is not None:
                harness += ["--user", f"{self.user.uid}:{self.user.gid}"]
            harness += [mode, f"{namespaces.CODE_DIR}/program.py", str(reply_write), *entry_args]
            argv = namespaces.command(
                harness,
                code_dir,
                self.limits.disk_mb,
                filter_fd,
                as_root=self.user is not None,
                packages=self.limits.packages,
            )
            cwd, home = self._host, namespaces.WORKDIR
        else:
            self.isolation = "guard"
            if self.user is not None and not _open_to_others(sys.executable):
                _warn_guard_as_root(sys.executable)
                self.user = None
                self.isolation = "guard (as root)"
            argv = [sys.executable, "-I", "-B", str(code_dir / "harness.py"), mode]
            argv += [str(code_dir / "program.py"), str(reply_write), *entry_args]
            cwd, home = work_dir, str(work_dir)
            if self.user is not None:  # the guard's program runs on the host: let its user in
                self._host.chmod(0o711)
                os.chown(work_dir, self.user.uid, self.user.gid)
        try:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**_ENV, "HOME": home},
                stdin=subprocess.PIPE,
                stdout=output_write,
                stderr=output_write,
                start_new_session=True,
                pass_fds=keep,
                preexec_fn=self._confiner(isolation),
            )
        finally:
            os.close(reply_write)
            os.close(output_write)
            if filter_fd is not None:
                os.close(filter_fd)
        self._drain = threading.Thread(target=self._drain_output, daemon=True, name="agentlab-sandbox-output")
        self._drain.start()

    def _confiner(self, isolation: str) -> Callable[[], None]:
        limits, user, cgroup = self.limits, self.user, self.cgroup
        if user is not None:  # the program's user is fresh: its tasks are the run's alone
            nproc = limits.tasks
        else:
            # the caller's tasks, this run's output thread, bubblewrap's two, then the program's
            nproc = _user_tasks() + 1 + limits.tasks + (_BWRAP_TASKS if isolation == "namespaces" else 0)
        drop_here = user is not None and isolation == "guard"  # namespaces: the harness drops

        memory, size = limits.memory_mb * 2**20, limits.file_mb * 2**20
        cpu = (int(limits.seconds) + 1, int(limits.seconds) + 2)

        def confine() -> None:  # runs in the child, before bubblewrap or the interpreter starts
            if cgroup is not None:
                cgroup.attach(os.getpid())
            if drop_here:
                assert user is not None
                os.setgroups([])
                os.setresgid(user.gid, user.gid, user.gid)
                os.setresuid(user.uid, user.uid, user.uid)
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            resource.setrlimit(resource.RLIMIT_CPU, cpu)
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))  # binds: the program is never root
            resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            # last: this forked copy of the caller may already be past it (torch maps gigabytes),
            # and then no allocation would succeed
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        return confine

    def _drain_output(self) -> None:
        cap = self.limits.file_mb * 2**20
        while chunk := os.read(self._output, 65536):
            self._written += len(chunk)
            self._tail += chunk
            del self._tail[:-OUTPUT_TAIL]
            if self._written > cap and self.limit is None:
                self.limit = "output"
                self._kill()

    def send(self, data: bytes) -> bool:
        """Writes ``data`` to its stdin; False when it no longer reads (it ended or closed stdin)."""
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def end_input(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()

    def read_line(self) -> bytes | None:
        """One line of its replies, waiting until the deadline at most; None when it ended first,
        the time ran out, or the line grew past ``file_mb`` (``limit`` says which bound)."""
        cap, line = self.limits.file_mb * 2**20, bytearray()
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.limit = self.limit or "time"
                return None
            ready, _, _ = select.select([self._replies], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._replies, 1 if line else 65536)  # past the first, no read-ahead
            if not chunk:
                return None
            line += chunk
            if b"\n" in chunk:
                return bytes(line)
            if len(line) > cap:
                self.limit = self.limit or "output"
                return None

    def wait(self) -> int | None:
        """Its exit status, or None when the deadline came first."""
        assert self.process is not None
        # a pidfd wakes the moment it ends; Popen.wait(timeout) polls with sleeps of up to 50 ms
        pidfd = os.pidfd_open(self.process.pid)
        try:
            ended, _, _ = select.select([pidfd], [], [], max(0.0, self.deadline - time.monotonic()))
        finally:
            os.close(pidfd)
        if not ended:
            self.limit = self.limit or "time"
            return None
        return self.process.wait()

    def replies_so_far(self, most: int) -> bytes:
        """Up to ``most`` bytes already written to the reply pipe, without waiting."""
        os.set_blocking(self._replies, False)
        with contextlib.suppress(BlockingIOError):
            return os.read(self._replies, most)
        return b""

    def _kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # bubblewrap (or the program) and its group

    def close(self) -> tuple[str, str | None]:
        """Kills what is left and removes its files and cgroup; its output's end and the limit that
        ended it, if one did."""
        self._kill()
        if self.process is not None:
            self.process.wait()
            if self.process.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    self.process.stdin.close()
        if self.cgroup is not None:
            self.limit = self.limit or self.cgroup.limit_reached()
            self.cgroup.remove()
        if self.process is not None:
            self._drain.join(timeout=5)
        for fd in ("_replies", "_output"):
            with contextlib.suppress(AttributeError, OSError):
                os.close(getattr(self, fd))
        shutil.rmtree(self._host, ignore_errors=True)
        return bytes(self._tail).decode(errors="replace"), self.limit

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
