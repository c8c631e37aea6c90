"""A run folder on disk: who may write it, what each process appends, and how it is read back.

``runs/<name>/`` holds ``run.json`` (the folder's format version), ``config.yaml`` (resolved),
``environment.json`` (package versions, git commit), ``records.jsonl`` (one line per message,
appended and flushed as made), ``results.jsonl`` (one line per finished item), ``time.jsonl``
(each attempt's seconds so far, per unit, so a resumed run counts the time of the ones before it),
``metrics.json``, ``report.html``, ``learners/`` and, under ``accelerate launch``, one
``records.rankN.jsonl``, ``results.rankN.jsonl`` and ``time.rankN.jsonl`` per further process.

One writer per folder: each process holds an exclusive lock on its own shard's lock file while
it runs, so a second run of the same folder stops at once instead of doubling every result. The
kernel releases the lock when the process dies, kill -9 included.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from agentlab.message import Message
from agentlab.provenance import commit

FORMAT = 1  # the layout above; a folder written by a later format is refused, not misread


class FolderInUse(RuntimeError):
    """Another process is writing this run folder."""


class DiskFull(OSError):
    """The disk filled while a run folder was written; freeing space and rerunning resumes."""


def _parse(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path}:{number}: a damaged line ({error}). Move that line out of the file "
            f"(e.g. sed -i '{number}d' {path}, after a copy) and run again: it resumes from the lines "
            "that remain (an item whose result line is gone runs again)"
        ) from None


def _full(error: OSError, path: Path) -> OSError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(
            error.errno,
            f"no space left writing {path}; free some space and run the same command again: "
            "it resumes where this run stopped",
        )
    return error


def read_jsonl(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Every complete line. A torn last line (the process died mid-write) is skipped, and with
    ``repair`` also cut off the file: only the run about to append again may do that, since a
    reader beside a live run would cut the line it is writing."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    lines = data[:end].split(b"\n")
    return [_parse(path, number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Complete lines one at a time (a torn last line is skipped), without reading the file whole."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if line.endswith(b"\n") and line.strip():
                yield _parse(path, number, line)


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    staging = path.with_suffix(path.suffix + ".tmp")
    try:
        staging.write_text(text, encoding="utf-8")
    except OSError as error:
        staging.unlink(missing_ok=True)
        raise _full(error, path) from error
    os.replace(staging, path)


# rows are plain JSON (no cycles to look for): a reused encoder without the check is a sixth
# faster, which counts at thousands of records a step
_ROW_ENCODER = json.JSONEncoder(check_circular=False)


class _Appender:
    """Appends JSON lines and flushes each one, so a killed process loses at most the line it was writing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("ab")

    def __call__(self, row: dict[str, Any]) -> None:
        try:
            self._file.write((_ROW_ENCODER.encode(row) + "\n").encode())
            self._file.flush()
        except OSError as error:
            raise _full(error, self.path) from error

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a full disk: what did not reach it is a torn line, cut on resume
            self._file.close()


class DiskRecords(Sequence[Message]):
    """One run unit's messages in a run folder's records files, read from disk each time they are
    iterated, so a 10,000-item run does not hold its messages in memory."""

    def __init__(self, paths: Sequence[Path], unit: str) -> None:
        self.paths, self.unit = list(paths), unit

    def __iter__(self) -> Iterator[Message]:
        for path in self.paths:
            for row in iter_jsonl(path):
                if row.pop("unit") == self.unit:
                    yield Message.from_dict(row)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getitem__(self, index: Any) -> Any:
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"DiskRecords({[str(p) for p in self.paths]}, unit={self.unit!r})"


