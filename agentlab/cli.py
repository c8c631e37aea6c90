"""The ``agentlab`` command: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# (preset, agents, rounds) per demo task
DEMO_TOPOLOGIES = {
    "hidden-fact": (("single", 1, 1), ("chain", 4, 1), ("star", 4, 1), ("debate", 4, 1)),
    "arithmetic": (("single", 1, 1), ("chain", 3, 1), ("star", 4, 1), ("debate", 3, 2)),
}
DEMO_SAYS = {
    "hidden-fact": (
        "One agent of each team is told the answer: alone, agent0 knows it a quarter of the time; "
        "a graph that brings the told agent's words to the decision (a chain's end, the star's hub, "
        "debate's vote) answers far more often."
    ),
    "arithmetic": (
        "Every agent reads the whole problem: what it hears rarely changes the embedded model's answer."
    ),
}


def demo(
    task_name: str, n: int, out: Path, max_new_tokens: int, temperature: float, seed: int, cache: bool
) -> int:
    """Compare preset topologies with the embedded model; print a table, write a report."""
    import agentlab as al
    from agentlab.views.report import text_table, write_report

    print(f"Loading the embedded model ({al.models.embedded.NAME}); the first load converts it (~30 s)...")
    llm = al.models.default(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    task = al.tasks.load(task_name, n=n, seed=0)
    runs = {}
    for name, n_agents, rounds in DEMO_TOPOLOGIES[task_name]:
        team = al.topologies.load(name, n_agents=n_agents, model=llm)
        runs[name] = team.run(task, rounds=rounds, cache=cache)
    print()
    print(text_table(runs))
    print(f"\n{DEMO_SAYS[task_name]}")
    path = write_report(runs, out / "report.html", title=f"Preset topologies on {task_name} ({n} items)")
    print(f"\nReport: {path}")
    return 0


def run_experiment(path: Path, root: Path, plan_only: bool = False) -> int:
    from agentlab.experiment import Experiment

    experiment = Experiment.from_yaml(path)
    if plan_only:
        from agentlab.experiment.plan import plan, plan_table

        print(plan_table(plan(experiment)))
        print(
            "\nNothing was called. Tokens are estimated at ~4 characters a token with every reply "
            "max_new_tokens long; ≤: a learner's dense starting graph, which training prunes."
        )
        return 0
    result = experiment.run(root)
    if not result.metrics:  # a helper process under accelerate launch: the first one reports
        return 0
    print()
    print(result.table())
    stopped = result.metrics.get("stopped")
    for unit, why in (stopped or {}).items():
        print(f"{unit}: stopped early, {why}; run the same command to go on")
    print(f"\nRun folder: {result.folder}")
    return 0


def report(folder: Path, rescore: bool) -> int:
    import json

    from agentlab.experiment import RunFolder, load_runs, summarize
    from agentlab.views.report import text_table, write_report

    runs = load_runs(folder, rescore=rescore)
    print(text_table(runs))
    if rescore:
        RunFolder(folder).write("metrics.json", json.dumps(summarize(runs), indent=2, default=str))
        print(f"\nRescored from records: {folder / 'metrics.json'}")
    path = write_report(runs, folder / "report.html", title=folder.name)
    print(f"Report: {path}")
    return 0


def list_runs(root: Path) -> int:
    from agentlab.experiment import list_run_folders

    rows = list_run_folders(root)
    if not rows:
        print(f"no run folders under {root}")
    for row in rows:
        state = "finished" if row["finished"] else "unfinished (run its file again to resume)"
        print(f"{row['folder']}: {row['items_done']} items done, {row['messages']} messages, {state}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="small experiment on the embedded model: table + report")
    p.add_argument("--task", choices=sorted(DEMO_TOPOLOGIES), default="hidden-fact",
                   help="hidden-fact (default: needs communication) or arithmetic")  # fmt: skip
    p.add_argument("--n", type=int, default=40, help="items (default 40)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report folder (default runs/demo)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--temperature", type=float, default=0.0, help="above 0 samples (seeded, so still cached)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed; seeded calls are cached")
    p.add_argument("--no-cache", action="store_true", help="call the model even for calls made before")
    p = commands.add_parser("run", help="run (or resume) an experiment file into runs/<name>/")
    p.add_argument("file", type=Path)
    p.add_argument("--root", type=Path, default=Path("runs"), help="where run folders go (default runs/)")
    p.add_argument(
        "--plan", action="store_true", help="print the units, calls and estimated tokens; call nothing"
    )
    p = commands.add_parser("report", help="rebuild a run folder's report.html and print its table")
    p.add_argument("folder", type=Path)
    p = commands.add_parser("rescore", help="recompute a run folder's answers and metrics from its records")
    p.add_argument("folder", type=Path)
    p = commands.add_parser("list", help="list run folders")
    p.add_argument("--root", type=Path, default=Path("runs"))
    args = parser.parse_args(argv)
    from agentlab.cache import CacheUnavailable
    from agentlab.experiment.folder import DiskFull, FolderInUse

    try:
        if args.command == "demo":
            return demo(
                args.task,
                args.n,
                args.out,
                args.max_new_tokens,
                args.temperature,
                args.seed,
                not args.no_cache,
            )
        if args.command == "run":
            return run_experiment(args.file, args.root, args.plan)
        if args.command in ("report", "rescore"):
            return report(args.folder, rescore=args.command == "rescore")
        return list_runs(args.root)
    except (ValueError, FileNotFoundError, FolderInUse, DiskFull, CacheUnavailable) as error:
        print(f"agentlab {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
