"""Compile rules per (signal, field) into the cheapest lookups: exact dicts, prefix dicts, literal-led regexes.

A regex rule whose pattern begins with literal text (after `^` and flags) is filed under the first
characters of that text (a radix tree walked along the value); one that must contain some text somewhere is
filed under the text the key's real values hold least often, and one scan of the value finds every such text
it holds; rules with neither share one alternation. The rules filed at one place are tried as one
alternation, so a value none of them matches costs one C-level call. Nothing loops over all rules per
observation, and every filter is a necessary condition: the regexes alone decide.
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
MIN_REPEAT, ANY, MAXREPEAT = _sre_constants.MIN_REPEAT, _sre_constants.ANY, _sre_constants.MAXREPEAT
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


def _literal_prefix(items: Any) -> str:
    """The ASCII text a parsed sequence starts with ('' if it starts otherwise)."""
    out = []
    for op, arg in list(items):
        if op is not LITERAL or arg >= 128:
            break
        out.append(chr(arg))
    return "".join(out)


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
    parsed = _parse(pattern)
    if parsed is None:
        return []
    every: list[Needles] = []
    best = _needles(parsed, bool(parsed.state.flags & SRE_FLAG_IGNORECASE), every)
    out = [best] if best else []
    out += [n for n in every if n != best]
    return [n for n in dict.fromkeys(out) if min(len(t) for t, _ in n) >= least]


def _selective(options: list[Needles], sample: Sequence[tuple[str, str]]) -> Needles:
    """Of several sound requirements, the one the fewest sample values (value, lower-cased) meet; ties: the
    first (the longest). 'realm="' is in every Digest header, 'dvr' in few: a rule needing both is filed
    under 'dvr'."""
    if len(options) == 1 or not sample:
        return options[0]

    def hits(n: Needles) -> int:
        return sum(1 for v, low in sample if any(t in (low if ci else v) for t, ci in n))

    return min(options, key=hits)


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
            fields = tuple((name, v) for name in self._names[i]
                           if (v := m.group(f"_r{i}_{name}")) is not None)
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
    """One regex rule, compiled on first use (a database of thousands of rules loads without compiling)."""

    __slots__ = ("_hit", "_names", "_run", "multi", "order", "rule")

    def __init__(self, rule: R, order: int, multi: bool = False) -> None:
        self.rule = rule
        self.order = order
        self.multi = multi   # filed under several leads or texts: one value may reach it twice
        self._run: Any = None   # the compiled pattern's match (or, for '(?s)^.*?' patterns, search)
        self._names: tuple[str, ...] = ()
        self._hit: Hit[R] = (rule, ())   # the answer when the rule has no named groups

    def _compile(self) -> Any:
        rx = re.compile(self.rule.pattern)
        self._names = tuple(rx.groupindex)
        fast = search_form(self.rule.pattern)
        self._run = re.compile(fast).search if fast is not None else rx.match
        return self._run

    def match(self, value: str) -> Hit[R] | None:
        m = (self._run or self._compile())(value)
        if m is None:
            return None
        if not self._names:
            return self._hit
        return (self.rule, tuple((n, v) for n in self._names if (v := m.group(n)) is not None))


class _Group(Generic[R]):
    """The regex rules filed at one place (a trie node, a required text), tried as one alternation: a value
    none of them matches costs one C-level call. A rule filed at several places is reported once per value
    (seen: the orders of such rules reported so far, made on first need)."""

    __slots__ = ("_combined", "_joined", "multi", "singles")

    def __init__(self, singles: list[_Single[R]]) -> None:
        self.singles = singles
        self.multi = any(s.multi for s in singles)
        self._combined: CombinedRegex[R] | None = None   # compiled on first use
        # one rule, or a pattern that cannot join an alternation: tried one by one
        self._joined = len(singles) > 1 and all(joinable(s.rule.pattern) for s in singles)

    def _compile(self) -> CombinedRegex[R] | None:
        comb = CombinedRegex([s.rule for s in self.singles])
        try:
            rx = comb.first
            for i, s in enumerate(self.singles):   # the renamed groups must be exactly the rule's own
                own = {f"_r{i}_{n}" for n in re.compile(s.rule.pattern).groupindex}
                if own != {n for n in rx.groupindex if n.startswith(f"_r{i}_")}:
                    self._joined = False
                    return None
        except (re.error, RecursionError, OverflowError):
            self._joined = False
            return None
        self._combined = comb
        return comb

    def run(self, v: str, out: list[Hit[R]], seen: set[int] | None) -> set[int] | None:
        """Append the hits of this group's rules on v to out; the updated seen set."""
        comb = self._combined
        if comb is None and self._joined:
            comb = self._compile()
        if comb is None:
            for c in self.singles:
                if c.multi and seen is not None and c.order in seen:
                    continue
                h = c.match(v)
                if h is not None:
                    out.append(h)
                    if c.multi:
                        seen = seen if seen is not None else set()
                        seen.add(c.order)
            return seen
        m = comb.first.match(v)
        if m is None:
            return seen
        for i, h in comb.match_indexed(v, m):
            c = self.singles[i]
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


def _rarest(text: str) -> int:
    """The position of text's least common character (non-ASCII: rarest of all)."""
    return max(range(len(text)), key=lambda i: _RANK.get(text[i], len(_COMMON)))


