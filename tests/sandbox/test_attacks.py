"""Programs that try to get out, one test per attack, each checked from outside the sandbox.

Every attack aims at an effect the test can see if it worked: a file created in (or deleted from)
the test's own directory and in the Python installation the sandbox sees read-only, a connection
to a listener the test holds, a signal to the test process, a secret in another process's
environment, a process still alive afterwards. They run under the default isolation (namespaces);
under the guard alone several of them would succeed, which is why the guard is never the default.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agentlab.sandbox import Limits, run_untrusted

LIBC = "import ctypes, ctypes.util\nlibc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"


@pytest.fixture
def targets(tmp_path):
    """Two paths an escape would create: one in the test's directory (outside the sandbox's view)
    and one beside the Python installation (inside its view, read-only)."""
    token = uuid.uuid4().hex[:12]
    paths = [tmp_path / f"escaped-{token}", Path(sys.base_prefix) / f"agentlab-escaped-{token}"]
    yield paths
    leaked = [p for p in paths if p.exists()]
    for path in leaked:
        path.unlink()
    assert not leaked, f"the sandbox let a program create {leaked}"


def attack(source: str, targets: list[Path] | None = None, **limits) -> str:
    """Run ``source`` with ``T1``/``T2`` standing for the target paths; the program's output."""
    if targets:
        source = source.replace("T1", repr(str(targets[0]))).replace("T2", repr(str(targets[1])))
    outcome = run_untrusted(source, Limits(seconds=limits.pop("seconds", 10), **limits))
    assert outcome.isolation.startswith("namespaces")
    return outcome.output


CREATE_BOTH = "for path in (T1, T2):\n    {create}\n"


@pytest.mark.parametrize(
    "create",
    [
        pytest.param(
            LIBC
            + CREATE_BOTH.format(
                create="assert libc.open(path.encode(), 0o101, 0o644) >= 0, ctypes.get_errno()"
            ),
            id="ctypes-open",
        ),
        pytest.param(LIBC + "libc.system(b'touch ' + T1.encode() + b' ' + T2.encode())", id="ctypes-system"),
        pytest.param(
            LIBC + "import posix\nif libc.fork() == 0:\n"
            "    for path in (T1, T2):\n        posix.open(path, posix.O_CREAT | posix.O_WRONLY)\n"
            "    libc._exit(0)\nassert False, 'fork returned'\n",
            id="ctypes-fork",
        ),
        pytest.param("import posix\nposix.system('touch ' + T1 + ' ' + T2)\n", id="posix-system"),
        pytest.param(
            "import posix\nposix.posix_spawn('/usr/bin/touch', ['touch', T1, T2], {})\n", id="posix-spawn"
        ),
        pytest.param(
            "import importlib, os\nimportlib.reload(os)\nos.system('touch ' + T1 + ' ' + T2)\n",
            id="reload-os",
        ),
        pytest.param(
            "import sys\ndel sys.modules['os']\nimport os\nos.system('touch ' + T1 + ' ' + T2)\n",
            id="reimport-os",
        ),
        pytest.param(
            "import builtins\n"
            "cells = [c.cell_contents for c in builtins.open.__closure__]\n"
            "real_open = next(c for c in cells if getattr(c, '__name__', '') == 'open')\n"
            + CREATE_BOTH.format(create="real_open(path, 'w').write('x')"),
            id="guard-open-from-its-closure",
        ),
        pytest.param(
            "import gc, os\n"
            "cells = [c.cell_contents for f in gc.get_objects() if getattr(f, '__closure__', None)\n"
            "         for c in f.__closure__]\n"
            "saved = [c for c in cells if getattr(c, '__name__', '') == 'mkdir'\n"
            "         and type(c).__name__ == 'builtin_function_or_method']\n"
            "assert saved, 'nothing found'\n" + CREATE_BOTH.format(create="saved[0](path)"),
            id="guard-mkdir-through-gc",
        ),
        pytest.param(
            "import os\n" + CREATE_BOTH.format(create="os.open(path, os.O_CREAT | os.O_WRONLY)"), id="os-open"
        ),
        pytest.param(
            "import io\n" + CREATE_BOTH.format(create="io.FileIO(path, 'w').write(b'x')"), id="io-fileio"
        ),
        pytest.param(
            "import _io\n" + CREATE_BOTH.format(create="_io.open(path, 'w').write('x')"), id="_io-open"
        ),
        pytest.param(
            "import pathlib\n" + CREATE_BOTH.format(create="pathlib.Path(path).write_text('x')"), id="pathlib"
        ),
        pytest.param(
            "import shutil\nopen('mine', 'w').write('x')\n"
            + CREATE_BOTH.format(create="shutil.copyfile('mine', path)"),
            id="shutil-copy",
        ),
        pytest.param(
            "import posix\nopen('mine', 'w').write('x')\n"
            + CREATE_BOTH.format(create="posix.link('mine', path)"),
            id="hard-link",
        ),
        pytest.param(
            "import posix\n"
            + CREATE_BOTH.format(create="open('mine', 'w').write('x'); posix.rename('mine', path)"),
            id="rename-out",
        ),
        pytest.param(
            "import io, os\nos.chdir('/')\n" + CREATE_BOTH.format(create="io.FileIO(path.lstrip('/'), 'w')"),
            id="relative-after-chdir",
        ),
        pytest.param(
            "import io, posix\n"
            + CREATE_BOTH.format(create="posix.symlink(path, 'link'); io.FileIO('link', 'w')"),
            id="symlink-out",
        ),
    ],
)
def test_no_way_of_writing_reaches_outside(create, targets):
    attack(create, targets)


