"""Compile rules per (signal, field) into the cheapest lookups: exact dicts, prefix dicts, literal-led regexes.

A regex rule whose pattern begins with literal text (after `^` and flags) is filed under the first
characters of that text, so a value is only tried against the few rules that could match it; rules
with no literal lead share one alternation. Nothing loops over all rules per observation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# re's own parser (Python 3.11+), used only at load time to read a pattern's literal lead
from re import _constants as _sre_constants  # type: ignore[attr-defined]
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Any, Generic, Protocol, TypeVar

AT, AT_BEGINNING, LITERAL = _sre_constants.AT, _sre_constants.AT_BEGINNING, _sre_constants.LITERAL
SUBPATTERN = _sre_constants.SUBPATTERN
SRE_FLAG_IGNORECASE = _sre_constants.SRE_FLAG_IGNORECASE

_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NAMED = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
LEAD: int = 3   # characters of a regex's literal lead used as its dispatch key


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


def literal_lead(pattern: str) -> tuple[str, bool]:
    """The literal ASCII text every match of pattern starts with, and whether it compares case-blind.

    ('^App-webs/', False) for '^App-webs/?$' (the optional '/' is not part of it); ('', False) when the
    pattern can start with anything.
    """
    try:
        parsed: Any = _sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return "", False
    ci = bool(parsed.state.flags & SRE_FLAG_IGNORECASE)
    out: list[str] = []
    for op, arg in list(parsed):
        if op is AT and arg is AT_BEGINNING:
            continue
        if op is LITERAL and arg < 128:
            out.append(chr(arg))
            continue
        if op is SUBPATTERN and not out and not ci and arg[0] is None and arg[1] == SRE_FLAG_IGNORECASE:
            # '^(?i:AXIS)...': a case-blind lead of its own; nothing after it can join a case-blind key
            inner = [chr(a) for o, a in arg[3] if o is LITERAL and a < 128]
            if inner and len(inner) == len(arg[3]):
                return "".join(inner).lower(), True
        break
    lead = "".join(out)
    return (lead.lower() if ci else lead), ci


def required_literal(pattern: str, least: int = 3) -> tuple[str, bool]:
    """The longest ASCII text (at least `least` characters) every match of pattern contains, and whether
    it compares case-blind; ('', False) when there is none. '(?s)^.*?"Brand":"AXIS"' gives '"Brand":"AXIS"'."""
    try:
        parsed: Any = _sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return "", False
    ci = bool(parsed.state.flags & SRE_FLAG_IGNORECASE)
    best, run = "", []
    for op, arg in [*list(parsed), (None, None)]:
        if op is LITERAL and arg < 128:
            run.append(chr(arg))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    if len(best) < least:
        return "", False
    return (best.lower() if ci else best), ci


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
        self._first = self._from(0)[0]

    def _from(self, start: int) -> tuple[re.Pattern[str], dict[int, int]]:
        got = self._suffix.get(start)
        if got is None:
            rx = re.compile("|".join(self._parts[start:]))
            by_group = {rx.groupindex[f"_r{i}"]: i for i in range(start, len(self.rules))}
            got = self._suffix[start] = (rx, by_group)
        return got

    def match_all(self, value: str) -> list[Hit[R]]:
        """Every rule whose regex matches value at its start, with its named-group fields."""
        if self._first.match(value) is None:   # the common case: nothing matches, one C-level call
            return []
        return [h for _, h in self.match_indexed(value)]

    def match_indexed(self, value: str) -> list[tuple[int, Hit[R]]]:
        """match_all, each hit with the rule's position in this alternation."""
        out: list[tuple[int, Hit[R]]] = []
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
            out.append((i, (self.rules[i], fields)))
            start = i + 1
        return out