class _TextScan:
    """Which of many texts a value contains, in C-level steps. Each text is found at its least common character
    (one alternation of 'c(?<=ab c)de' pieces: the scan skips every place that holds none of those characters);
    at each place found, the texts anchored on that character are compared where they would start. One scan of
    the lower-cased value serves both kinds of text: a case-blind text (kept lower-cased) is there or not; a
    case-sensitive one is in the value only if its lower-cased form is in the lower-cased value (ASCII letters
    lower one to one), and is then looked for in the value itself."""

    __slots__ = ("_at", "_rx", "texts")

    def __init__(self, texts: list[tuple[int, str, bool]]) -> None:
        self.texts = texts   # (position in the index's list of required texts, text, compared case-blind)
        self._rx: re.Pattern[str] | None = None
        # lower-cased char -> (offset of it in the text, lower-cased text, position, text to confirm in the value)
        self._at: dict[str, list[tuple[int, str, int, str | None]]] = {}

    def _compile(self) -> re.Pattern[str]:
        pieces: dict[str, dict[str, None]] = {}
        for i, t, ci in self.texts:
            low = t.lower()
            j = _rarest(low)
            self._at.setdefault(low[j], []).append((j, low, i, None if ci else t))
            before = f"(?<={re.escape(low[:j + 1])})" if j else ""
            pieces.setdefault(low[j], {})[before + re.escape(low[j + 1:])] = None
        # one branch per anchor character ('v(?:(?<=wv)-|(?<=dv)r)|k(?:...)'): at a place holding one, re tries
        # only the texts anchored on it, not every text
        self._rx = re.compile("|".join(re.escape(ch) + ("(?:" + "|".join(ps) + ")" if len(ps) > 1 else next(iter(ps)))
                                       for ch, ps in pieces.items()))
        return self._rx

    def find(self, v: str, low: str) -> set[int] | None:
        """The positions of the texts the value contains (v: stripped, low: v lower-cased); None if none."""
        rx = self._rx or self._compile()
        m = rx.search(low)
        if m is None:
            return None
        into: set[int] = set()
        search, at, startswith = rx.search, self._at, low.startswith
        while m is not None:
            q = m.start()
            for j, t, i, exact in at[low[q]]:
                if q >= j and startswith(t, q - j) and (exact is None or exact in v):
                    into.add(i)
            m = search(low, q + 1)
        return into


Radix = tuple[Any, dict[str, tuple[str, Any]]]   # (_Group of the rules here or None, first char -> (edge, child))


def _compress(node: dict[str, Any]) -> Radix:
    """A char trie ({char: node, "": rules}) as a radix tree: chains without rules become one edge; the rules
    where a lead ends become one group."""
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
    here = node.get("")
    return (_Group(here) if here else None, kids)


def _walk(kids: dict[str, tuple[str, Any]], text: str, v: str, out: list[Hit[R]],
          seen: set[int] | None) -> set[int] | None:
    """Walk the leads text starts with; the rules hang where their lead ends and are tried on v."""
    pos, end = 0, len(text)
    while pos < end:
        step = kids.get(text[pos])
        if step is None or not text.startswith(step[0], pos):
            break
        pos += len(step[0])
        group, kids = step[1]
        if group is not None:
            seen = group.run(v, out, seen)
    return seen


def _groups(node: Radix) -> list[Any]:
    """Every group of a radix tree, shallower first along each path (the order a walk meets them)."""
    here, kids = node
    out = [here] if here is not None else []
    for _, child in kids.values():
        out += _groups(child)
    return out


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
        rules = list(rules)
        sample: list[tuple[str, str]] | None = None   # what this key's values look like: its rules' examples
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
                options = required_options(r.pattern)
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
                        if sample is None:
                            vals = dict.fromkeys(str(getattr(ex, "value", ex)).strip() for x in rules
                                                 for ex in getattr(x, "examples", ()))
                            sample = [(v, v.lower()) for v in list(vals)[:SAMPLE]]
                        reqs = _selective(options, sample)
                        single_rule.multi = len(heads) > 1 or len(reqs) > 1
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
        groups = [_Group(g) for g in inside.values()]
        scan = _TextScan([(i, t, ci) for i, (t, ci) in enumerate(inside)]) if groups else None
        combined: CombinedRegex[R] | None = CombinedRegex(rest) if len(rest) > 1 else None
        single: _Single[R] | None = _Single(rest[0], 0) if len(rest) == 1 else None
        needs_low = bool(equals_ci or prefix_ci or blind_trie or scan)

        exact_kids = exact_trie[1] if exact_trie is not None else None
        blind_kids = blind_trie[1] if blind_trie is not None else None
        # A case-blind regex matches 'İ' where 'i' is written, though 'İ'.lower() is 'i' + a combining dot: the
        # lower-cased value only filters case-blind rules soundly when the value is ASCII. Other values try them all.
        blind_all = _groups(blind_trie) if blind_trie is not None else []
        blind_texts = {i for i, (_, ci) in enumerate(inside) if ci}

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
            seen: set[int] | None = None
            if exact_kids is not None and v[:1] in exact_kids:
                seen = _walk(exact_kids, v, v, out, seen)
            if blind_kids is not None:
                if v.isascii():
                    if low[:1] in blind_kids:
                        seen = _walk(blind_kids, low, v, out, seen)
                else:
                    for group in blind_all:
                        seen = group.run(v, out, seen)
            if scan is not None:
                present = scan.find(v, low)
                if blind_texts and not v.isascii():
                    present = blind_texts.union(present or ())
                if present:
                    for i in sorted(present):
                        seen = groups[i].run(v, out, seen)
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
