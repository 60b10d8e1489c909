"""Compile rules per (signal, field) into the cheapest lookups: exact dicts, prefix dicts, one regex."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NAMED = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


class Matchable(Protocol):
    """What the index needs of a rule."""

    @property
    def kind(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def ci(self) -> bool: ...


R = TypeVar("R", bound=Matchable)
Hit = tuple[R, tuple[tuple[str, str], ...]]


def scoped(pattern: str, tag: str) -> tuple[str, list[str]]:
    """Rewrite pattern for embedding in an alternation: leading (?i) becomes scoped, groups get tag_."""
    m = _LEADING_FLAGS.match(pattern)
    if m:
        pattern = f"(?{m.group(1)}:{pattern[m.end():]})"
    names = _NAMED.findall(pattern)
    pattern = _NAMED.sub(lambda g: f"(?P<{tag}_{g.group(1)}>", pattern)
    return pattern, names


class CombinedRegex(Generic[R]):
    """One alternation of many anchored regex rules that still reports every rule that matches."""

    def __init__(self, rules: Sequence[R]) -> None:
        self.rules = list(rules)
        self._parts: list[str] = []
        self._names: list[list[str]] = []
        for i, r in enumerate(self.rules):
            p, names = scoped(r.pattern, f"_r{i}")
            self._parts.append(f"(?P<_r{i}>{p})")
            self._names.append(names)
        self._suffix: dict[int, tuple[re.Pattern[str], dict[int, int]]] = {}
        self._from(0)   # compile the full alternation now (load time), suffixes on first need

    def _from(self, start: int) -> tuple[re.Pattern[str], dict[int, int]]:
        got = self._suffix.get(start)
        if got is None:
            rx = re.compile("|".join(self._parts[start:]))
            by_group = {rx.groupindex[f"_r{i}"]: i for i in range(start, len(self.rules))}
            got = self._suffix[start] = (rx, by_group)
        return got

    def match_all(self, value: str) -> list[Hit[R]]:
        """Every rule whose regex matches value at its start, with its named-group fields."""
        out: list[Hit[R]] = []
        start = 0
        n = len(self.rules)
        while start < n:
            rx, by_group = self._from(start)
            m = rx.match(value)
            if m is None:
                break
            i = by_group[m.lastindex or 0]
            fields = tuple((name, v) for name in self._names[i]
                           if (v := m.group(f"_r{i}_{name}")) is not None)
            out.append((self.rules[i], fields))
            start = i + 1
        return out


@dataclass(slots=True)
class KeyIndex(Generic[R]):
    """All rules for one (signal, field) key, compiled."""

    equals: dict[str, list[R]] = field(default_factory=dict)
    equals_ci: dict[str, list[R]] = field(default_factory=dict)
    prefix: dict[int, dict[str, list[R]]] = field(default_factory=dict)
    prefix_ci: dict[int, dict[str, list[R]]] = field(default_factory=dict)
    regex: CombinedRegex[R] | None = None

    def match(self, value: str) -> list[Hit[R]]:
        """Every rule of this key that matches value."""
        out: list[Hit[R]] = []
        v = value.strip()
        if self.equals:
            for r in self.equals.get(v, ()):
                out.append((r, ()))
        low = v.lower() if (self.equals_ci or self.prefix_ci) else v
        if self.equals_ci:
            for r in self.equals_ci.get(low, ()):
                out.append((r, ()))
        for n, table in self.prefix.items():
            for r in table.get(v[:n], ()):
                out.append((r, ()))
        for n, table in self.prefix_ci.items():
            for r in table.get(low[:n], ()):
                out.append((r, ()))
        if self.regex is not None:
            out.extend(self.regex.match_all(v))
        return out


def build(rules: Iterable[R]) -> KeyIndex[R]:
    """Compile rules (all of one key) into a KeyIndex; regex rules keep their order."""
    idx: KeyIndex[R] = KeyIndex()
    rx: list[R] = []
    for r in rules:
        if r.kind == "equals":
            table = idx.equals_ci if r.ci else idx.equals
            table.setdefault(r.pattern.lower() if r.ci else r.pattern, []).append(r)
        elif r.kind == "prefix":
            ptable = idx.prefix_ci if r.ci else idx.prefix
            p = r.pattern.lower() if r.ci else r.pattern
            ptable.setdefault(len(p), {}).setdefault(p, []).append(r)
        else:
            rx.append(r)
    if rx:
        idx.regex = CombinedRegex(rx)
    return idx
