import pytest

import agentlab as al
from agentlab.tasks.extract import extract_number


def test_arithmetic_is_seeded_and_its_splits_are_disjoint():
    a = al.tasks.load("arithmetic", n=30, seed=5)
    b = al.tasks.load("arithmetic", n=30, seed=5)
    assert [i.question for i in a] == [i.question for i in b]
    assert [i.question for i in a] != [i.question for i in al.tasks.load("arithmetic", n=30, seed=6)]
    test_questions = {i.question for i in al.tasks.load("arithmetic", n=500, seed=5)}
    train = al.tasks.load("arithmetic", n=30, seed=5, n_train=500).train()
    assert len(train) == 500 and not test_questions & {i.question for i in train}


def test_arithmetic_answers_are_right_and_steps_are_honoured():
    for item in al.tasks.load("arithmetic", n=50, seed=1, min_steps=2, max_steps=3):
        assert 2 <= item.meta["steps"] <= 3
        assert item.question.count(".") == item.meta["steps"] + 1
    item = al.tasks.load("arithmetic", n=1, seed=0).items[0]
    # "Gus has 18 apples. Gus ends up with 3 times as many apples."
    assert item.question.startswith("Gus has 18 apples") and item.reference == 54


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 42.", 42),
        ("so the answer is: 1,234 apples", 1234),
        ("First 3 + 4 = 7, then 7 * 2 = 14", 14),
        ("The answer is $5.50", 5.5),
        ("The answer is -3", -3),
        ("\\boxed{3/4}", 0.75),
        ("I think 12. The answer is 15. Checking: 15 is right", 15),
        ("no number here", None),
    ],
)
def test_extract_number(text, expected):
    assert extract_number(text) == expected


def test_unknown_task_suggests_close_names_and_bad_options_are_named():
    with pytest.raises(ValueError, match="did you mean 'arithmetic'"):
        al.tasks.load("arithmetc")
    with pytest.raises(ValueError, match=r"does not take \['shots'\]"):
        al.tasks.load("arithmetic", shots=3)
    with pytest.raises(ValueError, match="splits"):
        al.tasks.load("arithmetic", split="dev")


def test_tasks_list_shows_each_builtin_with_its_source():
    listed = {t["name"]: t for t in al.tasks.list()}
    assert "no download" in listed["arithmetic"]["source"]
