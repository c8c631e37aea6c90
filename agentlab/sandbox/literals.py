"""Plain values across the sandbox's boundary: one JSON line per value.

A sandboxed function's arguments go in and its results come back in this form. Only plain values
cross: None, booleans, ints, floats, complex numbers, strings, bytes, and lists, tuples, dicts,
sets and frozensets of them, each of exactly its built-in type. A subclass (a list whose ``__eq__``
is always true) or any other object is refused on the way out, and whatever bytes arrive, the
reading side builds only built-in values, so the code that compares them never runs the
sandboxed program's methods.

This file is imported by agentlab and copied into the sandbox beside the harness: it imports only
the standard library.

>>> decode(encode([1, 2.5, "a", (None, True), {b"k": {3, 4}}]))
[1, 2.5, 'a', (None, True), {b'k': {3, 4}}]
>>> encode(type("Sneaky", (list,), {})())  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
NotPlain: a Sneaky is not a plain value (numbers, strings, ...)
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100  # nesting a test could need; deeper is refused on both sides

# The tag of each container or non-JSON scalar; a JSON array is a list, a string a str.
_TAGS = {tuple: "t", set: "s", frozenset: "fs", dict: "d", bytes: "b", float: "f", complex: "c"}


class NotPlain(TypeError):
    """A value that may not cross the boundary, or bytes that do not encode one."""


def _tree(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlain(f"a value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return {"f": repr(value)}  # keeps inf, -inf, nan and -0.0, which JSON numbers do not
    if kind is complex:
        return {"c": [repr(value.real), repr(value.imag)]}
    if kind is bytes:
        return {"b": value.decode("latin-1")}
    if kind is list:
        return [_tree(v, depth + 1) for v in value]
    if kind is tuple or kind is set or kind is frozenset:
        return {_TAGS[kind]: [_tree(v, depth + 1) for v in value]}
    if kind is dict:
        return {"d": [[_tree(k, depth + 1), _tree(v, depth + 1)] for k, v in value.items()]}
    raise NotPlain(
        f"a {kind.__name__} is not a plain value (numbers, strings, bytes, booleans, None, "
        "and lists, tuples, dicts and sets of them)"
    )


def encode(value: Any) -> bytes:
    """One line (no newline inside) that ``decode`` turns back into an equal plain value."""
    return json.dumps(_tree(value, 0), ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


def _value(tree: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlain(f"a value nested deeper than {MAX_DEPTH} levels")
    kind = type(tree)
    if tree is None or kind is bool or kind is int or kind is str:
        return tree
    if kind is list:
        return [_value(v, depth + 1) for v in tree]
    if kind is not dict or len(tree) != 1:
        raise NotPlain(f"not an encoded plain value: {str(tree)[:80]}")
    ((tag, body),) = tree.items()
    if tag == "f" and type(body) is str:
        return float(body)
    if tag == "c" and type(body) is list and len(body) == 2 and all(type(x) is str for x in body):
        return complex(float(body[0]), float(body[1]))
    if tag == "b" and type(body) is str:
        return body.encode("latin-1")
    if type(body) is not list:
        raise NotPlain(f"not an encoded plain value: {str(tree)[:80]}")
    if tag == "t":
        return tuple(_value(v, depth + 1) for v in body)
    if tag == "s":
        return {_value(v, depth + 1) for v in body}
    if tag == "fs":
        return frozenset(_value(v, depth + 1) for v in body)
    if tag == "d" and all(type(pair) is list and len(pair) == 2 for pair in body):
        return {_value(k, depth + 1): _value(v, depth + 1) for k, v in body}
    raise NotPlain(f"not an encoded plain value: {str(tree)[:80]}")


def decode(line: bytes) -> Any:
    """The plain value ``line`` encodes; ``NotPlain`` for anything else (never another type)."""
    try:
        tree = json.loads(line)
        return _value(tree, 0)
    except NotPlain:
        raise
    except (ValueError, TypeError, RecursionError, UnicodeDecodeError) as error:
        # TypeError: an unhashable key or set member; ValueError: bad JSON, a float that is not one
        raise NotPlain(f"not an encoded plain value: {type(error).__name__}: {error}"[:200]) from None