@pytest.fixture
def kept(tmp_path):
    """Files the program tries to delete: in the test's directory and beside the installation."""
    token = uuid.uuid4().hex[:12]
    paths = [tmp_path / f"keep-{token}", Path(sys.base_prefix) / f"agentlab-keep-{token}"]
    for path in paths:
        path.write_text("mine")
    yield paths
    for path in paths:
        assert path.read_text() == "mine", f"the sandbox let a program delete {path}"
        path.unlink()


@pytest.mark.parametrize(
    "delete",
    [
        pytest.param(
            LIBC + "for path in (T1, T2):\n    assert libc.unlink(path.encode()) == 0\n", id="ctypes-unlink"
        ),
        pytest.param("import posix\nfor path in (T1, T2):\n    posix.unlink(path)\n", id="posix-unlink"),
        pytest.param(
            "import posix\nfor path in (T1, T2):\n    posix.truncate(path, 0)\n", id="posix-truncate"
        ),
    ],
)
def test_files_outside_cannot_be_deleted_or_emptied(delete, kept):
    attack(delete, kept)


@pytest.fixture
def neighbour():
    """A process of the test's, with a secret in its environment, that the program should not see."""
    secret = f"hunter-{uuid.uuid4().hex}"
    env = {**os.environ, "AGENTLAB_ATTACK_SECRET": secret}
    process = subprocess.Popen(["sleep", "60"], env=env)
    yield process, secret
    assert process.poll() is None, "the sandbox let a program kill a process outside"
    process.kill()
    process.wait()


def test_no_other_process_environment_is_readable(neighbour, monkeypatch):
    process, secret = neighbour
    monkeypatch.setenv("AGENTLAB_ATTACK_SECRET", secret)
    program = (
        "import os, glob\n"
        "print('own', dict(os.environ))\n"
        f"named = ['/proc/{process.pid}/environ', '/proc/{os.getpid()}/environ']\n"
        "for path in glob.glob('/proc/*/environ') + named:\n"
        "    try:\n        print(path, open(path, 'rb').read())\n"
        "    except OSError as error:\n        print(path, error)\n"
    )
    outcome = run_untrusted(program)
    assert outcome.passed and secret not in outcome.output


def test_no_connection_reaches_a_listener_on_loopback():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(2)
    port = listener.getsockname()[1]
    unix = socket.socket(socket.AF_UNIX)
    name = f"\0agentlab-attack-{uuid.uuid4().hex}"
    unix.bind(name)
    unix.listen()
    unix.settimeout(0.5)
    program = (
        "import socket\n"
        f"for family, address in ((socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_UNIX, {name!r})):\n"
        "    try:\n        s = socket.socket(family); s.settimeout(2)\n"
        "        s.connect(address); s.sendall(b'out')\n"
        "        print('connected', address)\n"
        "    except OSError as error:\n        print('refused', error)\n"
    )
    try:
        output = attack(program)
        assert "connected" not in output
        for server in (listener, unix):
            with pytest.raises(TimeoutError):
                server.accept()
    finally:
        listener.close()
        unix.close()


