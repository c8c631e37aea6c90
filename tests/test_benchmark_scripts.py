"""The benchmark scripts still run (at a tiny size; their numbers belong in benchmarks/README.md)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def script_output(script: str, *args: str, timeout: int = 300) -> str:
    """What a benchmark script prints, run as a user runs it (a failure raises, with its output)."""
    runner = "bash" if script.endswith(".sh") else sys.executable
    command = [runner, str(BENCHMARKS / script), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout).stdout


def test_memory_benchmark_runs_and_reports_each_size():
    out = script_output("memory_flat.py", "--items", "20", "40", "--window", "8")
    rows = [line.split() for line in out.splitlines() if line.strip()[:2].isdigit()]
    assert [(r[0], r[1]) for r in rows] == [("20", "200"), ("40", "400")]
    assert all(float(r[2]) > 0 for r in rows)


@pytest.mark.slow
def test_throughput_benchmark_reports_each_arm_against_one_by_one():
    out = script_output(
        "throughput.py",
        "--items",
        "2",
        "--agents",
        "3",
        "--rounds",
        "2",
        "--max-new-tokens",
        "4",
        "--arms",
        "a,c,c0",
        timeout=600,
    )
    rows = {line[:22].strip(): line[22:].split() for line in out.splitlines() if line.startswith("(")}
    assert set(rows) == {"(c) engine", "(c0) no prefix cache", "(a) one by one"}
    assert rows["(a) one by one"][3] == "1.00"  # the ratio column divides by arm (a)
    served = int(out.split("the prefix cache served ")[1].split()[0].replace(",", ""))
    assert served > 0  # round 2 rereads round 1's prompt start


def test_sandbox_benchmark_runs_canonical_solutions_under_both_isolations():
    out = script_output("sandbox_overhead.py", "--programs", "3")
    table = [line for line in out.splitlines()[1:] if not line.startswith("bounds: ")]
    rows = {line[:34].strip(): line[34:].split() for line in table}
    assert "program, namespaces+seccomp" in rows and "HumanEval scorer (tests outside)" in rows
    assert any(label.startswith("program, guard") for label in rows)
    assert all(row[:2] == ["3", "3"] for row in rows.values()), rows  # every canonical solution passes
    assert "bounds: " in out


def test_server_pool_benchmark_reports_each_concurrency_against_the_ideal():
    size = ["--items", "10", "--agents", "2", "--rounds", "1", "--latency", "0.01", "--concurrency", "2", "4"]
    out = script_output("server_pool.py", *size)
    rows = [line.split() for line in out.splitlines() if line.startswith(" ") and line.split()[0].isdigit()]
    assert [(r[0], r[1]) for r in rows] == [("2", "20"), ("4", "20")]
    assert all(float(r[3]) >= float(r[2]) * 0.9 for r in rows)  # never faster than the latency allows
    assert out.count(", 0 failed tries") == 4  # two servers, each row


def test_routing_overhead_benchmark_reports_each_preset():
    out = script_output("routing.py", "--overhead", "--items", "20")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.strip()}
    assert set(rows) == {"mesh", "blackboard", "semi-centralized", "evolving"}
    assert all(int(calls) > 0 and float(ms) > 0 for calls, _, ms in rows.values())


@pytest.mark.slow
def test_the_gpu_check_runs_every_arm_dry_on_a_cpu():
    """The lent GPU's script, at a tiny size: every arm (the engine, one by one, transformers' flat
    generate_batch on the engine's calls, vLLM where installed, the engine on static generation)
    gives its row."""
    out = script_output("gpu_check.sh", "--dry", timeout=900)
    rows = {line[:22].strip() for line in out.splitlines() if line.startswith(("(", "flat"))}
    assert rows == {"(c) engine", "(a) one by one*", "flat generate_batch", "(s) static, compiled"}, out
    assert "vllm: not installed here" in out or "vllm (kind: vllm)" in out


@pytest.mark.slow
def test_learned_topologies_quick_ends_with_its_verdict_on_both_claims():
    size = ["--items", "3", "--train", "4", "--epochs", "1", "--samples", "2", "--batch-size", "4"]
    out = script_output("learned_topologies.py", "--quick", *size, timeout=900)
    rows = [line.split(" | ")[0].strip("| ") for line in out.splitlines() if line.startswith("| ")]
    assert {"single", "star", "debate (2 rounds)", "gptswarm", "gdesigner"} <= set(rows)
    verdict = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"learned beats presets: (yes|no) \(adversarial: best learned gptswarm \d+% \[\d+%–\d+%\] vs "
        r"best preset [\w ()]+ \d+% \[\d+%–\d+%\]; topic: gdesigner \d+% at \d+ tokens/item vs "
        r"[\w ()]+ \d+% at \d+\)",
        verdict,
    ), verdict
    out = script_output("learned_topologies.py", "--ceilings", "--items", "2", timeout=600)
    assert [line.split(": ")[1] for line in out.splitlines() if line.startswith("ceiling")] == [
        "a vote of the honest agents",
        "FinalRefer hearing the honest",
        "the holder alone",
    ]
