"""Never host root: programs that try what host root (even without capabilities) could do, each
effect checked from outside the sandbox; and the sandbox from a Python that lives under /tmp.

CI runs these as root, where they matter most; by hand as a normal user they check the same
effects (a normal user's program could not have done them anyway).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from pathlib import Path

import pytest

from agentlab.sandbox import Limits, SandboxUnavailable, identity, namespaces, run_untrusted

LIBC = "import ctypes, ctypes.util\nlibc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"
ROOT = os.geteuid() == 0


@pytest.fixture
def host_sysctls():
    """Two host settings a root-mapped program could rewrite; put back whatever happens."""
    paths = [Path("/proc/sys/vm/swappiness"), Path("/proc/sys/kernel/core_pattern")]
    before = {path: path.read_text() for path in paths}
    yield before
    after = {path: path.read_text() for path in paths}
    for path, value in before.items():
        if after[path] != value and ROOT:
            path.write_text(value)
    assert after == before, "a sandboxed program changed a host setting"


def test_host_sysctls_cannot_be_written(host_sysctls):
    program = (
        LIBC + "import posix\n"
        "for path, value in (('/proc/sys/vm/swappiness', b'61'), "
        "('/proc/sys/kernel/core_pattern', b'agentlab-was-here-%p')):\n"
        "    try:\n        fd = posix.open(path, posix.O_WRONLY); print(path, posix.write(fd, value))\n"
        "    except OSError as error:\n        print(path, error)\n"
        "    print(path, 'ctypes', libc.open(path.encode(), 1), ctypes.get_errno())\n"
    )
    outcome = run_untrusted(
        program + "print([line for line in open('/proc/self/mountinfo') if ' /proc/sys ' in line])"
    )
    assert outcome.passed and outcome.output.count("[Errno") == 2, outcome.output
    assert " /proc/sys ro," in outcome.output  # and read-only, whoever the program is


def _alive_with(token: str) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                alive.append(int(entry.name))
        except OSError:
            continue
    return alive


def _while_running(program: str, limits: Limits, look) -> tuple[object, list]:
    """Runs ``program`` in a thread and calls ``look()`` every 50 ms until it ends."""
    done: list = []
    runner = threading.Thread(target=lambda: done.append(run_untrusted(program, limits)))
    runner.start()
    seen = []
    while runner.is_alive():
        seen.append(look())
        time.sleep(0.05)
    runner.join()
    return done[0], seen


def _named(name: str) -> list[dict[str, str]]:
    statuses = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                lines = (entry / "status").read_text().splitlines()
                status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
                if status.get("Name") == name:
                    statuses.append(status)
        except (OSError, ValueError):
            continue
    return statuses


def test_the_program_is_an_unprivileged_host_user():
    name = f"al-{uuid.uuid4().hex[:10]}"  # the program renames itself (PR_SET_NAME) once it runs
    program = LIBC + f"libc.prctl(15, {name.encode()!r}, 0, 0, 0)\nimport time\ntime.sleep(1.5)\n"
    outcome, seen = _while_running(program, Limits(seconds=10), lambda: _named(name))
    assert outcome.passed, outcome.output
    ids = {
        int(i) for sample in seen for status in sample for key in ("Uid", "Gid") for i in status[key].split()
    }
    assert ids, "the program was never seen running"
    if ROOT:
        assert min(ids) >= identity.FIRST_UID, f"the program ran as host ids {ids}"
    else:
        assert {int(i) for sample in seen for status in sample for i in status["Uid"].split()} == {
            os.getuid()
        }


def test_a_root_only_file_in_the_python_installation_cannot_be_read():
    secret = f"secret-{uuid.uuid4().hex}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    beside, inside = Path(sys.base_prefix) / f"agentlab-{secret[-8:]}", stdlib / f"agentlab-{secret[-8:]}"
    for place in (beside, inside):
        place.write_text(secret)
        place.chmod(0o600)
    try:
        program = (
            "import os\n"
            f"for path in {[str(beside), str(inside)]!r}:\n"
            "    try:\n        print(open(path).read())\n"
            "    except OSError as error:\n        print(path, type(error).__name__)\n"
        )
        outcome = run_untrusted(program)
    finally:
        beside.unlink()
        inside.unlink()
    assert outcome.passed, outcome.output
    if not sys.base_prefix.startswith("/usr"):  # the prefix is not bound, only its interpreter's files
        assert f"{beside} FileNotFoundError" in outcome.output
    if ROOT:  # the caller's own files stay readable to a normal user's program; root's never are
        assert f"{inside} PermissionError" in outcome.output and secret not in outcome.output


def test_site_packages_are_hidden_unless_named():
    outcome = run_untrusted("import yaml\n")
    assert outcome.status == "failed" and "No module named 'yaml'" in outcome.output
    named = run_untrusted("import yaml\nprint(yaml.safe_dump({'a': 1}))\n", Limits(packages=("yaml",)))
    assert named.passed and "a: 1" in named.output


def test_processes_are_counted_even_for_root():
    token = uuid.uuid4().hex
    program = (
        f"import posix, sys, time\nTOKEN = {token!r}\nstarted = 0\n"
        "for _ in range(30):\n"
        "    try:\n        pid = posix.fork()\n"
        "    except OSError:\n        break\n"
        "    if pid == 0:\n"
        "        argv = [sys.executable, '-c', 'import time; time.sleep(2)', TOKEN]\n"
        "        posix.execv(sys.executable, argv)\n"
        "    started += 1\n"
        "print('started', started, flush=True)\ntime.sleep(1)\n"
    )
    limits = Limits(processes=2, threads=0, seconds=10)  # tasks are counted together: 1 + 2 + 0
    outcome, seen = _while_running(program, limits, lambda: len(_alive_with(token)))
    assert max(seen) <= 2, f"{max(seen)} processes at once under {limits}"
    assert "started 2" in outcome.output


def test_no_new_namespace_even_where_processes_are_allowed():
    program = (
        LIBC + "import os\n"
        "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())\n"  # CLONE_NEWUSER
        "print('clone', libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0), ctypes.get_errno())\n"
        "print('clone-net', libc.syscall(56, 0x40000000 | 17, 0, 0, 0, 0), ctypes.get_errno())\n"
    )
    output = run_untrusted(program, Limits(processes=4)).output
    for call in ("unshare", "clone", "clone-net"):
        assert f"{call} -1 1\n" in output, output


@pytest.fixture
def python_under_tmp():
    """A copy of this Python's interpreter and standard library under /tmp (the sandbox's own
    /tmp is a tmpfs: it used to hide such an interpreter), with this environment's packages."""
    home = Path("/tmp") / f"agentlab-python-{uuid.uuid4().hex[:8]}"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (home / "bin").mkdir(parents=True)
    shutil.copy2(namespaces.interpreter(), home / "bin" / version)
    ignore = shutil.ignore_patterns("site-packages", "test", "__pycache__")
    shutil.copytree(sysconfig.get_paths()["stdlib"], home / "lib" / version, ignore=ignore)
    yield home / "bin" / version
    shutil.rmtree(home)


