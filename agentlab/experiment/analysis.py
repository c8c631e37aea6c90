"""Reading a run folder back without calling a model: runs, rescoring, summaries, listings."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from agentlab.coordination import coordination_metrics
from agentlab.engine import unfit, with_reasks
from agentlab.experiment.config import TASK_GRAPH
from agentlab.experiment.folder import RunFolder
from agentlab.message import Message
from agentlab.protocols.graph import decide
from agentlab.run import ItemResult, Run
from agentlab.stats import mcnemar_exact, mean_and_std, paired_bootstrap


def results_by_unit(folder: RunFolder) -> dict[str, list[ItemResult]]:
    """A run folder's item results (every process's), grouped by run unit."""
    by_unit: dict[str, list[ItemResult]] = {}
    for row in folder.read("results"):
        by_unit.setdefault(row.pop("unit"), []).append(ItemResult(**row))
    return by_unit


def in_task_order(results: list[ItemResult], task: Any) -> list[ItemResult]:
    order = {item.id: k for k, item in enumerate(task.items)}
    return sorted(results, key=lambda r: order.get(r.item_id, len(order)))


def records_by_unit(folder: RunFolder) -> dict[str, list[Message]]:
    """A run folder's messages (every process's), grouped by run unit (topology label and seed)."""
    by_unit: dict[str, list[Message]] = {}
    for row in folder.read("records"):
        by_unit.setdefault(row.pop("unit"), []).append(Message.from_dict(row))
    return by_unit


class Runs(dict[tuple[str, int], Run]):
    """An experiment's runs keyed by (topology label, seed): a dict, and the tables over all of
    them (``to_pandas``), their comparison (``compare()``) and a one-page report."""

    def to_pandas(self, per: str = "run") -> Any:
        """One row per run (``per="run"``: ``al.compare(...).to_pandas()``'s columns), per item or per
        message of every run, with ``topology`` and ``seed`` columns first."""
        from agentlab.views.frames import runs_frame

        if per == "run":
            return self.compare().to_pandas()
        return runs_frame(self, per=per)

    def compare(self) -> Any:
        """Topologies by seed: means and intervals over seeds, each run paired with the first
        topology's run of its seed (``al.compare``)."""
        from agentlab.views.compare import Comparison

        return Comparison(self)

    def _repr_html_(self) -> str:
        return self.compare()._repr_html_()

    def to_html(self, path: str | Path, title: str | None = None) -> Path:
        from agentlab.views.report import write_report

        return write_report(self, path, title)


def folder_meta(folder: RunFolder, cfg: Any, seed: int, task: Any) -> dict[str, Any]:
    """A run's provenance (``Run.meta``) as its folder recorded it: the model as the file gave it,
    the run settings, the task's options with the seed, the versions and commit it ran with."""
    import datetime

    recorded = folder.path / "environment.json"
    environment = json.loads(recorded.read_text()) if recorded.is_file() else {}
    written = datetime.datetime.fromtimestamp((folder.path / "config.yaml").stat().st_mtime, datetime.UTC)
    models = [cfg.model, *cfg.models.values()]
    return {
        "models": [m.model_dump(exclude_defaults=True, mode="json") or {"kind": "default"} for m in models],
        "settings": cfg.run_settings().model_dump(exclude_defaults=True, mode="json"),
        "task_options": {"name": task.name, **task.meta.get("options", {}), "seed": seed},
        "agentlab": environment.get("packages", {}).get("agentlab"),
        "commit": environment.get("git_commit"),
        "date": written.strftime("%Y-%m-%d %H:%M UTC"),
    }


def load_runs(folder: str | Path, rescore: bool = False) -> Runs:
    """The runs of a run folder, rebuilt from its files without calling a model.

    With ``rescore``, each item's answer is decided again from its last-round messages with the
    task's current extractor and scorer (after fixing an extractor, say); otherwise the recorded
    results are used.
    """
    from agentlab import topologies
    from agentlab.experiment.runner import Experiment
    from agentlab.topologies.learning import LEARNERS

    folder = RunFolder(folder)
    if not (folder.path / "config.yaml").is_file():
        raise FileNotFoundError(
            f"{folder.path} is not a run folder (no config.yaml); `agentlab list` shows run folders"
        )
    experiment = Experiment.from_dict(
        yaml.safe_load((folder.path / "config.yaml").read_text()), str(folder.path)
    )
    cfg = experiment.config
    if cfg.simulation is not None:
        raise ValueError(
            f"{folder.path} holds a simulation: its report.html and metrics.json are written by "
            "`agentlab run`; run its file again to rebuild them (every call is replayed, none made)"
        )
    by_unit = records_by_unit(folder)
    recorded = results_by_unit(folder)
    runs = Runs()
    for seed in cfg.seeds:
        task = experiment.task(seed)
        for spec in cfg.topologies:
            unit, fixed_rounds = spec.unit(seed), cfg.unit_rounds(spec)
            messages = by_unit.get(unit, [])
            results = in_task_order(recorded.get(unit, []), task)
            rounds = {item.id: fixed_rounds or task.rounds_for(item) or 1 for item in task.items}
            if rescore:
                if spec.preset == TASK_GRAPH:
                    graph_for: Any = task.graph_for
                elif spec.preset is not None:
                    fixed = topologies.graph(spec.preset, spec.n_agents, **spec.options)
                    graph_for = lambda item, fixed=fixed: fixed  # noqa: E731
                else:
                    saved = folder.learner_path(spec.name, seed)
                    graph_for = LEARNERS.resolve(str(spec.learner)).load(saved).graph_for
                calls = Counter(m.item_id for m in messages)
                graphs = {item.id: graph_for(item) for item in task.items}
                for item in task.items:
                    rounds[item.id] = graphs[item.id].wired_rounds or rounds[item.id]
                last: dict[str, dict[str, str]] = {}
                for m in messages:
                    if m.round == rounds.get(m.item_id, 0) - 1:
                        last.setdefault(m.item_id, {})[m.sender] = m.content
                # only items whose every call is on record finished; a budget may have cut the others
                finished = [
                    item for item in task.items if calls[item.id] == graphs[item.id].calls(rounds[item.id])
                ]
                results = [decide(graphs[item.id], task, item, last[item.id]) for item in finished]
                rejected: dict[str, list[Message]] = {}  # turns the task asked again about, by item
                for m in messages:
                    if m.rejected:
                        rejected.setdefault(m.item_id, []).append(m)
                items = {item.id: item for item in finished}
                for k, result in enumerate(results):
                    if result.item_id in rejected:
                        turns, item = rejected[result.item_id], items[result.item_id]
                        unparsed = sum(unfit(task, item, m, rounds[item.id]) for m in turns)
                        results[k] = with_reasks(result, sum(len(m.rejected) for m in turns), unparsed)
            most = max(rounds.values(), default=1)
            runs[(spec.name, seed)] = Run(
                spec.name, task.name, most, messages, results, *folder.time_spent(unit),
                meta=folder_meta(folder, cfg, seed, task),
            )  # fmt: skip
    return runs


def list_run_folders(root: str | Path = "runs") -> list[dict[str, Any]]:
    rows = []
    for folder in sorted(Path(root).glob("*/config.yaml")):
        run_folder = RunFolder(folder.parent)
        results = run_folder.read("results")
        metrics = folder.parent / "metrics.json"
        rows.append(
            {
                "folder": str(folder.parent),
                "items_done": len(results),
                "messages": len(run_folder.read("records")),
                "finished": metrics.exists() and not json.loads(metrics.read_text()).get("stopped"),
            }
        )
    return rows


def summarize(runs: dict[tuple[str, int], Run]) -> dict[str, Any]:
    """Per run, per topology across seeds, paired tests against the first topology, coordination."""
    out: dict[str, Any] = {
        "runs": {f"{label}/seed{seed}": run.summary() for (label, seed), run in runs.items()}
    }
    labels = list(dict.fromkeys(label for label, _ in runs))
    seeds = sorted({seed for _, seed in runs})
    out["topologies"] = {}
    for label in labels:
        accuracies = [runs[(label, s)].accuracy for s in seeds if (label, s) in runs]
        mean, std = mean_and_std(accuracies)
        out["topologies"][label] = {"accuracy_mean": mean, "accuracy_std": std, "seeds": len(accuracies)}
    reference = labels[0]
    out["paired_vs"] = reference
    out["paired"] = {}
    for label in labels[1:]:
        a, b = [], []
        for s in seeds:
            if (label, s) in runs and (reference, s) in runs:
                mine = {r.item_id: r.score for r in runs[(label, s)].results}
                theirs = {r.item_id: r.score for r in runs[(reference, s)].results}
                shared = sorted(mine.keys() & theirs.keys())
                a += [mine[i] for i in shared]
                b += [theirs[i] for i in shared]
        if a:
            diff, interval, p_boot = paired_bootstrap(a, b)
            out["paired"][label] = {
                "items": len(a),
                "accuracy_difference": diff,
                "ci95": interval,
                "bootstrap_p": p_boot,
                "mcnemar_p": mcnemar_exact(a, b),
            }
    singles = [label for label in labels if label == "single"]
    if singles:
        out["coordination"] = {
            f"{label}/seed{s}": coordination_metrics(runs[(label, s)], runs[("single", s)])
            for label in labels
            if label != "single"
            for s in seeds
            if (label, s) in runs
            and ("single", s) in runs
            and not runs[(label, s)].stopped
            and not runs[("single", s)].stopped
        }
    out["stopped"] = {
        f"{label}/seed{seed}": run.stopped for (label, seed), run in runs.items() if run.stopped
    }
    return out
