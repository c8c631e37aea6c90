"""The sandbox's boundary: bubblewrap (``bwrap``) puts the program in its own user, PID, network,
IPC, UTS and cgroup namespaces. It sees a read-only system (``/usr``, the Python it runs on), its own
``/proc`` (its own processes only, so no other process's environment), a minimal ``/dev``, no
network but its own loopback, and one writable directory: a tmpfs of ``disk_mb`` that is thrown
away. Inside, it is user 65534 with no capabilities and cannot make further user namespaces. When
bubblewrap's process ends, the kernel kills everything left in the PID namespace.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

WORKDIR = "/tmp"  # the writable tmpfs inside, also its HOME and current directory
CODE_DIR = "/sandbox"  # the harness and the program, read-only inside

HOW_TO_INSTALL = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
)
WEAKER = (
    "or, knowing that generated code can then escape, choose the in-process guard explicitly: "
    "Limits(isolation='guard') or the environment variable AGENTLAB_SANDBOX=guard"
)


class SandboxUnavailable(RuntimeError):
    """The operating-system sandbox cannot be set up on this machine; the message says why and how."""


def _system_view() -> list[str]:
    """Read-only binds of the system the interpreter needs: /usr, the top-level links into it
    (merged /usr) or the directories themselves, the loader's cache, and Python's own prefixes."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for config in ("/etc/ld.so.cache", "/etc/ld.so.conf"):
        if Path(config).exists():
            args += ["--ro-bind", config, config]
    prefixes = {sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent.parent)}
    for prefix in sorted(prefixes):
        if not (prefix == "/usr" or prefix.startswith("/usr/")) and Path(prefix).is_dir():
            args += ["--ro-bind", prefix, prefix]
    return args


def command(argv: list[str], code_dir: Path, disk_mb: int, seccomp_fd: int | None) -> list[str]:
    """The bwrap command line that runs ``argv`` inside, with ``code_dir`` at ``CODE_DIR``."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not on PATH: {HOW_TO_INSTALL}; {WEAKER}")
    args = [bwrap, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534"]
    args += ["--disable-userns", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    args += _system_view()
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    args += ["--size", str(disk_mb * 2**20), "--tmpfs", WORKDIR]
    args += ["--ro-bind", str(code_dir), CODE_DIR, "--chdir", WORKDIR]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--", *argv]


@functools.cache
def unavailable_reason() -> str | None:
    """None when bubblewrap can set the sandbox up here; otherwise what failed and how to fix it."""
    try:
        probe = command([sys.executable, "-I", "-c", "pass"], Path(sys.base_prefix), 1, None)
    except SandboxUnavailable as error:
        return str(error)
    try:
        done = subprocess.run(
            probe, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"}
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap did not start: {error}; {WEAKER}"
    if done.returncode == 0:
        return None
    said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
    return (
        f"bubblewrap could not set up the sandbox ({said}). Usually user namespaces are off: "
        "`sysctl -w kernel.unprivileged_userns_clone=1` (Debian), "
        "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 24.04+), "
        "or, in a container, allow unshare (e.g. docker run --security-opt seccomp=unconfined); "
        f"{WEAKER}"
    )