def test_a_python_living_under_tmp_runs_sandboxed_programs(python_under_tmp):
    site_packages = [p for p in sys.path if p.endswith("site-packages")]
    repo = str(Path(__file__).resolve().parents[2])
    script = (
        "import sys\nfrom agentlab.sandbox import run_untrusted\n"
        "print(sys.prefix)\no = run_untrusted('print(6 * 7)')\nprint(o.status, o.output.strip())\n"
    )
    done = subprocess.run(
        [str(python_under_tmp), "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([repo, *site_packages])},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    prefix, result = done.stdout.strip().splitlines()[-2:]
    assert prefix.startswith("/tmp/") and result == "passed 42"


@pytest.fixture
def forget_the_probe():
    namespaces.unavailable_reason.cache_clear()
    yield
    namespaces.unavailable_reason.cache_clear()


def test_an_interpreter_bubblewrap_cannot_start_is_named_as_the_cause(
    tmp_path, monkeypatch, forget_the_probe
):
    fake = tmp_path / "bwrap"  # bubblewrap failing the way it did for a Python under /tmp
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: execvp /tmp/venv/bin/python: No such file or directory' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(SandboxUnavailable) as refused:
        run_untrusted("pass")
    assert "could not run inside" in str(refused.value) and namespaces.interpreter() in str(refused.value)
    assert "user namespaces are off" not in str(refused.value)
