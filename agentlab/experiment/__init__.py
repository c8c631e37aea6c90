"""Experiments from one YAML file: validated before any model call, written to a run folder as
they go, resumable, and read back without a model.

- ``config``: what a file may say (``ExperimentConfig``) and the messages for what it may not;
- ``folder``: the run folder (``RunFolder``: one writer, append-only shards, a format version);
- ``runner``: ``Experiment``, which runs a file into its folder;
- ``analysis``: loading, rescoring and summarising a folder's runs.
"""

from agentlab.experiment.analysis import list_run_folders, load_runs, summarize
from agentlab.experiment.config import ExperimentConfig, TopologySpec, TrainSpec
from agentlab.experiment.folder import FolderInUse, RunFolder, read_jsonl
from agentlab.experiment.runner import Experiment, ExperimentResult

__all__ = [
    "Experiment",
    "ExperimentConfig",
    "ExperimentResult",
    "FolderInUse",
    "RunFolder",
    "TopologySpec",
    "TrainSpec",
    "list_run_folders",
    "load_runs",
    "read_jsonl",
    "summarize",
]
