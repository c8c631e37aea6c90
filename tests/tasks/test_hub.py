"""Built-in benchmarks loaded from local copies the tests write in each dataset's own schema."""

import csv
import json

import pytest

import agentlab as al
from agentlab.tasks.extract import extract_choice

ROWS = {
    "gsm8k": [
        {"question": "Ann has 3 pens and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"},
        {
            "question": "A farm sells 1,200 eggs a day. How many in 2 days?",
            "answer": "1200*2=2400\n#### 2,400",
        },
    ],
    "svamp": [
        {
            "ID": "a1",
            "Body": "Jack had 8 pens.",
            "Question": "He gave 3 away. How many are left?",
            "Equation": "( 8.0 - 3.0 )",
            "Answer": 5.0,
            "Type": "Subtraction",
        },
    ],
    "multiarith": [{"question": "There are 5 boxes of 6 apples. How many apples?", "final_ans": "30"}],
    "mmlu": [
        {"question": "What is 2 + 2?", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1},
        {
            "question": "Capital of France?",
            "subject": "geo",
            "choices": ["Paris", "Rome", "Oslo", "Bern"],
            "answer": 0,
        },
    ],
    "aqua": [
        {
            "question": "A train covers 60 km in 1.5 h. Speed?",
            "options": ["A)30", "B)40", "C)45", "D)50", "E)90"],
            "rationale": "60/1.5=40",
            "correct": "B",
        },
    ],
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def local_copy(tmp_path):
    def make(name):
        folder = tmp_path / name
        folder.mkdir()
        write_jsonl(folder / "test.jsonl", ROWS[name])
        write_jsonl(folder / "train.jsonl", ROWS[name][:1])
        return folder

    return make


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_benchmark_loads_from_a_local_folder(name, local_copy):
    task = al.tasks.load(name, path=local_copy(name))
    assert len(task) == len(ROWS[name]) and len(task.train()) == 1
    assert {i.id for i in task}.isdisjoint({i.id for i in task.train()})
    for item in task:
        assert item.question and item.reference is not None


def test_references_are_read_the_way_each_dataset_writes_them(local_copy):
    gsm8k = al.tasks.load("gsm8k", path=local_copy("gsm8k"))
    assert [i.reference for i in gsm8k] == [7, 2400]
    mmlu = al.tasks.load("mmlu", path=local_copy("mmlu"))
    assert [i.reference for i in mmlu] == ["B", "A"]
    assert "(B) 4" in mmlu.items[0].question and mmlu.items[0].meta["options"]["B"] == "4"
    aqua = al.tasks.load("aqua", path=local_copy("aqua"))
    assert aqua.items[0].meta["options"] == {"A": "30", "B": "40", "C": "45", "D": "50", "E": "90"}
    svamp = al.tasks.load("svamp", path=local_copy("svamp"))
    assert svamp.items[0].question == "Jack had 8 pens. He gave 3 away. How many are left?"
    assert svamp.items[0].reference == 5.0


def test_a_multiple_choice_team_is_scored_on_letters_or_option_text(local_copy):
    task = al.tasks.load("mmlu", path=local_copy("mmlu"))
    replies = {"What is 2 + 2?": "2 + 2 makes 4.", "Capital of France?": "The answer is (A)."}
    model = al.models.ScriptedChatModel(
        respond=lambda m: next(r for q, r in replies.items() if q in str(m[-1].content))
    )
    run = al.Team([al.Agent("a")], model=model).run(task, cache=False, progress=False)
    assert [r.prediction for r in run.results] == ["B", "A"] and run.accuracy == 1.0


def test_a_single_file_csv_split_and_limit_with_seed(tmp_path):
    path = tmp_path / "svamp-test.csv"
    rows = [{**ROWS["svamp"][0], "ID": f"a{i}", "Answer": float(i)} for i in range(10)]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    first = al.tasks.load("svamp", path=path, limit=4)
    assert [i.reference for i in first] == [0.0, 1.0, 2.0, 3.0]
    shuffled = al.tasks.load("svamp", path=path, limit=4, seed=1)
    assert shuffled.items != first.items and len(shuffled) == 4
    assert [i.reference for i in al.tasks.load("svamp", path=path, limit=4, seed=1)] == [
        i.reference for i in shuffled
    ]


def test_a_malformed_file_names_the_file_row_and_field(tmp_path):
    path = tmp_path / "test.jsonl"
    write_jsonl(path, [ROWS["gsm8k"][0], {"question": "no answer here"}])
    with pytest.raises(ValueError, match=r"test\.jsonl, row 2: missing field\(s\) \['answer'\]"):
        al.tasks.load("gsm8k", path=path)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("test.jsonl", "", r"test\.jsonl is empty: the test split needs one row per item"),
        ("test.jsonl", "\n\n", r"test\.jsonl is empty"),
        ("test.csv", "question,answer\n", r"test\.csv holds no rows"),
        (
            "test.jsonl",
            "question: what is 2+2?\n",
            r"test\.jsonl: cannot read it as jsonl \(ArrowInvalid: JSON parse error.*one JSON object per",
        ),
    ],
)
def test_an_empty_or_unreadable_local_file_is_named(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        al.tasks.load("gsm8k", path=path)


def test_an_unreachable_hub_says_how_to_load_a_local_copy(monkeypatch, tmp_path):
    # offline mode, as on a machine without network, minus the minutes of retries (the libraries read
    # these flags at import, so they are patched where they live)
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)
    with pytest.raises(ConnectionError, match=r"(?s)openai/gsm8k.*Load a local copy instead.*path="):
        al.tasks.load("gsm8k", limit=5)


