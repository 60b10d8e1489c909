"""Compile rules per (signal, field) into the cheapest lookups: exact dicts, prefix dicts, literal-led regexes.

A regex rule whose pattern begins with literal text (after `^` and flags) is filed under the first
characters of that text (a radix tree walked along the value, which also holds the prefix rules); one that must
contain some text somewhere is filed under the text the key's real values hold least often (the text may run on
through optional parts and alternatives), its other selective requirements checked by `in` before its regex
runs, and one scan of the value finds every such text it holds; rules with neither share one alternation. A
place holding one rule holds the rule itself, tried inline; several are tried as one alternation, so a value
none of them matches costs one C-level call. Nothing loops over all rules per observation, and every filter is
a necessary condition: the regexes alone decide. An index's match() is written out on its first value with only
the steps for the kinds of rule it holds (the engine writes them into each signal's own match()).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter

# re's own parser (Python 3.11+), used only at load time to read a pattern's literal lead
from re import _constants as _sre_constants  # type: ignore[attr-defined]
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Any, Generic, Protocol, TypeVar, cast

AT, AT_BEGINNING, LITERAL = _sre_constants.AT, _sre_constants.AT_BEGINNING, _sre_constants.LITERAL
SUBPATTERN, BRANCH, ASSERT = _sre_constants.SUBPATTERN, _sre_constants.BRANCH, _sre_constants.ASSERT
MIN_REPEAT, ANY, MAXREPEAT = _sre_constants.MIN_REPEAT, _sre_constants.ANY, _sre_constants.MAXREPEAT
MAX_REPEAT = _sre_constants.MAX_REPEAT
SRE_FLAG_IGNORECASE = _sre_constants.SRE_FLAG_IGNORECASE

_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NAMED = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
MIN_LEAD: int = 8   # a shorter lead loses to a longer text the match must contain ('Basic' vs 'realm="AXIS_')
LEAD: int = 32   # characters of a regex's literal lead used to file it (a trie walked along the value)
GATE: int = 16   # at most this many first characters of a value tested before a trie is walked along it


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
        if op in (MAX_REPEAT, MIN_REPEAT) and arg[0] == 0 and arg[1] == 1 and 2 * len(heads) <= MAX_LEADS:
            got, whole = _leads(arg[2], heads)   # an optional literal ('^\\.?1\\.3\\.6'): there or not, both go on
            if whole:
                heads = got + heads
                continue
        return heads, False
    return heads, True


def _unprefixed(heads: list[str]) -> list[str]:
    """The heads no other head is a prefix of, in order (a match starting with 'ab/' starts with 'ab')."""
    return [h for k, h in enumerate(heads)
            if not any(h.startswith(o) and (o != h or j < k) for j, o in enumerate(heads) if j != k)]


def literal_leads(pattern: str) -> tuple[list[str], bool]:
    """The literal ASCII texts one of which every match of pattern starts with, and whether they compare
    case-blind: (['App-webs'], False) for '^App-webs/?$'; (['Digest realm="', 'Basic realm="'], False) for
    '^(?:Digest|Basic) realm="'; ([], False) when the pattern can start with anything."""
    return _leads_of(_parse(pattern))


def _leads_of(parsed: Any) -> tuple[list[str], bool]:
    """literal_leads of a parsed pattern (None: unparseable)."""
    if parsed is None:
        return [], False
    ci = bool(parsed.state.flags & SRE_FLAG_IGNORECASE)
    items = [it for it in list(parsed) if not (it[0] is AT and it[1] is AT_BEGINNING)]
    if items and not ci and items[0][0] is SUBPATTERN and items[0][1][1] == SRE_FLAG_IGNORECASE \
            and items[0][1][2] == 0:
        # '^(?i:AXIS)...': a case-blind lead of its own; nothing after it can join a case-blind key
        heads, _ = _leads(items[0][1][3], [""])
        heads = _unprefixed([h.lower() for h in heads])
        return (heads, True) if all(heads) else ([], False)
    heads, _ = _leads(items, [""])
    if not all(heads):
        return [], False
    return _unprefixed([h.lower() for h in heads] if ci else heads), ci


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


def _literal_prefix(items: Any) -> str:
    """The ASCII text a parsed sequence starts with ('' if it starts otherwise)."""
    out = []
    for op, arg in list(items):
        if op is not LITERAL or arg >= 128:
            break
        out.append(chr(arg))
    return "".join(out)


def _heads(items: Any, ci: bool, heads: list[str]) -> tuple[list[str], bool, bool]:
    """Extend heads along a parsed sequence while it is literal, through groups (case-blind ones too), small
    alternations and optional literal parts ('(?:SmartAX )?MT' -> ['SmartAX MT', 'MT']): (heads, whether the
    whole sequence was taken, whether any case-blind text was). Every match of the sequence, after one of the
    given heads, goes on with one of the returned ones."""
    blind = False
    for op, arg in list(items):
        if op is LITERAL and arg < 128:
            heads = [h + chr(arg) for h in heads]
            blind = blind or ci
            continue
        if op is SUBPATTERN and arg[2] == 0 and arg[1] in (0, SRE_FLAG_IGNORECASE):
            heads, whole, got_ci = _heads(arg[3], ci or arg[1] == SRE_FLAG_IGNORECASE, heads)
            blind = blind or got_ci
            if whole:
                continue
            return heads, False, blind
        if op is BRANCH and len(arg[1]) * len(heads) <= MAX_LEADS:
            grown: list[str] = []
            every_whole = True
            for alt in arg[1]:
                got, whole, got_ci = _heads(alt, ci, heads)
                grown += got
                every_whole = every_whole and whole
                blind = blind or got_ci
            heads = grown
            if every_whole:
                continue
            return heads, False, blind
        if op in (MAX_REPEAT, MIN_REPEAT) and arg[0] == 0 and arg[1] == 1 and 2 * len(heads) <= MAX_LEADS:
            got, whole, got_ci = _heads(arg[2], ci, heads)
            if whole:   # there or not: both ways go on
                heads = got + heads
                blind = blind or got_ci
                continue
        return heads, False, blind
    return heads, True, blind


def _shortest(texts: Iterable[str]) -> list[str]:
    """The texts none of the others is a prefix of (holding 'ab' is implied by holding 'abc')."""
    out: list[str] = []
    for t in sorted(dict.fromkeys(texts), key=len):
        if not any(t.startswith(k) for k in out):
            out.append(t)
    return out


def _needles(items: Any, ci: bool, every: list[Needles] | None = None) -> Needles | None:
    """What every match of a parsed sequence must contain: the best literal run, or a group's own needs.
    every (when given) collects each requirement found on the way, not only the best."""
    best: Needles | None = None
    run: list[str] = []
    run_ci = False

    def consider(got: Needles | None) -> None:
        nonlocal best
        if got and every is not None:
            every.append(got)
        best = _better(best, got)

    def close() -> None:
        nonlocal run, run_ci
        if run:
            text = "".join(run)
            consider(((text.lower() if run_ci else text, run_ci),))
        run, run_ci = [], False

    seq = list(items)
    for k, (op, arg) in enumerate(seq):
        if op is LITERAL and arg < 128:
            run.append(chr(arg))
            run_ci = run_ci or ci
            continue
        if run:   # the run may go on through groups, alternatives and optional parts: 'realm="(?:SmartAX )?MT'
            text = "".join(run)
            heads, _, heads_ci = _heads(seq[k:], ci, [text])
            cased = run_ci or heads_ci
            texts = _shortest(h.lower() if cased else h for h in heads)
            if texts != [text.lower() if cased else text] and len(texts) <= MAX_LEADS:
                consider(tuple((t, cased) for t in texts))
        if op is SUBPATTERN and arg[2] == 0 and arg[1] in (0, SRE_FLAG_IGNORECASE):
            inner_ci = ci or arg[1] == SRE_FLAG_IGNORECASE
            sub = list(arg[3])
            if sub and all(o is LITERAL and a < 128 for o, a in sub):   # '(?i:iPolis)': still one run
                run.extend(chr(a) for _, a in sub)
                run_ci = run_ci or inner_ci
                continue
            lead = _literal_prefix(sub)
            if lead:   # 'realm="(?P<model>TV-IP\\d+)': the run goes on into the group's own literal start
                run.extend(lead)
                run_ci = run_ci or inner_ci
            close()
            consider(_needles(sub, inner_ci, every))   # a group's text is required: so is all it requires
            continue
        if op is BRANCH and run:   # 'D(?:VR|igital Video Recorder)': the run goes on into each alternative
            leads = [_literal_prefix(alt) for alt in arg[1]]
            if len(leads) <= MAX_LEADS:
                head = "".join(run)
                cased = run_ci or ci
                consider(tuple(dict.fromkeys(((head + lead).lower() if cased else head + lead, cased)
                                             for lead in leads)))
                run, run_ci = [], False
        close()
        if op is ASSERT and arg[0] == 1:   # a lookahead '(?=.*\\bO=Acme\\b)': what it needs, the match needs
            consider(_needles(arg[1], ci, every))
        if op is BRANCH:   # one alternative's needs are not required: only their union is
            alts = [_needles(alt, ci) for alt in arg[1]]
            if all(alts):
                union = tuple(dict.fromkeys(n for alt in alts if alt for n in alt))
                if len(union) <= MAX_LEADS:
                    consider(union)
    close()
    return best


def _parse(pattern: str) -> Any:
    try:
        return _sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return None


def required_literals(pattern: str, least: int = 3) -> Needles:
    """Texts one of which every match of pattern contains (ASCII, at least `least` characters each), with
    whether each compares case-blind; () when there is no such text. Case-blind comparison of a text the
    pattern matches case-sensitively only lets more values through, never fewer."""
    parsed = _parse(pattern)
    if parsed is None:
        return ()
    got = _needles(parsed, bool(parsed.state.flags & SRE_FLAG_IGNORECASE))
    if not got or min(len(t) for t, _ in got) < least:
        return ()
    return got


def required_options(pattern: str, least: int = 3) -> list[Needles]:
    """Every requirement of pattern that required_literals weighs (each: texts one of which every match
    contains, at least `least` characters each), best by length first; each alone is a sound filter."""
    return _options_of(_parse(pattern), least)


def _options_of(parsed: Any, least: int = 3) -> list[Needles]:
    """required_options of a parsed pattern (None: unparseable)."""
    if parsed is None:
        return []
    every: list[Needles] = []
    best = _needles(parsed, bool(parsed.state.flags & SRE_FLAG_IGNORECASE), every)
    out = [best] if best else []
    out += [n for n in every if n != best]
    return [n for n in dict.fromkeys(out) if min(len(t) for t, _ in n) >= least]


class _Sample:
    """What a key's values look like (its rules' real examples, stripped): which of them hold a text, as bits."""

    def __init__(self, values: list[str]) -> None:
        self.values = values
        self.lows = [v.lower() for v in values]
        self._masks: dict[tuple[str, bool], int] = {}
        self._joined = ("\0".join(values), "\0".join(self.lows))   # one string per case mode: C-level finds
        self._starts: tuple[list[int], list[int]] = ([], [])
        for k, vals in enumerate((values, self.lows)):
            at = 0
            for v in vals:
                self._starts[k].append(at)
                at += len(v) + 1

    def mask(self, n: Needles) -> int:
        """Bit j set: value j holds one of the texts n (case-blind ones compared lower-cased)."""
        out = 0
        for t, ci in n:
            got = self._masks.get((t, ci))
            if got is None:
                got = self._masks[(t, ci)] = self._mask(t, ci)
            out |= got
        return out

    def _mask(self, t: str, ci: bool) -> int:
        vals = self.lows if ci else self.values
        if "\0" in t or not t:
            return sum(1 << j for j, v in enumerate(vals) if t in v)
        text, starts = self._joined[ci], self._starts[ci]
        got = 0
        at = text.find(t)
        while at >= 0:
            j = bisect_right(starts, at) - 1
            got |= 1 << j
            at = text.find(t, starts[j + 1]) if j + 1 < len(starts) else -1
        return got

    def count(self, n: Needles) -> int:
        """How many values hold one of the texts n."""
        return self.mask(n).bit_count()


def _selective(options: list[Needles], sample: _Sample) -> Needles:
    """Of several sound requirements, the one the fewest sample values meet; ties: the first (the longest).
    'realm="' is in every Digest header, 'dvr' in few: a rule needing both is filed under 'dvr'."""
    if len(options) == 1 or not sample.values:
        return options[0]
    return min(options, key=sample.count)


MAX_CONDS: int = 3   # further requirements checked before a text-filed rule is tried


def guard_texts(pattern: str) -> tuple[str, ...]:
    """Texts one of which every match of pattern holds as written (compared case-sensitively, any characters):
    the longest literal run of its top level ('苏州科达' in '(?s)^.*?苏州科达') or, when longer, its best
    case-sensitive required texts; () when it has neither."""
    parsed = _parse(pattern)
    if parsed is None:
        return ()
    best: tuple[str, ...] = ()
    if not parsed.state.flags & SRE_FLAG_IGNORECASE:   # top-level literals are then compared as written
        run: list[str] = []
        for op, arg in [*list(parsed), (None, None)]:
            if op is LITERAL:
                run.append(chr(arg))
                continue
            if len(run) > (len(best[0]) if best else 0):
                best = ("".join(run),)
            run = []
    for option in _options_of(parsed, 2):
        if not any(ci for _, ci in option):
            if min(len(t) for t, _ in option) > (min(map(len, best)) if best else 0):
                best = tuple(t for t, _ in option)
            break
    return best


def required_literal(pattern: str, least: int = 3) -> tuple[str, bool]:
    """The single text every match of pattern contains ('' when there is none or several)."""
    got = required_literals(pattern, least)
    return got[0] if len(got) == 1 else ("", False)


_UNSAFE_TO_JOIN = re.compile(r"\\[1-9]|\(\?P=|\(\?\(|\(\?[aiLmsu]*x")   # backrefs, conditionals, verbose


def joinable(pattern: str) -> bool:
    """Whether pattern can sit in an alternation beside others unchanged (no group references, not verbose)."""
    return _UNSAFE_TO_JOIN.search(pattern) is None


class CombinedRegex(Generic[R]):
    """One alternation of many anchored regex rules that still reports every rule that matches.

    Compiled on first use; match_all costs one C-level call when no rule matches, one more per rule that does."""

    def __init__(self, rules: Sequence[R]) -> None:
        self.rules = list(rules)
        self._parts: list[str] = []
        self._names: list[list[str]] = []
        for i, r in enumerate(self.rules):
            p, names = scoped(r.pattern, f"_r{i}")
            self._parts.append(f"(?P<_r{i}>{p})")
            self._names.append(names)
        self._tagged = [tuple((n, f"_r{i}_{n}") for n in names) for i, names in enumerate(self._names)]
        self._suffix: dict[int, tuple[re.Pattern[str], dict[int, int]]] = {}
        self._first: re.Pattern[str] | None = None

    @property
    def first(self) -> re.Pattern[str]:
        """The alternation of every rule: matches value iff some rule does."""
        if self._first is None:
            self._first = self._from(0)[0]
        return self._first

    def _from(self, start: int) -> tuple[re.Pattern[str], dict[int, int]]:
        got = self._suffix.get(start)
        if got is None:
            rx = re.compile("|".join(self._parts[start:]))
            by_group = {rx.groupindex[f"_r{i}"]: i for i in range(start, len(self.rules))}
            got = self._suffix[start] = (rx, by_group)
        return got

    def match_all(self, value: str) -> list[Hit[R]]:
        """Every rule whose regex matches value at its start, with its named-group fields."""
        m = self.first.match(value)
        if m is None:   # the common case: nothing matches, one C-level call
            return []
        return [h for _, h in self.match_indexed(value, m)]

    def match_indexed(self, value: str, first: re.Match[str] | None = None) -> list[tuple[int, Hit[R]]]:
        """match_all, each hit with the rule's position in this alternation (first: the whole alternation's
        match of value, when the caller has it)."""
        out: list[tuple[int, Hit[R]]] = []
        start = 0
        n = len(self.rules)
        while start < n:
            rx, by_group = self._from(start)
            m = first if start == 0 and first is not None else rx.match(value)
            if m is None:
                break
            i = by_group.get(m.lastindex or 0)
            if i is None:   # lastindex names an inner group: the rule is the one whose outer group took part
                i = next(j for j in range(start, n) if m.group(f"_r{j}") is not None)
            fields = tuple((name, v) for name, tagged in self._tagged[i] if (v := m.group(tagged)) is not None)
            out.append((i, (self.rules[i], fields)))
            start = i + 1
        return out


_DOTALL_SKIP = re.compile(r"^\(\?[aiLmsu]*s[aiLmsu]*\)\^\.\*\?")   # '(?s)^.*?': "somewhere in the value"


def search_form(pattern: str) -> str | None:
    """For a pattern '(?s)^.*?REST' (any flags with s, not verbose): '(?s)REST', which re.search answers exactly
    as re.match answers the pattern (the leftmost place REST matches, the same groups) but finds REST's literal
    start with a fast string search instead of trying it at every character. None for other patterns."""
    m = _DOTALL_SKIP.match(pattern)
    if m is None:
        return None
    parsed = _parse(pattern)
    if parsed is None:
        return None
    items = list(parsed)
    if len(items) < 2 or items[0] != (AT, AT_BEGINNING) or items[1][0] is not MIN_REPEAT:
        return None   # e.g. '(?s)^.*?a|b': a top-level alternation is not one '^.*?' sequence
    lo, hi, body = items[1][1]
    if lo != 0 or hi != MAXREPEAT or list(body) != [(ANY, None)]:
        return None
    return pattern[: m.end() - 4] + pattern[m.end():]


class _Single(Generic[R]):
    """One regex rule, compiled on first use (a database of thousands of rules loads without compiling).

    run(value): the compiled pattern's match (for '(?s)^.*?' patterns, search) of value; names: its named groups
    (known once run has been called); hit: the answer when it has none."""

    __slots__ = ("conds", "hit", "multi", "names", "order", "rule", "run")

    def __init__(self, rule: R, order: int, multi: bool = False) -> None:
        self.rule = rule
        self.order = order
        self.multi = multi   # filed under several leads or texts: one value may reach it twice
        # the rule's other requirements: texts (case-blind ones lower-cased) one of which each the value must hold
        self.conds: tuple[Needles, ...] = ()
        self.names: tuple[str, ...] = ()
        self.hit: Hit[R] = (rule, ())
        self.run: Callable[[str], re.Match[str] | None] = self._first

    def _first(self, value: str) -> re.Match[str] | None:
        rx = re.compile(self.rule.pattern)
        self.names = tuple(rx.groupindex)
        fast = search_form(self.rule.pattern)
        self.run = re.compile(fast).search if fast is not None else rx.match
        return self.run(value)

    def match(self, value: str) -> Hit[R] | None:
        """The rule's hit on value, or None."""
        m = self.run(value)
        if m is None:
            return None
        return _hit(self, m)


