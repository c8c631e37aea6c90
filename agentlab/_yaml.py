"""Reading YAML a person wrote: a repeated key or a syntax error is an error naming file:line:column,
never a silent override or a parser traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if key in seen:
                first = seen[key].start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first on line {first.line + 1}); keep one",
                    key_node.start_mark,
                )  # fmt: skip
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_text(text: str, source: str) -> Any:
    """The document in ``text``; a ``ValueError`` reading ``source:line:column: problem`` otherwise.

    >>> load_text("a: 1\\na: 2\\n", "x.yaml")
    Traceback (most recent call last):
    ...
    ValueError: x.yaml:2:1: key 'a' appears twice (first on line 1); keep one
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: builds plain data only
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = error.problem or error.context or "invalid YAML"
        context = f" ({error.context})" if error.context and error.problem else ""
        raise ValueError(f"{where}: {problem}{context}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: invalid YAML: {error}") from None


def load_file(path: str | Path) -> Any:
    path = Path(path)
    return load_text(path.read_text(encoding="utf-8"), str(path))
