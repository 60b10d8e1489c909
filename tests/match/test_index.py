"""The compiled index answers exactly what trying every rule one by one would (it only skips hopeless rules)."""

from __future__ import annotations

import dataclasses
import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from scanner.match.engine import get_engine
from scanner.match.index import (
    _FOLD_RISK,
    build,
    guard_texts,
    literal_lead,
    literal_leads,
    required_literal,
    required_literals,
    required_options,
)
from scanner.match.load import Rule
from scanner.match.verify import example_value


def _naive(rules: list[Rule], value: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    out = set()
    v = value.strip()
    for r in rules:
        if r.kind == "equals":
            hit = (v.lower() == r.pattern.lower()) if r.ci else v == r.pattern
            fields: tuple[tuple[str, str], ...] = ()
        elif r.kind == "prefix":
            hit = v.lower().startswith(r.pattern.lower()) if r.ci else v.startswith(r.pattern)
            fields = ()
        else:
            m = re.match(r.pattern, v)
            hit = m is not None
            fields = tuple((k, x) for k, x in m.groupdict().items() if x is not None) if m else ()
        if hit:
            out.add((r.id, tuple(sorted(fields))))
    return out


def test_index_equals_trying_every_rule_on_every_example_of_the_database() -> None:
    db = get_engine().db
    keyed: dict[tuple[str, str | None], list[Rule]] = defaultdict(list)
    for r in db.rules:
        keyed[(r.signal, r.field)].append(r)
    values = [example_value(r, ex.value) for r in db.rules for ex in r.examples]
    values += ["", " ", "nginx/1.18.0", "AXIS", "axis", "App-webs/", "Basic realm=\"x\"", "\u0130stanbul", "ß" * 40]
    checked = 0
    for rules in keyed.values():
        idx = build(rules)
        for v in values:
            got = {(r.id, tuple(sorted(f))) for r, f in idx.match(v)}
            assert got == _naive(rules, v), (rules[0].signal, rules[0].field, v)
            checked += 1
    assert checked > 10_000


def test_literal_leads_and_required_text() -> None:
    assert literal_lead("^App-webs/?$") == ("App-webs", False)
    assert literal_lead("(?i)^HikVision") == ("hikvision", True)
    assert literal_lead("^(?i:AXIS)(?: Communications)?$") == ("axis", True)
    assert literal_lead("^(?:DS|IDS)-2CD") == ("", False)
    assert literal_lead("^abc|^def") == ("", False)   # an alternation has no common lead
    assert required_literal('^(?:Digest|Basic)\\b.*\\brealm="AXIS_(?:WS_)?') == ('realm="AXIS_', False)
    assert required_literal("^(?:a|b)c?") == ("", False)
    assert required_literal("^x(?:abcdef)?") == ("", False)   # optional text is never required
    leads = literal_leads('^(?:Digest|Basic) realm="(?P<model>DS-)')
    assert leads == (['Digest realm="DS-', 'Basic realm="DS-'], False)
    assert required_literals('^Digest\\b.*realm="(?i:iPolis)') == (('realm="ipolis', True),)   # case-blind: wider
    assert required_literals("^(?:Vivotek Camera|(?:Wireless )?Camera with)") == (
        ("Vivotek Camera", False), ("Camera with", False))
    assert required_literals("^(?=.*\\bO=Acme Inc\\b)") == (("O=Acme Inc", False),)


def _piece(rng: random.Random, depth: int) -> tuple[str, Callable[[random.Random], str]]:
    """A random regex piece and a sampler of strings it matches (literals, optional and case-blind groups,
    alternatives, classes, lazy skips, nested groups)."""
    words = ["ab", "Xy", "-", 'realm="', "MT", "DS", "i", "SmartAX ", "Camera", "/"]
    k = rng.randrange(8 if depth < 2 else 5)
    word = rng.choice(words)
    lit = re.escape(word)
    if k == 0:
        return lit, lambda r: word
    if k == 1:
        return f"(?:{lit})?", lambda r: word if r.random() < 0.5 else ""
    if k == 2:
        return f"(?i:{lit})", lambda r: "".join(c.upper() if r.random() < 0.5 else c.lower() for c in word)
    if k == 3:
        return r"\d{1,3}", lambda r: str(r.randrange(1000))
    if k == 4:
        return ".*?", lambda r: r.choice(["", "x", "Z9 ", "realm"])
    parts = [_piece(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    body = "".join(p for p, _ in parts)

    def seq(r: random.Random) -> str:
        return "".join(f(r) for _, f in parts)

    if k == 5:
        other = _piece(rng, depth + 1)
        return f"(?:{body}|{other[0]})", lambda r: seq(r) if r.random() < 0.5 else other[1](r)
    if k == 6:
        return f"(?:{body})?", lambda r: seq(r) if r.random() < 0.5 else ""
    return f"(?:{body})", seq


def test_leads_through_optional_literals_and_guards() -> None:
    assert literal_leads("^\\.?1\\.3\\.6\\.1\\.4\\.1\\.9(?:\\.|$)") == ([".1.3.6.1.4.1.9", "1.3.6.1.4.1.9"], False)
    assert literal_leads("^(?:AB|ABC)") == (["AB"], False)   # a match starting 'ABC' starts 'AB'
    assert literal_leads("^a?") == ([], False)
    assert guard_texts("(?s)^.*?苏州科达科技") == ("苏州科达科技",)   # any characters, compared as written
    assert guard_texts("^V?\\d\\.\\d{3}\\.R,") == (".R,",)
    assert guard_texts("(?i)^abc") == ()   # case-blind: no text is compared as written
    assert guard_texts("\\S") == ()


def test_fold_risk_holds_every_character_that_lower_cases_or_matches_case_blind_onto_ascii() -> None:
    """Outside _FOLD_RISK, a character lower-cases to one character, ASCII only when it is, and matches no ASCII
    letter case-blind: the lower-cased value filters case-blind rules soundly (KeyIndex's low_ok)."""
    letter = re.compile("(?i)[a-z]")
    for c in range(128, 0x110000):
        ch = chr(c)
        if 0xD800 <= c < 0xE000 or _FOLD_RISK.search(ch):
            continue
        low = ch.lower()
        assert len(low) == 1 and not low.isascii(), hex(c)
        assert letter.fullmatch(ch) is None, hex(c)


def test_required_texts_and_leads_hold_in_every_match_of_random_patterns() -> None:
    """Every match contains a text of every requirement (through optional parts, case-blind groups,
    alternatives) and starts with a lead: the filters are sound."""
    rng = random.Random(30)
    checked = 0
    for _ in range(600):
        parts = [_piece(rng, 0) for _ in range(rng.randrange(1, 6))]
        blind = rng.random() < 0.2
        pattern = ("(?i)" if blind else "") + "^" + "".join(p for p, _ in parts)
        options = required_options(pattern)
        heads, heads_ci = literal_leads(pattern)
        for _ in range(20):
            value = "".join(f(rng) for _, f in parts)
            if blind:
                value = "".join(c.swapcase() if rng.random() < 0.3 else c for c in value)
            if re.match(pattern, value) is None:
                continue
            for option in options:
                assert any(t in (value.lower() if ci else value) for t, ci in option), (pattern, value, option)
            if heads:
                assert any((value.lower() if heads_ci else value).startswith(h) for h in heads), (pattern, value)
            checked += 1
    assert checked > 5_000


@dataclass(frozen=True)
class _R:
    id: str
    kind: str
    pattern: str
    ci: bool = False
    examples: tuple[str, ...] = ()


def test_index_equals_naive_on_prefixes_leads_and_texts_that_overlap() -> None:
    """Prefix rules riding the lead trie (prefixes of each other and of regex leads), rules filed under texts
    with further requirements, case-blind ones, against trying every rule."""
    rules = [_R("p1", "prefix", "Basic"), _R("p2", "prefix", "Basic realm="), _R("p3", "prefix", "B"),
             _R("p4", "prefix", "basic", ci=True), _R("e1", "equals", "Basic realm=\"x\""),
             _R("r1", "regex", '^Basic realm="(?P<model>DS-\\d+)"'), _R("r2", "regex", "^Basic realm=\"Login to "),
             _R("r3", "regex", '^(?:Basic|Digest) (?i:realm)="(?:SmartAX )?MT\\d+'),
             _R("r4", "regex", '(?i)^(?:Basic|Digest)\\b.*?\\brealm="[^"]*(?:DVR|Digital Video Recorder)'),
             _R("r5", "regex", '^(?:Digest|Basic)\\b.*\\brealm="(?P<model>(?i:i?DS)-[0-9A-Z]+)"'),
             _R("r6", "regex", "(?s)^.*?<deviceType>(?P<model>IPC\\w*)"), _R("r7", "regex", "(?s)^.*?deviceType"),
             _R("p5", "prefix", "Digest qop="), _R("p6", "prefix", 'Basic realm="Login to X')]
    rules = [dataclasses.replace(r, examples=(ex,)) for r, ex in zip(rules, [
        "Basic", "Basic realm=\"a\"", "B", "BASIC x", "Basic realm=\"x\"", 'Basic realm="DS-12"',
        'Basic realm="Login to 1"', 'Digest Realm="SmartAX MT880"', 'Basic realm="My DVR"',
        'Digest qop="auth", realm="iDS-2CD"', "<a><deviceType>IPC5</deviceType>", "deviceType=1",
        'Digest qop="auth"', 'Basic realm="Login to XY"'], strict=True)]
    idx = build(rules)
    rng = random.Random(31)
    bits = ["Basic", "Digest", " ", "realm=", '"', "Realm", "DS-", "ids-", "MT", "880", "SmartAX ", "Login to ",
            "DVR", "Digital Video Recorder", "<deviceType>", "IPC", "devicetype", "x", "İ", "K", "qop=", "X"]
    values = [r.examples[0] for r in rules] + ["".join(rng.choice(bits) for _ in range(rng.randrange(8)))
                                               for _ in range(4000)]
    for v in values:
        hits = idx.match(v)
        got = {(r.id, tuple(sorted(f))) for r, f in hits}
        assert got == _naive(rules, v), v   # type: ignore[arg-type]
        assert len(hits) == len(got), v