def _hit(c: _Single[R], m: re.Match[str]) -> Hit[R]:
    """A matched rule's hit: the rule and its named groups that took part."""
    names = c.names
    if not names:
        return c.hit
    if len(names) == 1:   # the usual case ('model'): no dict, no generator
        x = m.group(names[0])
        return c.hit if x is None else (c.rule, ((names[0], x),))
    got = m.groupdict()   # named groups in the pattern's order, as names
    if None in got.values():
        return (c.rule, tuple((n, x) for n, x in got.items() if x is not None))
    return (c.rule, tuple(got.items()))


class _Group(Generic[R]):
    """What is filed at one place (a trie node, a required text): prefix rules' ready hits, and regex rules tried
    as one alternation, so a value none of them matches costs one C-level call. A rule filed at several places is
    reported once per value (seen: the orders of such rules reported so far, made on first need)."""

    __slots__ = ("_combined", "checked", "first", "fixed", "joined", "loose", "multi", "singles", "tried")

    def __init__(self, singles: list[_Single[R]], fixed: Sequence[Hit[R]] = ()) -> None:
        self.fixed = tuple(fixed)
        # rules with further requirements are tried alone, and only when the value meets them all
        self.checked = tuple(s for s in singles if s.conds)
        self.singles = [s for s in singles if not s.conds]
        self.multi = any(s.multi for s in self.singles)
        self._combined: CombinedRegex[R] | None = None   # compiled on first use
        # one rule, or a pattern that cannot join an alternation: tried one by one (loose)
        self.joined = len(self.singles) > 1 and all(joinable(s.rule.pattern) for s in self.singles)
        self.loose = () if self.joined else tuple(self.singles)
        self.tried = self.checked + self.loose   # the rules tried one by one (only the checked ones have conds)
        # the alternation's match, once compiled (see combined)
        self.first: Callable[[str], re.Match[str] | None] | None = None

    def combined(self) -> CombinedRegex[R] | None:
        """The joined rules' alternation (None, and the rules loose from now on, if it cannot be built)."""
        if self._combined is not None:
            return self._combined
        comb = CombinedRegex([s.rule for s in self.singles])
        try:
            rx = comb.first
            for i, s in enumerate(self.singles):   # the renamed groups must be exactly the rule's own
                own = {f"_r{i}_{n}" for n in re.compile(s.rule.pattern).groupindex}
                if own != {n for n in rx.groupindex if n.startswith(f"_r{i}_")}:
                    raise re.error("groups renamed unevenly")
        except (re.error, RecursionError, OverflowError):
            self.joined = False
            self.loose = tuple(self.singles)
            self.tried = self.checked + self.loose
            return None
        self._combined = comb
        self.first = rx.match
        return comb


