"""Untrusted programs score 0 and harm nothing else."""

import os
import time
from pathlib import Path

import pytest

from agentlab.sandbox import Limits, run_untrusted


def test_a_correct_program_passes_and_a_wrong_one_fails():
    assert run_untrusted("def f(x):\n    return x + 1\nassert f(1) == 2\n").passed
    outcome = run_untrusted("assert 1 == 2, 'wrong'\n")
    assert outcome.status == "failed" and "AssertionError: wrong" in outcome.output


def test_an_endless_loop_is_killed_at_the_time_limit():
    started = time.perf_counter()
    outcome = run_untrusted("while True:\n    pass\n", Limits(seconds=1))
    assert outcome.status == "timeout" and time.perf_counter() - started < 10


def test_unbounded_allocation_fails_inside_its_memory_limit():
    outcome = run_untrusted(
        "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n", Limits(memory_mb=256)
    )
    assert outcome.status == "failed" and "MemoryError" in outcome.output


@pytest.mark.parametrize(
    "program",
    [
        "import os\nwhile True:\n    os.fork()\n",
        "import subprocess\nsubprocess.run(['sleep', '100'])\n",
        "import multiprocessing\n",
        "import os\nos.system('sleep 100')\n",
    ],
)
def test_starting_processes_is_refused(program):
    outcome = run_untrusted(program, Limits(seconds=5))
    assert outcome.status == "failed"
    assert (
        "not allowed" in outcome.output
        or "ModuleNotFoundError" in outcome.output
        or "import" in outcome.output
    )


def test_environment_secrets_are_not_visible(monkeypatch):
    monkeypatch.setenv("AGENTLAB_TEST_SECRET", "hunter2")
    outcome = run_untrusted(
        "import os\nassert 'AGENTLAB_TEST_SECRET' not in os.environ\nprint(sorted(os.environ))\n"
    )
    assert outcome.passed and "hunter2" not in outcome.output


def test_writing_outside_its_directory_fails_and_leaves_no_file(tmp_path):
    target = tmp_path / "escaped.txt"
    for program in (
        f"open({str(target)!r}, 'w').write('x')\n",
        "open('../escaped.txt', 'w').write('x')\n",
        f"import os\nos.remove({str(tmp_path / 'keep.txt')!r})\n",
    ):
        (tmp_path / "keep.txt").write_text("mine")
        outcome = run_untrusted(program)
        assert outcome.status == "failed" and "sandbox" in outcome.output
        assert not target.exists() and (tmp_path / "keep.txt").read_text() == "mine"


def test_writing_inside_its_directory_works_and_the_directory_is_thrown_away():
    outcome = run_untrusted("import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\n")
    assert outcome.passed
    assert not os.path.exists(outcome.output.strip())


def test_a_flood_of_output_is_cut_by_the_file_size_limit():
    outcome = run_untrusted("while True:\n    print('x' * 1000)\n", Limits(seconds=20, file_mb=1))
    assert outcome.status == "failed" and len(outcome.output) <= 4000


def test_children_left_behind_are_killed():
    # the guard refuses fork, so reach for the real one the way a hostile program would not bother to
    program = (
        "import posix, time\n"
        "pid = posix.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(30)\n"
        "else:\n"
        "    open('child.txt', 'w').write(str(pid))\n"
        "    print(pid)\n"
    )
    outcome = run_untrusted(program, Limits(seconds=5))
    pid = int(outcome.output.strip().splitlines()[-1])
    time.sleep(0.2)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"  # gone, or a zombie awaiting its reaper