class RunFolder:
    """A run folder as one process sees it (``rank`` under a multi-process launch).

    Reading needs nothing; writing goes through ``open_for_writing``, which takes the folder's
    lock for this rank, repairs this rank's torn last lines and opens its appenders.

    >>> import tempfile
    >>> folder = RunFolder(Path(tempfile.mkdtemp()) / "demo")
    >>> with folder.open_for_writing():
    ...     folder.append_record({"unit": "u", "x": 1})
    >>> folder.read("records")
    [{'unit': 'u', 'x': 1}]
    """

    def __init__(self, path: str | Path, rank: int = 0) -> None:
        self.path, self.rank = Path(path), rank
        self._lock: IO[str] | None = None
        self._records: _Appender | None = None
        self._results: _Appender | None = None
        self._time: _Appender | None = None
        self._states: _Appender | None = None  # a simulation's environment state after each step
        self._attempt = f"{platform.node()}:{os.getpid()}:{time.time():.3f}"

    # ---- files ----

    def shard(self, kind: str, rank: int | None = None) -> Path:
        """The file one process appends to: ``records.jsonl`` for the first, ``records.rank1.jsonl``..."""
        rank = self.rank if rank is None else rank
        return self.path / (f"{kind}.jsonl" if rank == 0 else f"{kind}.rank{rank}.jsonl")

    def shards(self, kind: str) -> list[Path]:
        """Every process's file of one kind, the first process's first."""
        return sorted(self.path.glob(f"{kind}*.jsonl"), key=lambda p: (p.name != f"{kind}.jsonl", p.name))

    def read(self, kind: str, repair_own: bool = False) -> list[dict[str, Any]]:
        """All processes' lines of one kind; with ``repair_own``, this process's torn last line is
        cut off (only its own: the others may be live, mid-line)."""
        own = self.shard(kind) if repair_own else None
        return [row for path in self.shards(kind) for row in read_jsonl(path, repair=path == own)]

    def records(self, unit: str) -> DiskRecords:
        return DiskRecords(self.shards("records"), unit)

    def time_spent(self, unit: str) -> tuple[float, float]:
        """(wall, model) seconds spent on ``unit`` over every attempt: each attempt's last line,
        summed per process, and the slowest process (they run side by side)."""
        per_shard = []
        for path in self.shards("time"):
            last: dict[str, tuple[float, float]] = {}
            for row in read_jsonl(path):
                if row["unit"] == unit:
                    last[row["attempt"]] = (row["wall_seconds"], row["model_seconds"])
            per_shard.append((sum(w for w, _ in last.values()), sum(m for _, m in last.values())))
        return max(per_shard, default=(0.0, 0.0))

    def learner_path(self, label: str, seed: int) -> Path:
        """Where a trained learner is kept, so a resumed run does not train it again."""
        return self.path / "learners" / f"{label}-seed{seed}.pt"

    def write(self, name: str, text: str) -> Path:
        path = self.path / name
        write_atomic(path, text)
        return path

    # ---- writing ----

    @property
    def writing(self) -> bool:
        """Whether this process holds the folder open for writing."""
        return self._lock is not None

    def open_for_writing(self) -> RunFolder:
        """Take this rank's lock (or raise ``FolderInUse`` naming the holder), check the format,
        repair torn lines and open the appenders. Use as a context manager."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._check_format()
        lock_path = self.path / (".lock" if self.rank == 0 else f".lock.rank{self.rank}")
        lock = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise FolderInUse(
                f"{self.path} is being written by {holder}; wait for that run to finish (or stop it), "
                "then run again to resume, or give this experiment another name"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()} on {platform.node()}")
        lock.flush()
        self._lock = lock
        for kind in ("records", "results", "time", "states"):
            if kind != "states" or self.shard(kind).exists():
                read_jsonl(self.shard(kind), repair=True)
        self._records = _Appender(self.shard("records"))
        self._results = _Appender(self.shard("results"))
        self._time = _Appender(self.shard("time"))
        return self

    def append_record(self, row: dict[str, Any]) -> None:
        assert self._records is not None, "open_for_writing() first"
        self._records(row)

    def append_result(self, row: dict[str, Any]) -> None:
        assert self._results is not None, "open_for_writing() first"
        self._results(row)

    def append_state(self, row: dict[str, Any]) -> None:
        """A simulation's environment after one step (``states.jsonl``, made on the first line)."""
        assert self._records is not None, "open_for_writing() first"
        if self._states is None:
            self._states = _Appender(self.shard("states"))
        self._states(row)

    def append_time(self, unit: str, wall_seconds: float, model_seconds: float) -> None:
        """This attempt's seconds on ``unit`` so far (each line supersedes the attempt's previous one)."""
        assert self._time is not None, "open_for_writing() first"
        self._time(
            {
                "unit": unit,
                "attempt": self._attempt,
                "wall_seconds": wall_seconds,
                "model_seconds": model_seconds,
            }
        )

    def close(self) -> None:
        for appender in (self._records, self._results, self._time, self._states):
            if appender is not None:
                appender.close()
        self._records = self._results = self._time = self._states = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def __enter__(self) -> RunFolder:
        return self if self._lock is not None else self.open_for_writing()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_format(self) -> None:
        marker = self.path / "run.json"
        if marker.exists():
            found = json.loads(marker.read_text()).get("format", 1)
            if found > FORMAT:
                raise ValueError(
                    f"{self.path} was written in run-folder format {found} by a newer agentlab; this one "
                    f"reads format {FORMAT}: upgrade agentlab to resume it"
                )
        elif self.rank == 0:  # a new folder, or one from before the marker existed (format 1)
            write_atomic(marker, json.dumps({"format": FORMAT}))

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, rank={self.rank})"


def environment() -> dict[str, Any]:
    """Package versions, Python, platform and the git commit: what ``environment.json`` records."""
    versions = {}
    for package in ("agentlab", "torch", "transformers", "accelerate", "langchain-core"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": commit(),
    }