def test_the_parent_and_its_neighbours_cannot_be_signalled(neighbour):
    process, _ = neighbour
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: received.append(1))
    me = os.getpid()
    program = (
        LIBC + "import posix, signal\n"
        f"for pid in ({me}, {process.pid}):\n"
        "    for send in (posix.kill, libc.kill):\n"
        "        try:\n            print(send(pid, signal.SIGUSR1), send(pid, signal.SIGKILL))\n"
        "        except OSError as error:\n            print(error)\n"
        "posix.kill(-1, signal.SIGKILL)\n"  # everything it may signal: inside, only itself
    )
    try:
        attack(program)
        time.sleep(0.2)
        assert not received and process.poll() is None
    finally:
        signal.signal(signal.SIGUSR1, previous)


def _alive_with(token: str) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                alive.append(int(entry.name))
        except OSError:
            continue
    return alive


@pytest.mark.parametrize("processes", [0, 8], ids=["fork-refused", "fork-allowed"])
def test_a_daemon_does_not_outlive_the_run(processes):
    token = uuid.uuid4().hex
    program = (
        "import posix, sys\n"
        "if posix.fork() == 0:\n"
        "    posix.setsid()\n"
        "    if posix.fork() == 0:\n"
        f"        argv = [sys.executable, '-c', 'import time; time.sleep(60)', {token!r}]\n"
        "        posix.execv(sys.executable, argv)\n"
        "    posix._exit(0)\n"
        "print('contained? the daemon started')\n"
    )
    attack(program, processes=processes)
    deadline = time.monotonic() + 3
    while _alive_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive_with(token)


@pytest.mark.parametrize("processes", [0, 8], ids=["fork-refused", "fork-allowed"])
def test_a_fork_bomb_is_bounded_and_leaves_nothing(processes):
    token = uuid.uuid4().hex
    program = (
        f"import posix, time\nTOKEN = {token!r}\n"
        "for _ in range(200):\n"  # bounded, so a failure here cannot take the machine down
        "    if posix.fork() == 0:\n"
        "        posix.execv('/usr/bin/sleep', ['sleep', '60', TOKEN])\n"
        "print('contained? forked 200')\n"
    )
    attack(program, processes=processes, seconds=5)
    time.sleep(0.2)
    assert not _alive_with(token)


def test_a_thread_bomb_ends_at_the_memory_limit():
    program = (
        "import threading, time\nthreads = []\n"
        "for _ in range(10_000):\n"
        "    t = threading.Thread(target=time.sleep, args=(1,), daemon=True); t.start(); threads.append(t)\n"
    )
    output = attack(program, memory_mb=512)
    assert "can't start new thread" in output


def test_memory_cannot_be_taken_past_the_cap_by_mmap_either():
    output = attack("import mmap\nm = mmap.mmap(-1, 4 * 2**30)\nm[-1] = 1\n", memory_mb=512)
    assert "Cannot allocate memory" in output or "MemoryError" in output


def test_the_disk_cap_binds_on_all_files_together_and_dev_is_read_only():
    before = os.statvfs("/tmp").f_bfree
    program = (
        "import io\n"
        "for i in range(20):\n"  # each file under the per-file limit, together past the disk cap
        "    io.FileIO(f'f{i}', 'w').write(b'x' * 15 * 2**20); print('wrote', i, flush=True)\n"
    )
    output = attack(program, file_mb=16, disk_mb=64)
    assert "No space left on device" in output and "wrote 5" not in output  # the fifth is cut short
    assert "Read-only file system" in attack(
        "import posix\nposix.open('/dev/shm/x', posix.O_CREAT | posix.O_WRONLY)\n"
    )
    assert os.statvfs("/tmp").f_bfree >= before - 2**14  # nothing landed on the host's /tmp


def test_nothing_can_be_traced_or_mounted():
    program = (
        LIBC + "import ctypes\n"
        "print('ptrace', libc.ptrace(16, 1, 0, 0), ctypes.get_errno())\n"  # PTRACE_ATTACH to pid 1
        "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())\n"  # CLONE_NEWUSER
        "print('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())\n"
    )
    output = attack(program)
    assert all(f"{call} -1 1" in output for call in ("ptrace", "unshare", "mount")), output
