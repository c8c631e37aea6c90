"""What the sandbox does with ordinary programs, in both isolations, and when it cannot be set up."""

import os
import time

import pytest

from agentlab.sandbox import Limits, SandboxUnavailable, namespaces, run_untrusted

BOTH = pytest.mark.parametrize("isolation", ["namespaces", "guard"])


@BOTH
def test_a_correct_program_passes_and_a_wrong_one_fails(isolation):
    limits = Limits(isolation=isolation)
    assert run_untrusted("def f(x):\n    return x + 1\nassert f(1) == 2\n", limits).passed
    outcome = run_untrusted("assert 1 == 2, 'wrong'\n", limits)
    assert outcome.status == "failed" and "AssertionError: wrong" in outcome.output


@BOTH
def test_every_outcome_says_which_isolation_ran_it(isolation):
    outcome = run_untrusted("pass", Limits(isolation=isolation))
    if isolation == "namespaces":
        assert outcome.isolation == "namespaces+seccomp"
    else:  # as root with a Python other users cannot read, the guard says it ran the program as root
        assert outcome.isolation == "guard" or (os.geteuid() == 0 and outcome.isolation == "guard (as root)")


def test_the_guard_is_chosen_through_the_environment_too(monkeypatch):
    monkeypatch.setenv("AGENTLAB_SANDBOX", "guard")
    assert run_untrusted("pass").isolation.startswith("guard")
    monkeypatch.setenv("AGENTLAB_SANDBOX", "none")
    with pytest.raises(ValueError, match="AGENTLAB_SANDBOX is 'namespaces' or 'guard'"):
        run_untrusted("pass")


@BOTH
def test_an_endless_loop_is_killed_at_the_time_limit(isolation):
    started = time.perf_counter()
    outcome = run_untrusted("while True:\n    pass\n", Limits(seconds=1, isolation=isolation))
    assert outcome.status == "timeout" and time.perf_counter() - started < 10


@BOTH
def test_unbounded_allocation_fails_inside_its_memory_limit(isolation):
    outcome = run_untrusted(
        "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n",
        Limits(memory_mb=256, isolation=isolation),
    )
    assert outcome.status == "failed" and "MemoryError" in outcome.output


@BOTH
def test_the_guard_names_what_it_refuses(isolation):
    for program in ("import os\nos.system('true')\n", "import subprocess\nsubprocess.run(['true'])\n"):
        outcome = run_untrusted(program, Limits(seconds=5, isolation=isolation))
        assert outcome.status == "failed" and "is not allowed" in outcome.output


def test_writing_inside_its_directory_works_and_the_directory_is_thrown_away():
    outcome = run_untrusted(
        "import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\n",
        Limits(isolation="guard"),
    )
    assert outcome.passed
    assert not os.path.exists(outcome.output.strip())
    inside = run_untrusted("import os\nopen('scratch.txt', 'w').write('x')\nprint(os.listdir('.'))\n")
    assert inside.passed and inside.output.strip() == "['scratch.txt']"


@BOTH
def test_a_flood_of_output_is_cut_by_the_file_size_limit(isolation):
    outcome = run_untrusted(
        "while True:\n    print('x' * 1000)\n", Limits(seconds=20, file_mb=1, isolation=isolation)
    )
    assert outcome.status == "failed" and len(outcome.output) <= 4000


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(seconds=0), "Limits.seconds must be positive"),
        (dict(disk_mb=-1), "Limits.disk_mb must be positive"),
        (dict(processes=-2), "Limits.processes must be 0 or more"),
        (dict(isolation="docker"), "Limits.isolation is 'namespaces' or 'guard'"),
    ],
)
def test_impossible_limits_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        Limits(**bad)


@pytest.fixture
def forget_the_probe():
    namespaces.unavailable_reason.cache_clear()
    yield
    namespaces.unavailable_reason.cache_clear()


def test_without_bubblewrap_it_refuses_and_says_how_to_fix_it(monkeypatch, forget_the_probe):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailable) as refused:
        run_untrusted("pass")
    assert "apt-get install bubblewrap" in str(refused.value)
    assert "AGENTLAB_SANDBOX=guard" in str(refused.value)
    assert run_untrusted("pass", Limits(isolation="guard")).passed  # only when chosen


def test_when_namespaces_cannot_be_made_it_refuses_with_the_reason(tmp_path, monkeypatch, forget_the_probe):
    fake = tmp_path / "bwrap"  # a bubblewrap that fails the way it does with user namespaces off
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(SandboxUnavailable, match="setting up uid map: Permission denied") as refused:
        run_untrusted("pass")
    assert "kernel.unprivileged_userns_clone" in str(refused.value)