def _holds(conds: tuple[Needles, ...], v: str, low: str) -> bool:
    """Whether the value (v, and low, v lower-cased, see _FOLD_RISK) holds one text of each requirement."""
    for need in conds:
        for t, ci in need:
            if t in (low if ci else v):
                break
        else:
            return False
    return True


def _run(g: _Group[R], v: str, out: list[Hit[R]], seen: set[int] | None, low: str | None) -> set[int] | None:
    """Append the hits on v of what a group holds to out; the updated seen set (low: v lower-cased when it filters
    soundly, see _FOLD_RISK, and further requirements may be checked by `in`, else None). Rules are tried inline."""
    if g.fixed:
        out.extend(g.fixed)
    for c in g.tried:   # only the checked ones have conds (further requirements)
        if c.multi and seen is not None and c.order in seen:
            continue
        if c.conds and low is not None and not _holds(c.conds, v, low):
            continue
        m = c.run(v)
        if m is not None:
            out.append(c.hit if not c.names else _hit(c, m))
            if c.multi:
                seen = seen if seen is not None else set()
                seen.add(c.order)
    if g.joined:
        first = g.first
        if first is None:   # the first value here: compile the alternation
            if g.combined() is None:   # could not be joined after all: now loose
                return _run(_Group(g.singles), v, out, seen, low)
            first = cast(Callable[[str], "re.Match[str] | None"], g.first)
        m = first(v)
        if m is not None:
            for i, h in cast(CombinedRegex[R], g._combined).match_indexed(v, m):
                c = g.singles[i]
                if c.multi:
                    seen = seen if seen is not None else set()
                    if c.order in seen:
                        continue
                    seen.add(c.order)
                out.append(h)
    return seen


