"""Resources rlimits do not count (shared memory, memfd, tmpfs inodes, kernel stacks of threads,
reserved blocks, file descriptors), each taken by a hostile program and watched from outside.

Where a cgroup can be made (root, as CI runs; or a delegated one) the kernel bounds all of it;
elsewhere the run says so in ``Outcome.bounds``, which these tests check instead of the bound.
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from agentlab.sandbox import Limits, SandboxUnavailable, cgroups, process, run_untrusted

LIBC = "import ctypes, ctypes.util\nlibc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"
CGROUP = run_untrusted("pass").bounds.startswith("cgroup")


def _meminfo(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _watching(program: str, limits: Limits, look) -> tuple[object, list]:
    done: list = []
    runner = threading.Thread(target=lambda: done.append(run_untrusted(program, limits)))
    runner.start()
    seen = [look()]
    while runner.is_alive():
        seen.append(look())
        time.sleep(0.02)
    runner.join()
    return done[0], seen


@pytest.mark.parametrize(
    "program",
    [
        pytest.param(
            "import os\nfd = os.memfd_create('x')\n"
            "for i in range(1500):\n    os.write(fd, b'x' * 2**20)\nprint('wrote 1500 MB')\n",
            id="memfd",
        ),
        pytest.param(
            LIBC + "libc.shmat.restype = ctypes.c_void_p\n"
            "for _ in range(6):\n"
            "    key = libc.shmget(0, 2**28, 0o1600)\n    assert key >= 0, ctypes.get_errno()\n"
            "    ctypes.memset(libc.shmat(key, None, 0), 1, 2**28)\n"
            "print('filled 1536 MB')\n",
            id="system-v-shared-memory",
        ),
    ],
)
def test_shared_memory_cannot_be_taken_past_the_cap(program):
    outcome, seen = _watching(program, Limits(memory_mb=256, seconds=30), lambda: _meminfo("Shmem"))
    assert outcome.status == "failed" and "MB" not in outcome.output.splitlines()[-1]
    assert max(seen) - seen[0] < 300 * 2**20, f"shared memory grew by {(max(seen) - seen[0]) >> 20} MB"


def test_tmpfs_inodes_are_kernel_memory_the_cgroup_counts():
    program = (
        "import os\n"
        "for i in range(3_000_000):\n"
        "    os.close(os.open(f'f{i}', os.O_CREAT | os.O_WRONLY, 0o600))\nprint('made 3,000,000 files')\n"
    )
    limits = Limits(memory_mb=128, disk_mb=64, seconds=60)
    if not CGROUP:  # no kernel bound on inodes without a memory cgroup: the run must say so
        assert "tmpfs inodes and kernel memory unbounded" in run_untrusted("pass", limits).bounds
        return
    outcome, seen = _watching(program, limits, lambda: _meminfo("SUnreclaim"))
    assert outcome.status == "failed" and outcome.limit == "memory", outcome
    assert max(seen) - seen[0] < 400 * 2**20, f"kernel memory grew by {(max(seen) - seen[0]) >> 20} MB"


def _tasks_named(name: str) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                count += len(list((entry / "task").iterdir()))
        except OSError:
            continue
    return count


def test_threads_are_bounded_by_the_kernel():
    name = f"al-{uuid.uuid4().hex[:10]}"
    program = (
        LIBC + f"libc.prctl(15, {name.encode()!r}, 0, 0, 0)\n"
        "import threading, time\nstarted = 0\n"
        "try:\n    for _ in range(4000):\n"
        "        threading.Thread(target=time.sleep, args=(2,), daemon=True).start(); started += 1\n"
        "except RuntimeError as error:\n    print(error)\n"
        "print('started', started, flush=True)\ntime.sleep(1)\n"
    )
    limits = Limits(threads=4, memory_mb=1024)
    outcome, seen = _watching(program, limits, lambda: _tasks_named(name))
    assert "started 4\n" in outcome.output, outcome.output
    assert max(seen) <= 1 + limits.threads, f"{max(seen)} tasks at once under {limits}"


def test_open_files_are_few():
    program = (
        "import os\nfds = []\n"
        "try:\n    for _ in range(1000):\n        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
        "except OSError as error:\n    print(error)\nprint('opened', len(fds))\n"
    )
    outcome = run_untrusted(program, Limits(open_files=32))
    opened = int(outcome.output.split("opened")[-1])
    assert "Too many open files" in outcome.output and opened < 32


def test_no_block_of_the_host_disk_can_be_reserved():
    before = os.statvfs("/tmp").f_bfree
    program = (
        LIBC + "import os\n"
        "fd = os.open('reserved', os.O_CREAT | os.O_WRONLY)\n"
        "for target in (fd, 1, 2, *range(3, 12)):\n"  # its file, its output, and whatever else is open
        "    print(target, libc.fallocate(target, 1, 0, ctypes.c_long(2**30)), ctypes.get_errno())\n"
    )
    outcome = run_untrusted(program, Limits(file_mb=16, disk_mb=64))
    assert outcome.passed, outcome.output
    assert all(line.split()[1] == "-1" for line in outcome.output.splitlines()), outcome.output
    assert os.statvfs("/tmp").f_bfree >= before - 2**15  # 128 MB at 4 kB blocks at most moved


def test_what_comes_back_is_read_with_a_cap():
    program = (
        "import os\nchunk = b'0' * 2**20\nfor fd in range(1, 12):\n"  # its output, the verdict, ...
        "    try:\n        for _ in range(100):\n            os.write(fd, chunk)\n"
        "    except OSError:\n        pass\n"
    )
    tracemalloc.start()
    try:
        outcome = run_untrusted(program, Limits(seconds=5, file_mb=4))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not outcome.passed and len(outcome.output) <= 4000
    assert peak < 16 * 2**20, f"the parent held {peak >> 20} MB of what the program wrote"


@pytest.fixture
def no_cgroup_here(monkeypatch):
    """A host where no cgroup hierarchy is mounted (a container without /sys/fs/cgroup)."""
    monkeypatch.setattr(cgroups, "_mounts", lambda: [])
    monkeypatch.delenv(cgroups.CGROUP_VARIABLE, raising=False)
    cgroups._v2_base.cache_clear()
    process._warn_without_cgroup.cache_clear()  # warned once per process: again for this test
    yield
    cgroups._v2_base.cache_clear()


def test_a_host_that_cannot_bound_memory_says_so(no_cgroup_here):
    with pytest.raises(SandboxUnavailable, match=r"no cgroup can be made.*no cgroup v2 hierarchy is mounted"):
        run_untrusted("pass", Limits(cgroup="required"))
    with pytest.warns(RuntimeWarning, match="rlimits only"):
        outcome = run_untrusted("pass", Limits(memory_mb=300))
    assert outcome.passed and outcome.bounds.startswith("rlimits only (v2: no cgroup v2 hierarchy is mounted")
    assert "address space 300 MB per process" in outcome.bounds
    off = run_untrusted("pass", Limits(cgroup="off"))
    assert off.bounds.startswith("rlimits only (Limits(cgroup='off'))")
