"""The sandbox's boundary: bubblewrap (``bwrap``) puts the program in its own PID, network, IPC,
UTS and cgroup namespaces. It sees a read-only system (``/usr`` and the loader's files), of this
Python only the interpreter, its shared library and its standard library (site-packages hidden
behind an empty directory; ``Limits.packages`` binds named ones at ``SITE_DIR``), its own ``/proc``
with ``/proc/sys`` read-only, a minimal read-only ``/dev``, no network but its own loopback, and
one writable directory: a tmpfs of ``disk_mb`` that is thrown away. When bubblewrap's process ends,
the kernel kills everything left in the PID namespace.

Who the program is on the host (see ``identity``):

- a caller that is not root: bubblewrap maps the caller's uid to 65534 in a user namespace of its
  own, in which the program has no capabilities and may make no further user namespace;
- root: bubblewrap runs without a user namespace (one that maps 65534 to root would leave every
  plain permission check seeing root) and the harness switches to a fresh unprivileged host uid
  before anything else runs, keeping only CAP_SETUID and CAP_SETGID until it does; the seccomp
  filter refuses new namespaces instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

WORKDIR = "/tmp"  # the writable tmpfs inside, also its HOME and current directory
CODE_DIR = "/sandbox"  # the harness and the program, read-only inside
SITE_DIR = "/sandbox-site"  # packages named in Limits.packages, read-only inside

HOW_TO_INSTALL = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
)
WEAKER = (
    "or, knowing that generated code can then escape, choose the in-process guard explicitly: "
    "Limits(isolation='guard') or the environment variable AGENTLAB_SANDBOX=guard"
)


class SandboxUnavailable(RuntimeError):
    """The operating-system sandbox cannot be set up on this machine; the message says why and how."""


@functools.cache
def interpreter() -> str:
    """The base interpreter's real file (a virtual environment's python is a link to it)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


@functools.cache
def _python_view() -> tuple[list[str], list[str]]:
    """Paths to bind read-only for the interpreter, and site-packages directories to hide."""
    binds = [interpreter()]
    with open("/proc/self/maps") as maps:  # the shared libpython this process runs on, if any
        for line in maps:
            path = line.split(maxsplit=5)[-1].strip()
            if "/libpython" in path and path not in binds and not path.startswith("/usr/"):
                binds.append(path)
    for key in ("stdlib", "platstdlib"):
        stdlib = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})[key]
        stdlib = os.path.realpath(stdlib)
        if stdlib not in binds and not stdlib.startswith("/usr/"):
            binds.append(stdlib)
    visible = ["/usr/", *(b.rstrip("/") + "/" for b in binds)]
    hidden = []
    for directory in {*site.getsitepackages([sys.base_prefix, sys.base_exec_prefix]), site.USER_SITE or ""}:
        real = os.path.realpath(directory) if directory else ""
        if real and Path(real).is_dir() and any(real.startswith(v) for v in visible):
            hidden.append(real)
    return binds, sorted(set(hidden))


def _system_view() -> list[str]:
    """Read-only binds of the system the interpreter needs: /usr, the top-level links into it
    (merged /usr) or the directories themselves, the loader's cache, and the Python view."""
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
    binds, hidden = _python_view()
    # bubblewrap makes a bind's missing parents 0700 (root's): make them 0755 first, top down
    parents = {str(parent) for path in binds for parent in Path(path).parents}
    for parent in sorted(parents - {"/", WORKDIR}, key=len):
        if not parent.startswith("/usr"):
            args += ["--perms", "0755", "--dir", parent]
    for path in binds:
        args += ["--ro-bind", path, path]
    for path in hidden:  # an empty, read-only directory over each
        args += ["--tmpfs", path, "--remount-ro", path]
    return args


def package_binds(packages: tuple[str, ...]) -> list[str]:
    """Binds of each named package (and the vendored libraries wheels put beside it) at SITE_DIR."""
    import importlib.util

    args = ["--perms", "0755", "--dir", SITE_DIR] if packages else []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ValueError(f"Limits.packages: {name!r} is not installed here (pip install {name})")
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin and os.path.isabs(spec.origin):
            source = Path(spec.origin)
        else:
            raise ValueError(f"Limits.packages: {name!r} is built into Python; it needs no binding")
        for path in (source, source.parent / f"{name}.libs"):
            if path.exists():
                args += ["--ro-bind", str(path.resolve()), f"{SITE_DIR}/{path.name}"]
    return args


def command(
    argv: list[str],
    code_dir: Path,
    disk_mb: int,
    seccomp_fd: int | None,
    as_root: bool,
    packages: tuple[str, ...] = (),
) -> list[str]:
    """The bwrap command line that runs ``argv`` inside, with ``code_dir`` at ``CODE_DIR``; for a
    root caller, without a user namespace (the harness then switches to an unprivileged user)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not on PATH: {HOW_TO_INSTALL}; {WEAKER}")
    args = [bwrap]
    if not as_root:
        args += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    else:
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    args += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    # the writable tmpfs first, so that a Python living under /tmp is bound over it, not hidden
    args += ["--perms", "1777", "--size", str(disk_mb * 2**20), "--tmpfs", WORKDIR]
    args += _system_view()
    args += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    args += ["--dev", "/dev", "--remount-ro", "/dev"]
    args += ["--ro-bind", str(code_dir), CODE_DIR, *package_binds(packages), "--chdir", WORKDIR]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--", *argv]


def _cause(said: str) -> str:
    if "execvp" in said or "No such file" in said:
        return (
            f"bubblewrap started, but the interpreter {interpreter()} could not run inside ({said}): "
            "a file it needs is outside the sandbox's view of this Python; please report this with "
            f"`{interpreter()} -c 'import sys; print(sys.prefix)'` and `ldd {interpreter()}`"
        )
    if any(hint in said for hint in ("uid map", "namespace", "Operation not permitted", "Permission denied")):
        return (
            f"bubblewrap could not make its namespaces ({said}). Usually user namespaces are off: "
            "`sysctl -w kernel.unprivileged_userns_clone=1` (Debian), "
            "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 24.04+), "
            "or, in a container, allow unshare (e.g. docker run --security-opt seccomp=unconfined)"
        )
    return f"bubblewrap could not set up the sandbox ({said})"


@functools.cache
def unavailable_reason(as_root: bool) -> str | None:
    """None when bubblewrap can set the sandbox up here (for a root caller or another one);
    otherwise what failed, its cause, and how to fix it."""
    try:
        probe = command([interpreter(), "-I", "-c", "pass"], Path(sys.base_prefix), 1, None, as_root)
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
    return f"{_cause(said)}; {WEAKER}"
