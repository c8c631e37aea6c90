"""Loading a benchmark through ``datasets``: from its hub id, or from a local file or folder."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

from agentlab import _hub
from agentlab.tasks.registries import LOADERS
from agentlab.tasks.schemas import SCHEMAS
from agentlab.tasks.task import Item

_FORMATS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def _local_rows(path: Path, split: str) -> tuple[list[dict[str, Any]], str]:
    from datasets import load_dataset

    if path.is_dir():
        candidates = [path / f"{split}{suffix}" for suffix in _FORMATS]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(
                f"no {split} split in {path}: expected one of {', '.join(c.name for c in candidates)}"
            )
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"no file or folder at {path}")
    fmt = _FORMATS.get(path.suffix)
    if fmt is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; use one of {sorted(_FORMATS)}")
    if not path.read_bytes().strip():
        raise ValueError(f"{path} is empty: the {split} split needs one row per item")
    try:
        rows = list(load_dataset(fmt, data_files=str(path), split="train"))
    except Exception as error:  # datasets wraps the parser's error (pyarrow's, pandas') in its own
        if "corresponds to no data" in str(error):  # a header and nothing under it
            raise ValueError(f"{path} holds no rows: the {split} split needs one row per item") from None
        cause = error.__cause__ or error
        raise ValueError(
            f"{path}: cannot read it as {path.suffix.lstrip('.')} ({type(cause).__name__}: {cause}); "
            + ("a .jsonl file holds one JSON object per line" if fmt == "json" else f"is it {fmt}?")
        ) from error
    if not rows:
        raise ValueError(f"{path} holds no rows: the {split} split needs one row per item")
    return rows, str(path)


def _hub_rows(card: dict[str, Any], split: str) -> tuple[list[dict[str, Any]], str]:
    from datasets import load_dataset

    source = card["source"]
    hub_split = card["splits"][split]
    out_of_reach = _hub.unreachable()
    try:
        with _hub.offline() if out_of_reach else contextlib.nullcontext():
            data = load_dataset(source["hub"], source.get("config"), split=hub_split)
    except Exception as error:  # datasets raises many kinds when the hub is out of reach
        why = (
            f"the hub is out of reach ({out_of_reach}) and no cached copy was found"
            if out_of_reach
            else (f"{type(error).__name__}: {error}")
        )
        raise ConnectionError(
            f"could not load {source['hub']} ({source.get('config') or 'default'}, split {hub_split}) "
            f"from the Hugging Face hub: {why}\n"
            f"Load a local copy instead: download that split as .jsonl/.json/.csv/.parquet elsewhere, then "
            f"al.tasks.load({card['name']!r}, split={split!r}, path='path/to/{split}.jsonl') "
            f"(or path= a folder holding train.jsonl and test.jsonl)"
        ) from error
    return list(data), f"{source['hub']}[{hub_split}]"


def load_rows(card: dict[str, Any], split: str, path: str | Path | None) -> list[Item]:
    """Items of one split; each row is checked for the fields its schema needs."""
    if split not in card["splits"]:
        raise ValueError(f"task {card['name']!r} has splits {sorted(card['splits'])}; got {split!r}")
    rows, origin = _local_rows(Path(path), split) if path is not None else _hub_rows(card, split)
    required, convert = SCHEMAS[card["schema"]]
    items = []
    for number, row in enumerate(rows, start=1):
        missing = [f for f in required if row.get(f) is None]
        if missing:
            raise ValueError(
                f"{origin}, row {number}: missing field(s) {missing}; a {card['name']} row needs "
                f"{list(required)}"
            )
        try:
            question, reference, meta = convert(row)
        except (ValueError, TypeError, IndexError, KeyError) as error:
            raise ValueError(f"{origin}, row {number}: cannot read it as {card['name']}: {error}") from error
        items.append(Item(f"{split}-{number - 1}", question, reference, meta))
    return items


@LOADERS.register("hub")
def load_benchmark(
    card: dict[str, Any],
    split: str = "test",
    limit: int | None = None,
    seed: int | None = None,
    path: str | Path | None = None,
    train_path: str | Path | None = None,
    n_train: int | None = None,
    train_split: str = "train",
) -> tuple[list[Item], list[Item]]:
    """``limit`` items of ``split`` (shuffled by ``seed`` first when given); the train split stays apart.

    ``path``: a local file for ``split`` or a folder with one file per split; ``train_path``: a local
    file for the train split when ``path`` is a single file. Without either, the hub is used.
    ``train_split``: which split the training items come from (MMLU's papers train on ``dev``
    and test on ``validation``).
    """
    splits = card["splits"]
    if train_split not in splits:
        raise ValueError(
            f"task {card['name']!r} has splits {sorted(splits)}; got train_split={train_split!r}"
        )
    if split != "train" and splits.get(split) == splits[train_split]:
        raise ValueError(
            f"split {split!r} and train_split {train_split!r} are the same data ({splits[split]}); "
            "learners never train on test items: pick another train_split"
        )
    items = load_rows(card, split, path)
    if seed is not None:
        random.Random(seed).shuffle(items)
    items = items[:limit] if limit is not None else items
    train: list[Item] = []
    if split != "train" or train_split != "train":
        train_source = (
            train_path if train_path is not None else (path if path and Path(path).is_dir() else None)
        )
        if train_source is not None or path is None:
            try:
                train = load_rows(card, train_split, train_source)[:n_train]
            except (ConnectionError, FileNotFoundError):
                train = []  # the test split stands on its own; task.train() will say there is none
    return items, train
