"""The program the sandbox runs: ``python harness.py [--user UID:GID] MODE PROGRAM FD [ENTRY]``.

``--user``: the sandbox was started by root, without a user namespace; before anything else the
harness becomes that unprivileged host user, keeping no capability, and exits if it could not.

``run``: it installs the convenience guard, runs ``PROGRAM`` as ``__main__``, and only when the
program's last statement has run writes the nonce (read from stdin) to ``FD``. The parent counts a
pass only when that nonce arrives, so a program that exits early (``sys.exit(0)``, ``os._exit(0)``,
an ``atexit`` hook, a signal to itself) or prints a look-alike of success does not pass. A program
that reads this harness's frames or memory can forge it: a ``run`` pass says the program claims
to have finished, which is all a tool's caller needs. Scoring does not rely on it (``serve``).

``serve``: it runs ``PROGRAM`` (not as ``__main__``), then answers calls of its function ``ENTRY``:
each line on stdin holds the arguments, each line written to ``FD`` the result or the error, as
plain values (``literals``). The tests that judge the function run in the parent, which rebuilds
only plain values from what arrives: nothing the program does here can make a test pass but
returning the right values.

The guard refuses what a generated solution has no business doing (starting processes,
signalling, writing outside its directory, tracing) with a readable error; ``ctypes`` or ``posix``
go around it, which is fine: it is there for clear messages, not for containment.

This file and ``literals`` are copied into the sandbox and run there; nothing in agentlab imports
this one.
"""

import builtins
import io
import os
import sys

SITE_DIR = "/sandbox-site"  # namespaces.SITE_DIR: the packages Limits.packages binds


def _install_guard(root: str) -> None:
    open_ = builtins.open

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True
        full = os.path.realpath(os.path.join(root, os.fsdecode(os.fspath(path))))  # type: ignore[arg-type]
        return full in (root, os.devnull) or full.startswith(root + os.sep)

    def refuse(name: str):
        def refused(*args: object, **kwargs: object) -> None:
            raise PermissionError(f"sandbox: {name} is not allowed")

        return refused

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+") and not inside(file):
            raise PermissionError(f"sandbox: writing outside the working directory: {file}")
        return open_(file, mode, *args, **kwargs)

    def path_guard(name: str, function):
        def guarded(*paths, **kwargs):
            for path in paths[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and not inside(path):
                    raise PermissionError(f"sandbox: {name} outside the working directory: {path}")
            return function(*paths, **kwargs)

        return guarded

    builtins.open = io.open = guarded_open
    for name in ("remove", "unlink", "rmdir", "rename", "replace", "renames", "removedirs", "truncate",
                 "mkdir", "makedirs", "symlink", "link", "chmod", "chown"):  # fmt: skip
        if hasattr(os, name):
            setattr(os, name, path_guard(name, getattr(os, name)))
    for name in ("fork", "forkpty", "system", "popen", "execv", "execve", "execvp", "execvpe", "execl",
                 "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl",
                 "spawnle", "posix_spawn", "posix_spawnp", "kill", "killpg", "setuid", "setgid", "chroot",
                 "putenv"):  # fmt: skip
        if hasattr(os, name):
            setattr(os, name, refuse("os." + name))
    import shutil
    import subprocess
    import threading

    subprocess.Popen = refuse("subprocess")  # type: ignore[misc]
    sys.modules["multiprocessing"] = None  # type: ignore[assignment]
    shutil.rmtree = path_guard("shutil.rmtree", shutil.rmtree)  # type: ignore[assignment]
    shutil.move = path_guard("shutil.move", shutil.move)
    sys.settrace = sys.setprofile = refuse("tracing")  # a tracer could jump over the tests
    threading.settrace = threading.setprofile = refuse("tracing")


def _become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    kept = [name for name in ("CapPrm", "CapEff", "CapAmb") if int(status[name], 16)]
    if kept or status["NoNewPrivs"].strip() != "1" or os.getresuid() != (uid, uid, uid):
        os.write(2, f"sandbox: could not drop privileges (still {kept or 'privileged'})\n".encode())
        os._exit(125)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _literals():
    """``literals``, beside this file (``-I`` keeps this directory off ``sys.path``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "literals", os.path.join(os.path.dirname(__file__), "literals.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _serve(code, entry: str, reply_fd: int) -> None:
    literals = _literals()
    namespace = {"__name__": "__sandboxed__", "__builtins__": builtins}
    failure = None
    try:
        exec(code, namespace)
        function = namespace[entry]
        if not callable(function):
            raise TypeError(f"{entry} is a {type(function).__name__}, not a function")
    except BaseException as error:  # SystemExit included: each call then fails
        failure = f"{type(error).__name__}: {error}"
    for line in sys.stdin.buffer:
        if failure is None:
            try:
                args, kwargs = literals.decode(line)
                reply = ("ok", function(*args, **kwargs))
                encoded = literals.encode(reply)
            except BaseException as error:  # whatever it raises is that call's failure
                encoded = literals.encode(("error", f"{type(error).__name__}: {error}"[:2000]))
        else:
            encoded = literals.encode(("error", failure[:2000]))
        sys.stdout.flush()
        _write_all(reply_fd, encoded)


def main() -> None:
    args = sys.argv[1:]
    if args[0] == "--user":
        uid, gid = (int(x) for x in args[1].split(":"))
        _become(uid, gid)
        args = args[2:]
    mode, program, fd = args[0], args[1], int(args[2])
    if os.path.isdir(SITE_DIR):
        sys.path.append(SITE_DIR)
    with open(program, encoding="utf-8") as f:
        source = f.read()
    write = os.write
    if mode == "serve":
        code = compile(source, "completion.py", "exec")
        del source, program
        _install_guard(os.path.realpath(os.getcwd()))
        _serve(code, args[3], fd)
        return
    nonce = sys.stdin.buffer.readline().strip()
    sys.stdin.close()
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0 again, now /dev/null
    _install_guard(os.path.realpath(os.getcwd()))
    code = compile(source, "program.py", "exec")
    del source, program
    exec(code, {"__name__": "__main__", "__builtins__": builtins})
    sys.stdout.flush()
    write(fd, nonce)


if __name__ == "__main__":
    main()
