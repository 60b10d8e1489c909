"""The compiled index answers exactly what trying every rule one by one would (it only skips hopeless rules)."""

from __future__ import annotations

import re
from collections import defaultdict

from scanner.match.engine import get_engine
from scanner.match.index import build, literal_lead, literal_leads, required_literal, required_literals
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
