import pytest

import agentlab as al
from agentlab.tasks.humaneval import TRAIN_PROBLEMS, pass_at_k, pass_at_k_of_runs, problems


@pytest.fixture(scope="module")
def canonical():
    return {p["task_id"]: p["canonical_solution"] for p in problems()}


def test_humaneval_loads_all_164_with_a_disjoint_train_split():
    task = al.tasks.load("humaneval")
    assert len(task) == 164 - TRAIN_PROBLEMS and len(task.train()) == TRAIN_PROBLEMS
    assert {i.id for i in task}.isdisjoint({i.id for i in task.train()})
    assert len(al.tasks.load("humaneval", split="full")) == 164
    assert task.items[0].id == "HumanEval/32"


def test_canonical_solutions_pass_and_broken_ones_fail(canonical):
    task = al.tasks.load("humaneval", limit=6)

    def respond(messages):
        prompt = str(messages[-1].content)
        item = next(i for i in task if i.question in prompt)
        body = canonical[item.id]
        if item.id in ("HumanEval/33", "HumanEval/35"):  # two wrong answers: a body that returns None
            body = "    return None\n"
        # a realistic reply: prose, then the whole function in a fence
        return f"Here is the function.\n```python\n{item.question}{body}```\nIt works."

    run = al.Team([al.Agent("coder")], model=al.models.ScriptedChatModel(respond=respond)).run(
        task, cache=False, progress=False
    )
    assert {r.item_id: r.score for r in run.results} == {
        "HumanEval/32": 1.0,
        "HumanEval/33": 0.0,
        "HumanEval/34": 1.0,
        "HumanEval/35": 0.0,
        "HumanEval/36": 1.0,
        "HumanEval/37": 1.0,
    }


def test_a_body_without_fences_is_completed_from_the_prompt(canonical):
    task = al.tasks.load("humaneval", limit=1)
    item = task.items[0]
    code = task.extract(canonical[item.id], item)
    assert code.startswith(item.question) and task.score(code, item.reference) == 1.0


def test_a_hostile_completion_scores_zero(tmp_path):
    task = al.tasks.load("humaneval", limit=1)
    item = task.items[0]
    marker = tmp_path / "escaped"
    for hostile in ("    while True:\n        pass\n", f"    import os\n    os.system('touch {marker}')\n"):
        code = task.extract(hostile, item)
        assert task.score(code, item.reference) == 0.0
    assert not marker.exists()


WRONG = "    return None\n"  # a body that fails HumanEval/32's tests


@pytest.mark.parametrize(
    "trick",
    [
        pytest.param("import sys\nsys.exit(0)\n", id="sys-exit-before-the-tests"),
        pytest.param("import os\nos._exit(0)\n", id="os-exit-before-the-tests"),
        pytest.param("import atexit, os\natexit.register(os._exit, 0)\n", id="atexit-exit-0"),
        pytest.param("import posix, signal\nposix.kill(posix.getpid(), signal.SIGKILL)\n", id="kill-itself"),
        pytest.param("import posix, signal\nposix.kill(1, signal.SIGKILL)\n", id="kill-the-harness-init"),
        pytest.param(
            "print('passed')\nprint('All tests passed')\nimport sys\nsys.exit()\n", id="fake-success"
        ),
        pytest.param(
            "import posix\nfor fd in range(3, 256):\n    try:\n        posix.write(fd, b'0' * 32)\n"
            "    except OSError:\n        pass\n",
            id="forged-verdict-on-every-fd",
        ),
        pytest.param("import sys\nsys.settrace(lambda *a: None)\n", id="tracer-to-jump-the-tests"),
        pytest.param("def find_zero(xs):\n    raise SystemExit(0)\n", id="system-exit-inside-check"),
    ],
)
def test_scoring_tricks_do_not_pass(trick):
    """A pass means the tests ran to their end: exiting, killing or faking on the way scores 0."""
    task = al.tasks.load("humaneval", limit=1)
    item = task.items[0]
    code = task.extract(f"```python\n{item.question}{WRONG}\n{trick}```", item)
    score = task.score(code, item.reference)
    assert score == 0.0 and score.detail["outcome"] in ("incomplete", "failed"), score.detail


def test_each_result_records_the_isolation_that_scored_it(canonical):
    task = al.tasks.load("humaneval", limit=1)
    item = task.items[0]
    model = al.models.ScriptedChatModel(
        respond=lambda m: f"```python\n{item.question}{canonical[item.id]}```"
    )
    run = al.Team([al.Agent("coder")], model=model).run(task, cache=False, progress=False)
    (result,) = run.results
    assert result.score == 1.0
    assert result.scoring.keys() == {"isolation", "outcome", "bounds"}
    assert result.scoring["isolation"] == "namespaces+seccomp" and result.scoring["outcome"] == "passed"
    assert result.scoring["bounds"].startswith(("cgroup v", "rlimits only"))


def test_pass_at_k_is_unbiased_and_reads_several_runs():
    assert pass_at_k(5, 0, 1) == 0.0 and pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)
    from agentlab.run import ItemResult, Run

    def run(scores):
        return Run(
            "t", "humaneval", 1, [], [ItemResult(f"i{j}", None, None, s) for j, s in enumerate(scores)], 0, 0
        )

    samples = [run([1, 0]), run([0, 0]), run([1, 0]), run([0, 1])]  # item 0 passes 2/4, item 1 passes 1/4
    assert pass_at_k_of_runs(samples, 1) == pytest.approx((0.5 + 0.25) / 2)
    assert pass_at_k_of_runs(samples, 2) == pytest.approx(((1 - 1 / 6) + 0.5) / 2)
