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
SUBPATTERN, BRANCH, ASSERT = _sre_constants.SUBPATTERN, _sre_constants.BRANCH, _sre_constants.ASSERT
SRE_FLAG_IGNORECASE = _sre_constants.SRE_FLAG_IGNORECASE

_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NAMED = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
MIN_LEAD: int = 8   # a shorter lead loses to a longer text the match must contain ('Basic' vs 'realm="AXIS_')
LEAD: int = 32   # characters of a regex's literal lead used to file it (a trie walked along the value)


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


MAX_LEADS: int = 16   # a rule fans out into at most this many leads ('^(?:Digest|Basic) realm="DS-' -> 2)


def _leads(items: Any, heads: list[str]) -> tuple[list[str], bool]:
    """Extend heads along a parsed sequence while it is literal; True when the whole sequence was literal."""
    for op, arg in list(items):
        if op is AT and arg is AT_BEGINNING:
            continue
        if op is LITERAL and arg < 128:
            heads = [h + chr(arg) for h in heads]
            continue
        if op is SUBPATTERN and arg[1] == 0 and arg[2] == 0:   # a group, no flag change: its text is required
            heads, whole = _leads(arg[3], heads)
            if whole:
                continue
            return heads, False
        if op is BRANCH:
            alts = arg[1]
            if len(alts) * len(heads) > MAX_LEADS:
                return heads, False
            grown: list[str] = []
            every_whole = True
            for alt in alts:
                got, whole = _leads(alt, heads)
                grown += got
                every_whole = every_whole and whole
            heads = grown
            if every_whole:
                continue
            return heads, False
        return heads, False
    return heads, True


def literal_leads(pattern: str) -> tuple[list[str], bool]:
    """The literal ASCII texts one of which every match of pattern starts with, and whether they compare
    case-blind: (['App-webs'], False) for '^App-webs/?$'; (['Digest realm="', 'Basic realm="'], False) for
    '^(?:Digest|Basic) realm="'; ([], False) when the pattern can start with anything."""
    try:
        parsed: Any = _sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return [], False
    ci = bool(parsed.state.flags & SRE_FLAG_IGNORECASE)
    items = [it for it in list(parsed) if not (it[0] is AT and it[1] is AT_BEGINNING)]
    if items and not ci and items[0][0] is SUBPATTERN and items[0][1][1] == SRE_FLAG_IGNORECASE \
            and items[0][1][2] == 0:
        # '^(?i:AXIS)...': a case-blind lead of its own; nothing after it can join a case-blind key
        heads, _ = _leads(items[0][1][3], [""])
        heads = [h.lower() for h in heads]
        return (heads, True) if all(heads) else ([], False)
    heads, _ = _leads(items, [""])
    if not all(heads):
        return [], False
    return ([h.lower() for h in heads] if ci else heads), ci


def literal_lead(pattern: str) -> tuple[str, bool]:
    """The single literal lead of pattern ('' when it has none or several)."""
    heads, ci = literal_leads(pattern)
    return (heads[0], ci) if len(heads) == 1 else ("", False)


Needles = tuple[tuple[str, bool], ...]   # any one of these texts (case-blind when True) is in every match


def _better(a: Needles | None, b: Needles | None) -> Needles | None:
    """The more selective requirement: the one whose shortest text is longer."""
    if not a:
        return b
    if not b:
        return a
    return a if min(len(t) for t, _ in a) >= min(len(t) for t, _ in b) else b


def _needles(items: Any, ci: bool) -> Needles | None:
    """What every match of a parsed sequence must contain: the best literal run, or a group's own needs."""
    best: Needles | None = None
    run: list[str] = []
    run_ci = False

    def close() -> None:
        nonlocal best, run, run_ci
        if run:
            text = "".join(run)
            best = _better(best, ((text.lower() if run_ci else text, run_ci),))
        run, run_ci = [], False

    for op, arg in list(items):
        if op is LITERAL and arg < 128:
            run.append(chr(arg))
            run_ci = run_ci or ci
            continue
        if op is SUBPATTERN and arg[2] == 0 and arg[1] in (0, SRE_FLAG_IGNORECASE):
            inner_ci = ci or arg[1] == SRE_FLAG_IGNORECASE
            sub = list(arg[3])
            if sub and all(o is LITERAL and a < 128 for o, a in sub):   # '(?i:iPolis)': still one run
                run.extend(chr(a) for _, a in sub)
                run_ci = run_ci or inner_ci
                continue
            close()
            best = _better(best, _needles(sub, inner_ci))
            continue
        close()
        if op is ASSERT and arg[0] == 1:   # a lookahead '(?=.*\\bO=Acme\\b)': what it needs, the match needs
            best = _better(best, _needles(arg[1], ci))
        if op is BRANCH:
            alts = [_needles(alt, ci) for alt in arg[1]]
            if all(alts):
                union = tuple(dict.fromkeys(n for alt in alts if alt for n in alt))
                if len(union) <= MAX_LEADS:
                    best = _better(best, union)
    close()
    return best


