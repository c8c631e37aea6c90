"""One cgroup per sandboxed run, so the kernel bounds all its processes together.

Rlimits are per process and miss much: memfd and System V shared memory, tmpfs inodes, kernel
stacks of threads, and (for root) process counts. A memory cgroup counts all of it (page cache,
shared memory and kernel memory included) and a pids cgroup counts every thread. Two layouts:

- cgroup v2: a directory in the unified hierarchy where memory and pids can be enabled for
  children: ``$AGENTLAB_CGROUP`` (a cgroup delegated to this user, e.g. by
  ``systemd-run --user -p Delegate=yes``), or, for root, ``agentlab`` at the top of the hierarchy.
  Each run gets ``memory.max``, ``memory.swap.max = 0`` and ``pids.max``.
- cgroup v1 (a hybrid host, many CI machines): a child of the caller's own memory and pids
  cgroups, with ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``) and ``pids.max``.

Where neither can be written, ``RunCgroup.create`` raises ``CgroupUnavailable`` naming the cause
and the fix, and the run falls back on rlimits (``Limits(cgroup="auto")``) and says so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_VARIABLE = "AGENTLAB_CGROUP"
_PREFIX = "agentlab-"


class CgroupUnavailable(RuntimeError):
    """No cgroup can be made for a run here; the message says why and how to allow it."""


@dataclass(frozen=True)
class _Mount:
    point: Path
    root: str  # the part of the hierarchy mounted there
    version: int
    controllers: frozenset[str]


def _mounts() -> list[_Mount]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        parts, kinds = fields.split(), tail.split()
        if len(parts) < 5 or len(kinds) < 3 or kinds[0] not in ("cgroup", "cgroup2"):
            continue
        options = frozenset(kinds[2].split(","))
        point = Path(parts[4].replace("\\040", " "))
        found.append(_Mount(point, parts[3], 2 if kinds[0] == "cgroup2" else 1, options))
    return found


def _own_paths() -> dict[str, str]:
    """The caller's cgroup per controller ("" for the v2 hierarchy)."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _directory(mount: _Mount, path: str) -> Path:
    relative = os.path.relpath(path, mount.root) if path.startswith(mount.root) else path.lstrip("/")
    return mount.point if relative in (".", "") else mount.point / relative


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _sweep(parent: Path) -> None:
    """Removes runs' cgroups left by processes that died (kill -9) before removing their own."""
    with contextlib.suppress(OSError):
        for child in parent.iterdir():
            if not child.name.startswith(_PREFIX):
                continue
            pid = child.name[len(_PREFIX) :].split("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(OSError):
                    child.rmdir()


@functools.cache
def _v2_base() -> Path:
    """A v2 directory whose children may have memory and pids, made ready once per process."""
    delegated = os.environ.get(CGROUP_VARIABLE)
    mount = next((m for m in _mounts() if m.version == 2), None)
    if delegated:
        base = Path(delegated)
        if not (base / "cgroup.controllers").is_file():
            raise CgroupUnavailable(f"{CGROUP_VARIABLE}={delegated} is not a cgroup v2 directory")
    elif mount is None:
        raise CgroupUnavailable("no cgroup v2 hierarchy is mounted")
    elif os.geteuid() != 0:
        raise CgroupUnavailable(
            f"not root, and {CGROUP_VARIABLE} does not name a cgroup delegated to this user "
            f"(e.g. systemd-run --user -p Delegate=yes --shell, then export {CGROUP_VARIABLE}="
            "/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/agentlab after moving the shell out of it)"
        )
    else:
        top = _directory(mount, "/")
        available = set((top / "cgroup.controllers").read_text().split())
        if not {"memory", "pids"} <= available:
            raise CgroupUnavailable(
                f"the cgroup v2 hierarchy at {top} offers {sorted(available) or 'no controllers'}, "
                "not memory and pids (they are bound to cgroup v1 on this host)"
            )
        base = top / "agentlab"
        try:
            base.mkdir(exist_ok=True)
            enabled = set((top / "cgroup.subtree_control").read_text().split())
            if not {"memory", "pids"} <= enabled:
                _write(top / "cgroup.subtree_control", "+memory +pids")
        except OSError as error:
            raise CgroupUnavailable(
                f"cannot prepare {base} ({error}); the hierarchy may be read-only (a container: "
                "mount /sys/fs/cgroup read-write, or set AGENTLAB_CGROUP to a delegated cgroup)"
            ) from None
    enabled = set((base / "cgroup.subtree_control").read_text().split())
    if not {"memory", "pids"} <= enabled:
        try:
            _write(base / "cgroup.subtree_control", "+memory +pids")
        except OSError as error:
            raise CgroupUnavailable(
                f"cannot enable memory and pids for the children of {base} ({error}): a cgroup "
                "holding processes cannot (move them to a leaf), or these controllers are not "
                "delegated to it"
            ) from None
    return base


def _v1_parents() -> dict[str, Path]:
    own = _own_paths()
    parents = {}
    for controller in ("memory", "pids"):
        mount = next((m for m in _mounts() if m.version == 1 and controller in m.controllers), None)
        if mount is None or controller not in own:
            raise CgroupUnavailable(f"no cgroup v1 {controller} hierarchy is mounted")
        parents[controller] = _directory(mount, own[controller])
    return parents


@dataclass
class RunCgroup:
    """A run's cgroup (v2) or cgroups (v1: memory and pids); ``attach`` puts a process in them."""

    version: int
    directories: tuple[Path, ...]

    @classmethod
    def create(cls, memory_bytes: int, tasks: int) -> RunCgroup:
        name = f"{_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        reasons = []
        try:
            base = _v2_base()
        except (CgroupUnavailable, OSError) as error:
            reasons.append(f"v2: {error}")
        else:
            return cls._made(2, [base / name], memory_bytes, tasks)
        try:
            parents = _v1_parents()
        except (CgroupUnavailable, OSError) as error:
            reasons.append(f"v1: {error}")
            raise CgroupUnavailable("; ".join(reasons)) from None
        try:
            return cls._made(1, [parents["memory"] / name, parents["pids"] / name], memory_bytes, tasks)
        except CgroupUnavailable as error:
            raise CgroupUnavailable("; ".join([*reasons, f"v1: {error}"])) from None

    @classmethod
    def _made(cls, version: int, directories: list[Path], memory_bytes: int, tasks: int) -> RunCgroup:
        settings = (
            [
                ("memory.max", memory_bytes),
                ("memory.swap.max", 0),
                ("memory.oom.group", 1),
                ("pids.max", tasks),
            ]
            if version == 2
            else [("memory.limit_in_bytes", memory_bytes), ("memory.memsw.limit_in_bytes", memory_bytes)]
        )
        made = cls(version, ())
        try:
            for directory in directories:
                _sweep(directory.parent)
                directory.mkdir()
                made.directories += (directory,)
            if version == 1:
                settings_of = {directories[0]: settings, directories[1]: [("pids.max", tasks)]}
            else:
                settings_of = {directories[0]: settings}
            for directory, pairs in settings_of.items():
                for file, value in pairs:
                    if (directory / file).exists():  # swap and memsw files exist only with swap accounting
                        _write(directory / file, str(value))
        except OSError as error:
            made.remove()
            raise CgroupUnavailable(
                f"cannot write {error.filename or directories[0]} ({error.strerror}); run as root or "
                f"give {CGROUP_VARIABLE} a delegated cgroup"
            ) from None
        return made

    def attach(self, pid: int) -> None:
        """Moves ``pid`` into the run's cgroups (from a child before it execs: only writes)."""
        for directory in self.directories:
            fd = os.open(directory / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, str(pid).encode())
            finally:
                os.close(fd)

    def limit_reached(self) -> str | None:
        """ "memory" when the kernel killed in the cgroup for memory, "tasks" when it refused a
        process or thread at pids.max; else None."""
        counters = [("memory.events", "oom_kill", "memory"), ("memory.oom_control", "oom_kill", "memory")]
        counters.append(("pids.events", "max", "tasks"))
        for directory in self.directories:
            for file, key, name in counters:
                with contextlib.suppress(OSError):
                    for line in (directory / file).read_text().splitlines():
                        field, _, count = line.partition(" ")
                        if field == key and count.strip() not in ("", "0"):
                            return name
        return None

    def remove(self) -> None:
        """Kills whatever is left in the cgroups and removes them."""
        for directory in self.directories:
            deadline = time.monotonic() + 5
            while True:
                with contextlib.suppress(OSError):
                    if (directory / "cgroup.kill").exists():
                        _write(directory / "cgroup.kill", "1")
                    for pid in (directory / "cgroup.procs").read_text().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break  # left for _sweep once this process is gone
                    time.sleep(0.01)
        self.directories = ()

    def describe(self, memory_mb: int, tasks: int) -> str:
        return (
            f"cgroup v{self.version}: memory {memory_mb} MB (shared and kernel memory counted), {tasks} tasks"
        )
