"""Any langchain-core chat model from an experiment file (`model: {class: ..., args: ...}`)."""

import pytest
import yaml

from agentlab.experiment import Experiment, load_runs

FAKE = "langchain_core.language_models.fake_chat_models.FakeListChatModel"
BASE = {
    "name": "by-class",
    "task": {"name": "arithmetic", "n": 3},
    "topologies": [{"preset": "chain", "n_agents": 2}],
}


def test_a_file_runs_any_chat_model_class_and_resumes_it(tmp_path):
    config = {**BASE, "model": {"class": FAKE, "args": {"responses": ["The answer is 7"]}}}
    result = Experiment.from_dict(config).run(tmp_path, progress=False)
    run = result.runs[("chain", 0)]
    assert run.calls == 6 and {m.content for m in run.records} == {"The answer is 7"}
    saved = yaml.safe_load((tmp_path / "by-class" / "config.yaml").read_text())
    assert saved["model"]["class"] == FAKE and saved["model"]["args"] == {"responses": ["The answer is 7"]}
    again = Experiment.from_dict(config).run(tmp_path, progress=False)  # the saved config reads back the same
    assert again.runs[("chain", 0)].calls == 6 and len(load_runs(tmp_path / "by-class")) == 1


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"class": "langchain_openai.ChatOpenAI"},
            "is not installed; install it with: pip install langchain-openai",
        ),
        ({"class": "collections.OrderedDict"}, "is not a langchain-core chat model"),
        ({"class": FAKE + "s"}, "has no 'FakeListChatModels'; did you mean 'FakeListChatModel'"),
        ({"class": "FakeListChatModel"}, "give the full import path"),
        ({"class": FAKE, "args": {"respones": ["x"]}}, "takes no 'respones'; did you mean 'responses'"),
        (
            {"class": FAKE, "args": {"responses": ["x"], "openai_api_key": "sk-0"}},
            "args.openai_api_key: a key or secret",
        ),
        ({"class": FAKE, "args": {"responses": ["x"]}, "max_new_tokens": 8}, "takes its settings in `args:`"),
        ({"class": FAKE, "kind": "scripted"}, "give either kind .* or class, not both"),
        ({"kind": "scripted", "args": {"x": 1}}, "only a model given by `class:`"),
    ],
)
def test_a_bad_class_model_is_named_before_any_call(model, message):
    with pytest.raises(ValueError, match=message):
        Experiment.from_dict({**BASE, "model": model})