SAMPLE: int = 400     # example values of a key weighed when choosing which required text files a rule

# How common a character is in what devices send (pages, banners, certificates): most common first. A text is
# searched for by its least common character, so a scan stops at few places.
_COMMON = " eatoinsrlhdcu<>=\"/.-:mpfgb0w1y2_v3;5,k4986'7xjqz\n\tSTCAEDIRNPLMOBHFUGWVKYXJQZ()#&?%!+[]{}|@$*^`~\\"
_RANK = {ch: i for i, ch in enumerate(_COMMON)}


def _rank_weight(ch: str) -> float:
    """How common a character is in what devices send, before any sample is weighed (0 for the unlisted)."""
    r = _RANK.get(ch)
    return 0.0 if r is None else 0.02 * 0.93 ** r


def _weights(texts: list[str], sample: Sequence[str]) -> dict[str, float]:
    """Each character of the texts: its share of the sample's characters plus a prior (how common it is)."""
    counts: dict[str, int] = {}
    for v in sample:
        for ch in v:
            counts[ch] = counts.get(ch, 0) + 1
    total = sum(counts.values()) or 1
    return {ch: counts.get(ch, 0) / total + _rank_weight(ch) for t in texts for ch in t}


def _anchors(texts: list[str], weight: dict[str, float]) -> list[int]:
    """For each (lower-cased) text, the position of the character a scan stops at: together the anchors should
    be few and rare characters (a weighted hitting set, chosen greedily: each round the character costing least
    per text it newly covers)."""
    anchor: dict[int, str] = {}
    chosen: set[str] = set()
    while len(anchor) < len(texts):
        free = [i for i in range(len(texts)) if i not in anchor]
        for i in free:   # a text holding an anchor already chosen costs nothing more
            got = next((ch for ch in texts[i] if ch in chosen), None)
            if got is not None:
                anchor[i] = got
        free = [i for i in free if i not in anchor]
        if not free:
            break
        covers: dict[str, int] = {}
        for i in free:
            for ch in set(texts[i]):
                covers[ch] = covers.get(ch, 0) + 1
        chosen.add(min(sorted(covers), key=lambda ch: weight[ch] / covers[ch]))
    # of the chosen characters a text holds, the rarest
    return [t.index(min((c for c in t if c in chosen), key=lambda c: weight[c])) for t in texts]


