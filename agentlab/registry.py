"""Named extension points: one registry per kind of thing a user can add (learners, model backends,
tasks, presets), filled by the thing itself where it is defined.

A name resolves through its registry alone, so validation (an experiment file's ``learner:`` or
``kind:``), loading and the did-you-mean hint all read the same list and none can fall behind.
Entries may need packages that are not installed; such an entry still resolves by name, and only
using it raises an ``ImportError`` carrying the install command (Inspect AI's lazy providers).
Outside packages register through the entry-point group ``agentlab.<kind>`` (e.g.
``agentlab.learners``), each entry point naming the module to import.

>>> colours = Registry("colour")
>>> @colours.register("red")
... def red() -> str:
...     return "#f00"
>>> colours.resolve("red")()
'#f00'
>>> colours.resolve("rde")
Traceback (most recent call last):
...
ValueError: could not resolve colour 'rde' among choices ['red']; did you mean 'red'?
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, TypeVar

T = TypeVar("T")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    value: T
    requires: tuple[str, ...] = ()  # import names that must be installed to use it
    install: str | None = None  # the command that installs them

    def missing(self) -> list[str]:
        return [module for module in self.requires if importlib.util.find_spec(module) is None]


class Registry(Generic[T]):
    """A name -> thing map for one extension point.

    ``packages``: packages whose modules register the built-in entries as they are imported; every
    module in them is imported on the first lookup (not before, so importing agentlab does not
    load torch-geometric just to know the learners' names).
    """

    def __init__(
        self, kind: str, packages: Iterable[str] = (), discover: Callable[[Registry[T]], None] | None = None
    ) -> None:
        """``discover``: called once on the first lookup to add entries found elsewhere (the YAML cards)."""
        self.kind = kind
        self._packages = tuple(packages)
        self._discover_more = discover
        self._entries: dict[str, Entry[T]] = {}
        self._discovered = False

    def register(
        self, name: str, *, requires: Iterable[str] = (), install: str | None = None
    ) -> Callable[[T], T]:
        """A decorator: ``@registry.register("name")`` over a class or a function."""

        def add(value: T) -> T:
            self.add(name, value, requires=requires, install=install)
            return value

        return add

    def add(self, name: str, value: T, *, requires: Iterable[str] = (), install: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty name; got {name!r}")
        known = self._entries.get(name)
        if known is not None and known.value is not value and _qualname(known.value) != _qualname(value):
            raise ValueError(
                f"{self.kind} {name!r} is already registered ({_qualname(known.value)}); "
                "give the new one another name"
            )
        self._entries[name] = Entry(name, value, tuple(requires), install)

    def remove(self, name: str) -> None:
        """Forgets ``name`` (a notebook redefining a thing under another name, tests)."""
        self._entries.pop(name, None)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True  # before importing: a module being imported may look names up
        try:
            for package in self._packages:
                found = importlib.import_module(package)
                for module in pkgutil.iter_modules(found.__path__, f"{package}."):
                    importlib.import_module(module.name)
            if self._discover_more is not None:
                self._discover_more(self)
            for point in metadata.entry_points(group=f"agentlab.{self.kind.replace(' ', '_')}s"):
                point.load()
        except BaseException:
            self._discovered = False
            raise

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def entry(self, name: str) -> Entry[T]:
        self._discover()
        known = self._entries.get(name)
        if known is None:
            raise ValueError(
                f"could not resolve {self.kind} {name!r} among choices {self.names()}"
                f"{did_you_mean(str(name), self._entries)}"
            )
        return known

    def resolve(self, name: str) -> T:
        """The thing registered as ``name``; an unknown name, or one whose packages are missing,
        raises with what to do."""
        known = self.entry(name)
        missing = known.missing()
        if missing:
            how = known.install or f"pip install {' '.join(missing)}"
            raise ImportError(f"{self.kind} {name!r} needs {', '.join(missing)}; install with: {how}")
        return known.value

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"


def _qualname(value: object) -> str:
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