def test_unknown_split_and_missing_local_split_are_named(tmp_path, local_copy):
    with pytest.raises(ValueError, match="has splits"):
        al.tasks.load("gsm8k", split="dev", path=local_copy("gsm8k"))
    with pytest.raises(FileNotFoundError, match="no test split in"):
        al.tasks.load("gsm8k", path=tmp_path)


def test_tasks_list_shows_source_and_size():
    listed = {t["name"]: t for t in al.tasks.list()}
    assert set(listed) >= {"arithmetic", "gsm8k", "mmlu", "svamp", "multiarith", "aqua"}
    assert listed["gsm8k"]["source"]["hub"] == "openai/gsm8k" and listed["gsm8k"]["size"]["test"] == 1319


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is (C).", "C"),
        ("Answer: d", "D"),
        ("After checking each option, I choose B.", "B"),
        ("(A) is wrong. (E) fits best.", "E"),
        ("**Answer:** [C]", "C"),
        ("The speed is 40 km/h.", "B"),
        ("none of these", None),
        ("A train covers distance; the answer is option D", "D"),
    ],
)
def test_extract_choice(text, expected):
    options = {"A": "30 km/h", "B": "40 km/h", "C": "45 km/h", "D": "50 km/h", "E": "90 km/h"}
    assert extract_choice(text, options) == expected


def test_mmlu_as_the_topology_papers_split_it_trains_on_dev_and_tests_on_validation(tmp_path):
    folder = tmp_path / "mmlu"
    folder.mkdir()
    write_jsonl(folder / "validation.jsonl", ROWS["mmlu"] * 100)  # 200 questions
    write_jsonl(folder / "dev.jsonl", ROWS["mmlu"][1:])
    task = al.tasks.load("mmlu", path=folder, split="validation", train_split="dev", limit=153)
    assert len(task) == 153 and task.items[0].id == "validation-0"
    assert [i.reference for i in task.train()] == ["A"] and task.train().items[0].id == "dev-0"
    with pytest.raises(ValueError, match=r"same data.*never train on test items"):
        al.tasks.load("mmlu", path=folder, split="validation", train_split="train")
    with pytest.raises(ValueError, match="got train_split='val'"):
        al.tasks.load("mmlu", path=folder, split="validation", train_split="val")