class _TextScan:
    """Which of many texts a value contains, in C-level steps. One regex over the lower-cased value stops only at
    the texts' anchor characters (few and rare ones, chosen from what the key's values look like) and there
    tries just the texts anchored on that character, each confirmed whole by a lookbehind and a lookahead and
    marked by an empty group: the group numbers found (a search from each place found on) are the texts present. A text
    another one anchored on the same character can hide (the alternation reports one per place) is looked for
    by `in` when that one is found; so are the few texts whose every character is common in long values ('mini'
    in pages), where a stop at each of their anchors would cost more than an `in` test. One scan serves both
    kinds of text: a case-blind text (kept lower-cased) is there or not; a case-sensitive one is in the value
    only if its lower-cased form is in the lower-cased value (ASCII letters lower one to one), and is then
    looked for in the value itself.

    find(v, low): the positions of the texts the value contains (v: stripped, low: v lower-cased); None if none.
    """

    __slots__ = ("_sample", "find", "loose", "part", "quick", "ready", "texts")

    def __init__(self, texts: list[tuple[int, str, bool]], sample: Sequence[str] = ()) -> None:
        self.texts = texts   # (position in the index's list of required texts, text, compared case-blind)
        self._sample = sample   # lower-cased values of the key (its real examples): which characters are rare
        self.find: Callable[[str, str, re.Match[str] | None], set[int] | None] = self._first_find
        # once compiled (ready): the regex's search (None: none of its texts is there), part(v, low, match): the
        # texts it finds, and the loose texts, each (position, lower-cased, text to confirm in the value or None)
        self.ready = False
        self.quick: Callable[[str], re.Match[str] | None] | None = None
        self.part: Callable[[str, str, re.Match[str]], set[int] | None] = self._no_part
        self.loose: tuple[tuple[int, str, str | None], ...] = ()

    @staticmethod
    def _no_part(v: str, low: str, m: re.Match[str]) -> set[int] | None:
        return None

    def _first_find(self, v: str, low: str, m: re.Match[str] | None = None) -> set[int] | None:
        self.compile()
        return self.find(v, low, None)

    def compile(self) -> None:
        """Compile the scan now (find does on first use); then quick, part and loose are what they stay."""
        if not self.ready:
            self.find = self._compile()

    def _compile(self) -> Callable[[str, str, re.Match[str] | None], set[int] | None]:
        lows = [t.lower() for _, t, _ in self.texts]
        weight = _weights(lows, self._sample)
        at = _anchors(lows, weight)
        by_char: dict[str, list[int]] = {}
        for k, low in enumerate(lows):
            by_char.setdefault(low[at[k]], []).append(k)
        # a stop costs about what an `in` test does: a character stopped at more often (share x length) than it
        # anchors texts is not worth a stop
        length = sum(map(len, self._sample)) / max(1, len(self._sample))
        loose: list[tuple[int, str, str | None]] = []
        for ch in list(by_char):
            if len(by_char[ch]) < weight[ch] * length:
                for k in by_char.pop(ch):
                    i, t, ci = self.texts[k]
                    loose.append((i, lows[k], None if ci else t))
        # group number -> (position, text to confirm in the value or None, [(position, lower, confirm)] it can hide)
        found: dict[int | None, tuple[int, str | None, tuple[tuple[int, str, str | None], ...]]] = {}
        branches = []
        for ch, ks in sorted(by_char.items(), key=lambda item: -weight[item[0]]):   # commoner stops: tried first
            # the texts on ch as a trie of what follows ch in them, walked in a lookahead (at a stop re skips a
            # sibling on one compare, as it does the branches of ch); where a text ends, a lookbehind checks its
            # start. Deeper places first (longer texts: the shorter within are found free); `order` is the order
            # re tries the texts in, which is also the order of their groups.
            trie: dict[str, Any] = {}
            for k in ks:
                node = trie
                for c in lows[k][at[k] + 1:]:
                    node = node.setdefault(c, {})
                node.setdefault("", []).append(k)
            order: list[int] = []
            branches.append(f"{re.escape(ch)}(?={_alternation(trie, lows, at, order, weight)})")   # a match: ch alone
            for n, k in enumerate(order):
                low, j = lows[k], at[k]
                hidden = []
                for k2 in order[n + 1:]:   # later texts on ch that can sit where this one does: hidden by it
                    if _aligned(low, j, lows[k2], at[k2]):
                        i2, t2, ci2 = self.texts[k2]
                        # within this text where it stands: there whenever this one is (no search)
                        within = at[k2] <= j and len(lows[k2]) - at[k2] <= len(low) - j
                        hidden.append((i2, "" if within else lows[k2], None if ci2 else t2))
                i, t, ci = self.texts[k]
                found[len(found) + 1] = (i, None if ci else t, tuple(hidden))
        rx = re.compile("|".join(branches)) if branches else None
        search = rx.search if rx is not None else None
        # part() is installed only when rx exists; every branch of rx ends in a capturing group, so a match's
        # lastindex is never None (typed once here, so the hot path needs no checks)
        any_search = cast(Callable[[str, int], "re.Match[str] | None"], search)
        any_finditer = cast(Callable[[str, int], Iterator["re.Match[str]"]], rx.finditer if rx is not None else None)

        def part(v: str, low: str, first: re.Match[str]) -> set[int] | None:
            # a search from each place found (most values hold one text, and finditer's setup costs more than a
            # search); a value holding many places (a page repeating a text) has the rest found in C
            m = any_search(low, first.start() + 1)
            if m is None:   # the usual value: one place found, often one text there
                i, exact, hidden = found[first.lastindex]
                if not hidden:
                    return {i} if exact is None or exact in v else None
            marks: list[Any] = [first.lastindex]   # group numbers (never None here, see above)
            while m is not None:
                marks.append(m.lastindex)
                if len(marks) == _SEARCHES:
                    marks.extend(map(_LASTINDEX, any_finditer(low, m.start() + 1)))
                    break
                m = any_search(low, m.start() + 1)
            into: set[int] = set()
            for g in (marks if len(marks) == 1 else set(marks)):
                i, exact, hidden = found[g]
                if exact is None or exact in v:
                    into.add(i)
                for i2, low2, exact2 in hidden:
                    if low2 in low and (exact2 is None or exact2 in v):
                        into.add(i2)
            return into or None

        self.quick, self.loose, self.ready = search, tuple(loose), True
        if search is not None:
            self.part = part

        def find(v: str, low: str, m: re.Match[str] | None = None) -> set[int] | None:
            """(m: the regex's search of low, when the caller has it)"""
            into: set[int] | None = None
            if search is not None:
                if m is None:
                    m = search(low)
                if m is not None:
                    into = part(v, low, m)
            for i, low1, exact in loose:
                if low1 in low and (exact is None or exact in v):
                    if into is None:
                        into = set()
                    into.add(i)
            return into or None

        return find