class _Single(Generic[R]):
    """One regex rule, compiled on first use (a database of thousands of rules loads without compiling)."""

    __slots__ = ("_names", "_rx", "order", "rule")

    def __init__(self, rule: R, order: int) -> None:
        self.rule = rule
        self.order = order
        self._rx: re.Pattern[str] | None = None
        self._names: tuple[str, ...] = ()

    def match(self, value: str) -> Hit[R] | None:
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(self.rule.pattern)
            self._names = tuple(rx.groupindex)
        m = rx.match(value)
        if m is None:
            return None
        return (self.rule, tuple((n, v) for n in self._names if (v := m.group(n)) is not None))


class KeyIndex(Generic[R]):
    """All rules for one (signal, field) key, compiled; `match(value)` returns every rule that matches."""

    __slots__ = ("match", "size")

    def __init__(self, rules: Iterable[R]) -> None:
        equals: dict[str, list[Hit[R]]] = {}
        equals_ci: dict[str, list[Hit[R]]] = {}
        prefix: dict[int, dict[str, list[Hit[R]]]] = {}
        prefix_ci: dict[int, dict[str, list[Hit[R]]]] = {}
        lead: dict[tuple[int, bool], dict[str, list[_Single[R]]]] = {}
        inside: dict[tuple[str, bool], list[_Single[R]]] = {}
        rest: list[R] = []
        size = 0
        for r in rules:
            size += 1
            if r.kind == "equals":
                table = equals_ci if r.ci else equals
                table.setdefault(r.pattern.lower() if r.ci else r.pattern, []).append((r, ()))
            elif r.kind == "prefix":
                ptable = prefix_ci if r.ci else prefix
                p = r.pattern.lower() if r.ci else r.pattern
                ptable.setdefault(len(p), {}).setdefault(p, []).append((r, ()))
            else:
                text, ci = literal_lead(r.pattern)
                if text:
                    key = text[:LEAD]
                    lead.setdefault((len(key), ci), {}).setdefault(key, []).append(_Single(r, size))
                    continue
                text, ci = required_literal(r.pattern)
                if text:   # searched-for rules (page markers, realms after the scheme): a substring test first
                    inside.setdefault((text, ci), []).append(_Single(r, size))
                else:
                    rest.append(r)
        self.size = size
        # flat (length, table, compare case-blind) lists: the hot loop touches only what exists
        fixed = tuple([(n, t, False) for n, t in prefix.items()] + [(n, t, True) for n, t in prefix_ci.items()])
        leads = tuple((n, t, ci) for (n, ci), t in lead.items())
        needles = tuple((text, ci, tuple(group)) for (text, ci), group in inside.items())
        combined: CombinedRegex[R] | None = CombinedRegex(rest) if len(rest) > 1 else None
        single: _Single[R] | None = _Single(rest[0], 0) if len(rest) == 1 else None
        needs_low = bool(equals_ci or prefix_ci or any(ci for _, _, ci in leads) or any(ci for _, ci, _ in needles))

        def match(value: str) -> list[Hit[R]]:
            v = value.strip()
            low = v.lower() if needs_low else v
            out: list[Hit[R]] = []
            if equals:
                got = equals.get(v)
                if got:
                    out.extend(got)
            if equals_ci:
                got = equals_ci.get(low)
                if got:
                    out.extend(got)
            for n, ptab, ci in fixed:
                got = ptab.get((low if ci else v)[:n])
                if got:
                    out.extend(got)
            for n, ltab, ci in leads:
                cands = ltab.get((low if ci else v)[:n])
                if cands:
                    for c in cands:
                        h = c.match(v)
                        if h is not None:
                            out.append(h)
            for text, ci, group in needles:
                if text in (low if ci else v):
                    for c in group:
                        h = c.match(v)
                        if h is not None:
                            out.append(h)
            if single is not None:
                h = single.match(v)
                if h is not None:
                    out.append(h)
            elif combined is not None:
                out.extend(combined.match_all(v))
            return out

        self.match = match


def build(rules: Iterable[R]) -> KeyIndex[R]:
    """Compile rules (all of one key) into a KeyIndex."""
    return KeyIndex(rules)