def required_literals(pattern: str, least: int = 3) -> Needles:
    """Texts one of which every match of pattern contains (ASCII, at least `least` characters each), with
    whether each compares case-blind; () when there is no such text. Case-blind comparison of a text the
    pattern matches case-sensitively only lets more values through, never fewer."""
    try:
        parsed: Any = _sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return ()
    got = _needles(parsed, bool(parsed.state.flags & SRE_FLAG_IGNORECASE))
    if not got or min(len(t) for t, _ in got) < least:
        return ()
    return got


def required_literal(pattern: str, least: int = 3) -> tuple[str, bool]:
    """The single text every match of pattern contains ('' when there is none or several)."""
    got = required_literals(pattern, least)
    return got[0] if len(got) == 1 else ("", False)


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

    __slots__ = ("_names", "_rx", "multi", "order", "rule")

    def __init__(self, rule: R, order: int, multi: bool = False) -> None:
        self.rule = rule
        self.order = order
        self.multi = multi   # filed under several leads or texts: one value may reach it twice
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


def _try(cands: Iterable[_Single[R]], v: str, out: list[Hit[R]], tried: set[int] | None) -> set[int] | None:
    """Match each candidate against v into out; a rule filed under several leads or texts is tried once
    per value (tried: their orders so far, made on first need). The updated tried set."""
    for c in cands:
        if c.multi:
            tried = tried if tried is not None else set()
            if c.order in tried:
                continue
            tried.add(c.order)
        h = c.match(v)
        if h is not None:
            out.append(h)
    return tried


Radix = tuple[list[Any], dict[str, tuple[str, Any]]]   # (rules here, first char -> (edge text, child))


def _compress(node: dict[str, Any]) -> Radix:
    """A char trie ({char: node, "": rules}) as a radix tree: chains without rules become one edge."""
    kids: dict[str, tuple[str, Any]] = {}
    for ch, child in node.items():
        if ch == "":
            continue
        edge = ch
        while "" not in child and len(child) == 1:
            (nxt, grand), = child.items()
            edge += nxt
            child = grand
        kids[ch] = (edge, _compress(child))
    return (node.get("", []), kids)


class KeyIndex(Generic[R]):
    """All rules for one (signal, field) key, compiled; `match(value)` returns every rule that matches."""

    __slots__ = ("match", "size")

    def __init__(self, rules: Iterable[R]) -> None:
        equals: dict[str, list[Hit[R]]] = {}
        equals_ci: dict[str, list[Hit[R]]] = {}
        prefix: dict[int, dict[str, list[Hit[R]]]] = {}
        prefix_ci: dict[int, dict[str, list[Hit[R]]]] = {}
        tries: tuple[dict[str, Any], dict[str, Any]] = ({}, {})   # exact, case-blind: char -> node; "" -> rules
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
                heads, ci = literal_leads(r.pattern)
                reqs = required_literals(r.pattern)
                shortest = min((len(t) for t, _ in reqs), default=0)
                single_rule = _Single(r, size, multi=len(heads) > 1 or len(reqs) > 1)
                if heads and min(map(len, heads)) >= min(shortest, MIN_LEAD):
                    for head in dict.fromkeys(heads):
                        node = tries[ci]
                        for ch in head[:LEAD]:
                            node = node.setdefault(ch, {})
                        node.setdefault("", []).append(single_rule)
                elif reqs:   # searched-for rules (page markers, realms after the scheme): substring tests first
                    for text, nci in reqs:
                        inside.setdefault((text, nci), []).append(single_rule)
                else:
                    rest.append(r)
        self.size = size
        # flat (length, table, compare case-blind) lists: the hot loop touches only what exists
        fixed = tuple([(n, t, False) for n, t in prefix.items()] + [(n, t, True) for n, t in prefix_ci.items()])
        exact_trie: Radix | None = _compress(tries[0]) if tries[0] else None
        blind_trie: Radix | None = _compress(tries[1]) if tries[1] else None
        needles = tuple((text, ci, tuple(group)) for (text, ci), group in inside.items())
        combined: CombinedRegex[R] | None = CombinedRegex(rest) if len(rest) > 1 else None
        single: _Single[R] | None = _Single(rest[0], 0) if len(rest) == 1 else None
        needs_low = bool(equals_ci or prefix_ci or blind_trie or any(ci for _, ci, _ in needles))

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
            tried: set[int] | None = None
            for trie, text in ((exact_trie, v), (blind_trie, low)):
                if trie is None:
                    continue
                kids = trie[1]
                pos, end = 0, len(text)
                while pos < end:   # walk the leads this value starts with; rules hang where their lead ends
                    step = kids.get(text[pos])
                    if step is None or not text.startswith(step[0], pos):
                        break
                    pos += len(step[0])
                    cands, kids = step[1]
                    if cands:
                        tried = _try(cands, v, out, tried)
            for text, ci, group in needles:
                if text in (low if ci else v):
                    tried = _try(group, v, out, tried)
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