def _alternation(node: dict[str, Any], lows: list[str], at: list[int], order: list[int],
                 weight: dict[str, float]) -> str:
    """The regex of a trie of texts' parts after their anchors (char -> node; "" -> the texts ending there): its
    branches deeper first (commoner characters first), then a lookbehind and an empty group per text ending here,
    longer first; each text's position in lows is appended to order as its group is written."""
    alts = [re.escape(c) + _alternation(node[c], lows, at, order, weight)
            for c in sorted((c for c in node if c), key=lambda c: -weight[c])]
    for k in sorted(node.get("", ()), key=lambda k: -len(lows[k])):
        order.append(k)
        alts.append(f"(?<={re.escape(lows[k])})()" if at[k] else "()")
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


_LASTINDEX = attrgetter("lastindex")
_SEARCHES = 4   # places a scan finds one search at a time before finditer takes the rest


def _aligned(a: str, ja: int, b: str, jb: int) -> bool:
    """Whether texts a and b agree wherever they overlap when their anchors (ja, jb) sit at one place."""
    lo = max(-ja, -jb)
    hi = min(len(a) - ja, len(b) - jb)
    return all(a[p + ja] == b[p + jb] for p in range(lo, hi))


# (what is filed here or None, first char -> (edge, its length, what is filed where it ends or None, its kids))
Radix = tuple[Any, dict[str, tuple[str, int, Any, Any]]]


_PREFIXED = "prefix"   # a trie node's key for the ready hits of prefix rules ending there (chars are 1 long)


def _compress(node: dict[str, Any]) -> Radix:
    """A char trie ({char: node, "": regex rules, _PREFIXED: prefix hits}) as a radix tree: chains without rules
    become one edge; what is filed where a lead ends becomes one group."""
    kids: dict[str, tuple[str, int, Any, Any]] = {}
    for ch, child in node.items():
        if len(ch) != 1:
            continue
        edge = ch
        while "" not in child and _PREFIXED not in child and len(child) == 1:
            (nxt, grand), = child.items()
            edge += nxt
            child = grand
        group, grand_kids = _compress(child)
        kids[ch] = (edge, len(edge), group, grand_kids)
    here, fixed = node.get("", []), node.get(_PREFIXED, [])
    return (_leaf(here, fixed) if here or fixed else None, kids)


def _leaf(singles: list[_Single[R]], fixed: Sequence[Hit[R]] = ()) -> _Single[R] | _Group[R]:
    """What one place holds: a lone rule as itself (tried inline by the index), else a group."""
    if len(singles) == 1 and not fixed and not singles[0].conds:
        return singles[0]
    return _Group(singles, fixed)


class _Walker:
    """A radix tree walked along a text by one regex: compiled()(text) matches the longest lead that text starts
    with and that ends at a place holding rules; paths[what it matched] is what every place holding rules on the
    way holds, shallower first. Siblings' edges start with distinct characters, so re tries one alternative per
    level (its branches skip on the first literal); no capturing groups, which every match would copy."""

    __slots__ = ("_pattern", "_run", "gate", "gate_len", "paths")

    def __init__(self, kids: dict[str, Any]) -> None:
        self.paths: dict[str, tuple[Any, ...]] = {}
        self._pattern = self._alternatives(kids, "", ())
        self._run: Callable[[str], re.Match[str] | None] | None = None
        # what a walk matches is a path (a lead holding rules): a text whose first gate_len characters start none
        # is not walked (the usual case; one slice and a set test instead of a regex call)
        self.gate_len = min(GATE, *map(len, self.paths)) if self.paths else 1
        self.gate = frozenset(lead[:self.gate_len] for lead in self.paths)

    def _alternatives(self, kids: dict[str, Any], lead: str, path: tuple[Any, ...]) -> str:
        alts = []
        for edge, _, group, grand in kids.values():
            here = path if group is None else (*path, group)
            deeper = self._alternatives(grand, lead + edge, here) if grand else ""
            if group is not None:   # deeper first; where nothing deeper matches, the walk ends here
                self.paths[lead + edge] = here
                deeper = f"{deeper}|" if deeper else ""
            alts.append(f"{re.escape(edge)}(?:{deeper})" if deeper else re.escape(edge))
        return "|".join(alts)

    def compiled(self) -> Callable[[str], re.Match[str] | None]:
        """The walk's regex match, compiled on first need (a database loads without compiling it)."""
        if self._run is None:
            self._run = re.compile(self._pattern).match
        return self._run


