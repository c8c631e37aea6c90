"""Each extension point of README's "Extending agentlab": one definition and one registering line,
then the new thing works from Python and from an experiment file, and a bad name gets a hint."""

from dataclasses import dataclass

import pytest
import torch

import agentlab as al
from agentlab.experiment import Experiment
from agentlab.tasks.extract import extract_number
from agentlab.topologies.edges import EdgeDistribution, offdiagonal
from agentlab.topologies.learning import GraphLearner, LearnerSettings

TOYS = {  # registered below; forgotten when this module is done, so no other test sees them
    "learner": ["toy-uniform"],
    "backend": ["toy-echo", "toy-remote"],
    "task": ["toy-sums"],
    "preset": ["toy-ring"],
}


@pytest.fixture(scope="module", autouse=True)
def forget_the_toys():
    yield
    registries = {
        "learner": al.topologies.learners,
        "backend": al.models.BACKENDS,
        "task": al.tasks.registries.TASKS,
        "preset": al.topologies.PRESETS,
    }
    for kind, names in TOYS.items():
        for name in names:
            registries[kind].remove(name)


FILE = {
    "name": "ext",
    "task": {"name": "arithmetic", "n": 3},
    "model": {"kind": "scripted", "reply": "The answer is 5"},
    "topologies": [{"preset": "single"}],
}


# ---- a learner: a subclass whose class statement names it ----


@dataclass
class UniformSettings(LearnerSettings):
    start: float = 0.5  # every edge's first probability


class Uniform(GraphLearner, name="toy-uniform"):
    """One logit shared by every edge."""

    Settings = UniformSettings

    def __init__(self, agents, *, model=None, **settings):
        super().__init__(agents, model=model, **settings)
        self.logit = torch.nn.Parameter(torch.logit(torch.tensor(self.settings.start)))

    def named_parameters(self):
        return {"logit": self.logit}

    def distributions(self, items, training=False):
        n = len(self.agents)
        return [EdgeDistribution(torch.sigmoid(self.logit) * torch.ones(n, n) * offdiagonal(n))] * max(
            1, len(items)
        )


def test_a_learner_is_one_class_with_a_name(tmp_path):
    assert al.topologies.learners.resolve("toy-uniform") is Uniform
    config = FILE | {
        "topologies": [{"learner": "toy-uniform", "n_agents": 3, "train": {"items": 4, "batch_size": 4}}]
    }
    result = Experiment.from_dict(config).run(tmp_path, progress=False)
    assert result.runs[("toy-uniform", 0)].n_items == 3
    # items x samples x the agents called: the deciding last agent always, the others only where
    # a sampled edge carries their words to it (one round)
    assert 4 * 4 <= result.metrics["training"]["toy-uniform/seed0"]["calls"] < 4 * 4 * 3
    saved = tmp_path / "ext" / "learners" / "toy-uniform-seed0.pt"
    assert set(torch.load(saved, weights_only=False)["state"]) == {"logit"}  # saved by name
    bad = FILE | {"topologies": [{"learner": "toy-uniform", "options": {"strat": 0.9}}]}
    with pytest.raises(ValueError, match="does not take \\['strat'\\]; did you mean 'start'"):
        Experiment.from_dict(bad)


# ---- a model backend: a function registered by kind ----


@al.models.backend("toy-echo")
def toy_echo(spec, seed, device):
    return al.models.ScriptedChatModel(respond=lambda messages: f"The answer is {seed + 5}", name_="toy-echo")


@al.models.backend(
    "toy-remote", requires=("agentlab_toy_client_not_installed",), install="pip install toy-client"
)
def toy_remote(spec, seed, device):  # pragma: no cover - its package is never there
    raise AssertionError("never built")


def test_a_model_backend_is_one_function_registered_by_kind(tmp_path):
    result = Experiment.from_dict(FILE | {"model": {"kind": "toy-echo"}}).run(tmp_path, progress=False)
    assert result.runs[("single", 0)].records[0].content == "The answer is 5"
    with pytest.raises(
        ValueError, match=r"model.kind: model backend 'toy-remote' needs .*pip install toy-client"
    ):
        Experiment.from_dict(FILE | {"model": {"kind": "toy-remote"}})
    with pytest.raises(ValueError, match="did you mean 'toy-echo'"):
        Experiment.from_dict(FILE | {"model": {"kind": "toy-ecko"}})


# ---- a task: a function registered by name ----


@al.tasks.register("toy-sums")
def toy_sums(n: int = 4, seed: int = 0) -> al.Task:
    """Sums of two digits."""
    items = [al.Item(f"s{i}", f"What is {i} + {seed}?", i + seed) for i in range(n)]
    return al.Task("toy-sums", items, extractor=extract_number)


def test_a_task_is_one_function_registered_by_name(tmp_path):
    assert len(al.tasks.load("toy-sums", n=2)) == 2
    assert {"name": "toy-sums", "description": "Sums of two digits."}.items() <= next(
        row for row in al.tasks.list() if row["name"] == "toy-sums"
    ).items()
    result = Experiment.from_dict(FILE | {"task": {"name": "toy-sums", "n": 6}}).run(tmp_path, progress=False)
    assert result.runs[("single", 0)].accuracy == pytest.approx(1 / 6)  # only 5 + 0 is 5
    with pytest.raises(ValueError, match="did you mean 'toy-sums'"):
        Experiment.from_dict(FILE | {"task": {"name": "toy-sum"}})


# ---- a preset: a function from agent count to graph ----


@al.topologies.preset("toy-ring")
def toy_ring(n_agents=None, **options):
    n = n_agents or 3
    names = [f"agent{i}" for i in range(n)]
    return al.CommGraph(names, [(names[i], names[i + 1]) for i in range(n - 1)], [(names[-1], names[0])])


def test_a_preset_is_one_function_registered_by_name(tmp_path):
    team = al.topologies.load("toy-ring", n_agents=4, model=al.models.ScriptedChatModel(respond=str))
    assert team.graph.temporal == (("agent3", "agent0"),)
    config = FILE | {"topologies": [{"preset": "toy-ring", "n_agents": 3, "rounds": 2}]}
    result = Experiment.from_dict(config).run(tmp_path, progress=False)
    assert result.runs[("toy-ring", 0)].calls == 3 * 3 * 2
    with pytest.raises(ValueError, match="did you mean 'toy-ring'"):
        al.topologies.load("toy-rnig")
