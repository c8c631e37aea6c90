"""The program the sandbox runs: ``python harness.py PROGRAM VERDICT_FD``, the nonce on stdin.

It installs the convenience guard, runs ``PROGRAM`` as ``__main__``, and only when the program's
last statement has run writes the nonce to ``VERDICT_FD``. The parent counts a pass only when that
nonce arrives, so a program that exits early (``sys.exit(0)``, ``os._exit(0)``, an ``atexit`` hook,
a signal to itself) or prints a look-alike of success does not pass. The nonce is never in the
program's files, arguments or environment; a program that reads this harness's frames or memory
could still forge it, which is why the guard below refuses tracing, and why the boundary against
harm is the operating system's, not this file's.

The guard refuses what a generated solution has no business doing (starting processes, signalling,
writing outside its directory, tracing) with a readable error; ``ctypes`` or ``posix`` go around it,
which is fine: it is there for clear messages, not for containment.

This file is copied into the sandbox and run there; nothing in agentlab imports it.
"""

import builtins
import io
import os
import sys


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


def main() -> None:
    program, verdict_fd = sys.argv[1], int(sys.argv[2])
    nonce = sys.stdin.buffer.readline().strip()
    sys.stdin.close()
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0 again, now /dev/null
    write = os.write
    with open(program, encoding="utf-8") as f:
        source = f.read()
    _install_guard(os.path.realpath(os.getcwd()))
    code = compile(source, "program.py", "exec")
    del source, program
    exec(code, {"__name__": "__main__", "__builtins__": builtins})
    sys.stdout.flush()
    write(verdict_fd, nonce)


if __name__ == "__main__":
    main()