def _groups(node: Radix) -> list[Any]:
    """Every group of a radix tree, shallower first along each path (the order a walk meets them)."""
    here, kids = node
    out = [here] if here is not None else []
    for _, _, group, grand_kids in kids.values():
        out += _groups((group, grand_kids))
    return out


class KeyIndex(Generic[R]):
    """All rules for one (signal, field) key, compiled; `match(value)` returns every rule that matches."""

    __slots__ = ("_parts", "match", "size")

    def __init__(self, rules: Iterable[R]) -> None:
        equals: dict[str, list[Hit[R]]] = {}
        equals_ci: dict[str, list[Hit[R]]] = {}
        prefix: dict[int, dict[str, list[Hit[R]]]] = {}
        prefix_ci: dict[int, dict[str, list[Hit[R]]]] = {}
        tries: tuple[dict[str, Any], dict[str, Any]] = ({}, {})   # exact, case-blind: char -> node; "" -> rules
        inside: dict[tuple[str, bool], list[_Single[R]]] = {}
        rest: list[R] = []
        size = 0
        rules = list(rules)
        sample: _Sample | None = None   # what this key's values look like: its rules' examples

        def sampled() -> _Sample:
            nonlocal sample
            if sample is None:
                vals = dict.fromkeys(str(getattr(ex, "value", ex)).strip() for x in rules
                                     for ex in getattr(x, "examples", ()))
                sample = _Sample(list(vals)[:SAMPLE])
            return sample

        for r in rules:
            size += 1
            if r.kind == "equals":
                table = equals_ci if r.ci else equals
                table.setdefault(r.pattern.lower() if r.ci else r.pattern, []).append((r, ()))
            elif r.kind == "prefix" and not r.ci and r.pattern:   # a lead whose rule needs nothing more
                node = tries[False]
                for ch in r.pattern:
                    node = node.setdefault(ch, {})
                node.setdefault(_PREFIXED, []).append((r, ()))
            elif r.kind == "prefix":
                ptable = prefix_ci if r.ci else prefix
                p = r.pattern.lower() if r.ci else r.pattern
                ptable.setdefault(len(p), {}).setdefault(p, []).append((r, ()))
            else:
                parsed = _parse(r.pattern)
                heads, ci = _leads_of(parsed)
                options = _options_of(parsed)
                reqs = options[0] if options else ()
                shortest = min((len(t) for t, _ in reqs), default=0)
                single_rule = _Single(r, size, multi=len(heads) > 1 or len(reqs) > 1)
                if heads and min(map(len, heads)) >= min(shortest, MIN_LEAD):
                    for head in dict.fromkeys(heads):
                        node = tries[ci]
                        for ch in head[:LEAD]:
                            node = node.setdefault(ch, {})
                        node.setdefault("", []).append(single_rule)
                elif reqs:   # searched-for rules (page markers, realms after the scheme): substring tests first
                    if len(options) > 1:
                        reqs = _selective(options, sampled())
                        single_rule.multi = len(heads) > 1 or len(reqs) > 1
                        # other requirements that many of the key's real values holding the filing text lack are
                        # checked first ('realm="Login to ' files a rule, 'Digest' must be there too)
                        holding = sampled().mask(reqs)
                        others = [o for o in options if o != reqs and (sampled().mask(o) & holding).bit_count()
                                  <= holding.bit_count() * 0.7][:MAX_CONDS]
                        single_rule.conds = tuple(others)
                    for text, nci in reqs:
                        inside.setdefault((text, nci), []).append(single_rule)
                else:
                    rest.append(r)
        self.size = size
        # flat (length, table, compare case-blind) lists: the hot loop touches only what exists
        fixed = tuple([(n, t, False) for n, t in prefix.items()] + [(n, t, True) for n, t in prefix_ci.items()])
        exact_trie: Radix | None = _compress(tries[0]) if tries[0] else None
        blind_trie: Radix | None = _compress(tries[1]) if tries[1] else None
        # required texts: their groups in filing order, and one scan per case mode finding which are present
        groups: list[Any] = [_leaf(g) for g in inside.values()]   # a lone rule or a group per text
        scan = _TextScan([(i, t, ci) for i, (t, ci) in enumerate(inside)],
                         sampled().lows) if groups else None
        combined: CombinedRegex[R] | None = CombinedRegex(rest) if len(rest) > 1 else None
        single: _Single[R] | None = _Single(rest[0], 0) if len(rest) == 1 else None

        exact_walk = _Walker(exact_trie[1]) if exact_trie is not None else None
        blind_walk = _Walker(blind_trie[1]) if blind_trie is not None else None
        # A case-blind regex matches 'İ' where 'i' is written, though 'İ'.lower() is 'i' + a combining dot: the
        # lower-cased value only filters case-blind rules soundly when it holds no such character (_FOLD_RISK).
        # Values that do try them all.
        blind_all = _groups(blind_trie) if blind_trie is not None else []
        blind_texts = {i for i, (_, ci) in enumerate(inside) if ci}

        self._parts = (equals, equals_ci, fixed, exact_walk, blind_walk, blind_all, scan, groups, blind_texts, single,
                       combined)
        self.match: Callable[[str], list[Hit[R]]] = self._first_match

    def _first_match(self, value: str) -> list[Hit[R]]:
        """match() before the first value: compiles this index's regexes and its match function."""
        body, names = self.body()
        exec(compile(f"def match(value):{body}\n    return out", "<KeyIndex.match>", "exec"), names)
        self.match = names["match"]
        return self.match(value)

    def body(self) -> tuple[str, dict[str, Any]]:
        """The statements of match() (indented one level: from `value`, the hits in the list `out`) and the
        names they use; the index's regexes are compiled when this is first asked for."""
        return _match_body(*self._parts)


def _tried(indent: str, low: str) -> str:
    """The step appending the hits on v of what one place (g) holds to out, keeping seen (see _run); low: what
    _run is given. Written out where a place is met, no call for a lone rule."""
    return "".join(f"\n{indent}{line}" for line in (
        "if g.__class__ is _Group:",
        f"    seen = _run(g, v, out, seen, {low})",
        "elif not (g.multi and seen is not None and g.order in seen):",
        "    m = g.run(v)",
        "    if m is not None:",
        "        out.append(g.hit if not g.names else _hit(g, m))",
        "        if g.multi:",
        "            if seen is None:",
        "                seen = set()",
        "            seen.add(g.order)"))


# The only characters beyond ASCII that a case-blind regex matches where an ASCII letter is written ('İ' and 'ı'
# for 'i', 'ſ' for 's', the Kelvin sign for 'k'), and the only one whose lower-casing is not one character ('İ');
# every other character lower-cases to one character that is ASCII only when it was. So in a value holding none of
# them, a case-blind ASCII text matches where the lower-cased value holds it lower-cased, at the same place: the
# lower-cased value filters case-blind rules soundly (checked over all of Unicode by tests/match/test_index.py).
_FOLD_RISK = re.compile("[\u0130\u0131\u017f\u212a]")


# The steps of KeyIndex.match, each written out only for an index that has what it uses, with its lookups bound
# as names (an index holds few kinds of rule: a step it lacks costs nothing, not a test per value).
_STEPS: dict[str, str] = {
    "start": """
    v = value.strip()
    out = []""",
    "low": """
    low = v.lower()""",
    # whether low filters case-blind rules soundly (see _FOLD_RISK): almost every value, ASCII or not
    "low_ok": """
    low_ok = v.isascii() or fold_risk(v) is None""",
    "equals": """
    got = equals.get(v)
    if got:
        out.extend(got)""",
    "equals_ci": """
    got = equals_ci.get(low)
    if got:
        out.extend(got)""",
    # (prefix tables, and texts looked for by `in`, are written out one by one: see _match_body)
    "seen": """
    seen = None""",
    # the leads v starts with (no walk when no lead holding rules starts with its first characters: the usual case)
    "exact_walk": """
    if v[:exact_n] in exact_gate:
        m = exact_run(v)
        if m is not None:
            for g in exact_paths[v[:m.end()]]:""" + _tried("                ", "None"),
    # A case-blind regex matches 'İ' where 'i' is written, though 'İ'.lower() is 'i' + a combining dot: the
    # lower-cased value only filters case-blind rules soundly when low_ok. Other values try them all.
    "blind_walk": """
    if low_ok:
        if low[:blind_n] in blind_gate:
            m = blind_run(low)
            if m is not None:
                for g in blind_paths[low[:m.end()]]:""" + _tried("                    ", "None") + """
    else:
        for g in blind_all:""" + _tried("            ", "None"),
    # the required texts present: one C-level call finds none of the scan's regex texts (the common case)
    "present": """
    present = None""",
    "quick": """
    m = quick(low)
    if m is not None:
        present = part(v, low, m)""",
    "blind_texts": """
    if not low_ok:
        present = blind_texts.union(present or ())""",
    "texts": """
    if present:
        for i in (present if len(present) == 1 else sorted(present)):
            g = groups[i]""" + _tried("            ", "low if low_ok else None"),
    "single": """
    h = single_match(v)
    if h is not None:
        out.append(h)""",
    "combined": """
    out.extend(match_all(v))""",
}


def _match_body(equals: Any, equals_ci: Any, fixed: Any, exact: _Walker | None, blind: _Walker | None,
                blind_all: Any, scan: _TextScan | None, groups: Any, blind_texts: Any, single: Any,
                combined: Any) -> tuple[str, dict[str, Any]]:
    """KeyIndex.body for an index made of these parts (empty or None: absent), its regexes compiled now."""
    names: dict[str, Any] = {"_Group": _Group, "_run": _run, "_hit": _hit, "fold_risk": _FOLD_RISK.search,
                             "equals": equals, "equals_ci": equals_ci,
                             "fixed": fixed, "blind_all": blind_all, "groups": groups, "blind_texts": blind_texts}
    if exact is not None:
        names.update(exact_gate=exact.gate, exact_run=exact.compiled(), exact_paths=exact.paths)
    if blind is not None:
        names.update(blind_gate=blind.gate, blind_run=blind.compiled(), blind_paths=blind.paths)
    if scan is not None:
        scan.compile()
        names.update(quick=scan.quick, part=scan.part)
    if single is not None:
        names["single_match"] = single.match
    if combined is not None:
        names["match_all"] = combined.match_all
    steps = [_STEPS["start"]]
    if equals_ci or fixed or blind or scan:
        steps.append(_STEPS["low"])
    if blind or scan:
        steps.append(_STEPS["low_ok"])
    steps += [_STEPS[k] for k in ("equals", "equals_ci") if names[k]]
    for k, (n, table, ci) in enumerate(fixed):   # a prefix table: the value's first n characters looked up
        names[f"fixed_{k}"] = table
        steps.append(f"""
    got = fixed_{k}.get({"low" if ci else "v"}[:{n}])
    if got:
        out.extend(got)""")
    if exact or blind or scan:
        steps.append(_STEPS["seen"])
    steps += [_STEPS["exact_walk"].replace("exact_n", str(exact.gate_len))] if exact else []
    steps += [_STEPS["blind_walk"].replace("blind_n", str(blind.gate_len))] if blind else []
    if scan is not None:
        steps.append(_STEPS["present"])
        steps += [_STEPS["quick"]] if scan.quick is not None else []
        for i, low1, confirm in scan.loose:   # a text looked for by `in` (case-sensitive ones confirmed in v)
            also = "" if confirm is None else f" and {confirm!r} in v"
            steps.append(f"""
    if {low1!r} in low{also}:
        if present is None:
            present = set()
        present.add({i})""")
        steps += [_STEPS["blind_texts"]] if blind_texts else []
        steps.append(_STEPS["texts"])
    if single is not None or combined is not None:   # rules filed nowhere: tried when the value holds their texts
        rest = [single.rule] if single is not None else combined.rules
        guards = [guard_texts(r.pattern) for r in rest]
        step = _STEPS["single" if single is not None else "combined"]
        if all(guards):
            texts = dict.fromkeys(t for g in guards for t in g)
            step = f"\n    if {' or '.join(f'{t!r} in v' for t in texts)}:" + step.replace("\n    ", "\n        ")
        steps.append(step)
    return "".join(steps), names


def build(rules: Iterable[R]) -> KeyIndex[R]:
    """Compile rules (all of one key) into a KeyIndex."""
    return KeyIndex(rules)
