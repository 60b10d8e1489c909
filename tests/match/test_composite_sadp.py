"""parse_sadp reads a ProbeMatch as ElementTree would (namespaces, leaf children, first wins) and refuses DTDs."""

from __future__ import annotations

import pytest

from scanner.match.composite import CompositeError, parse_sadp


def test_leaf_children_by_local_name_first_wins() -> None:
    xml = ('<?xml version="1.0"?><n:ProbeMatch xmlns:n="urn:x"><n:DeviceType>IPC</n:DeviceType>'
           '<Nested><Inner>no</Inner></Nested><Empty> </Empty><DeviceType>second</DeviceType>'
           '<Text>a&amp;b<![CDATA[<c>]]><!-- note -->d</Text></n:ProbeMatch>')
    assert parse_sadp(xml) == {"DeviceType": "IPC", "Text": "a&b<c>d"}


@pytest.mark.parametrize("xml", [
    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><ProbeMatch><X>&b;</X></ProbeMatch>',
    '<!DOCTYPE ProbeMatch SYSTEM "http://198.18.0.1/x.dtd"><ProbeMatch><X>1</X></ProbeMatch>',
    '<ProbeMatch><X>&undefined;</X></ProbeMatch>',
    '<Probe><X>1</X></Probe>',
    '<ProbeMatch><X>1</X>',
    '<n:ProbeMatch><X>1</X></n:ProbeMatch>',   # unbound prefix
])
def test_refused(xml: str) -> None:
    with pytest.raises(CompositeError):
        parse_sadp(xml)


def _element_tree_reading(text: str) -> dict[str, str] | None:
    """What parse_sadp answered when defusedxml built the ElementTree (None: CompositeError)."""
    from defusedxml.ElementTree import fromstring

    from scanner.match.composite import _local, _scrub

    try:
        root = fromstring(text.strip().encode("utf-8", "replace"), forbid_dtd=True)
    except Exception:
        return None
    if _local(root.tag).lower() != "probematch":
        return None
    out: dict[str, str] = {}
    for child in root:
        if len(child) == 0 and child.text is not None and child.text.strip():
            out.setdefault(_local(child.tag), _scrub(child.text.strip()))
    return out


def test_leaf_reading_equals_the_element_tree_on_mutated_replies() -> None:
    """Fragments (elements, comments, processing instructions, CDATA, entities, namespaces) spliced between the
    tags of real replies, and random edits: the same fields, or the same refusal, as the ElementTree reading."""
    import random

    from scanner.match.engine import get_engine

    replies = [e.value for r in get_engine().db.rules if r.signal == "sadp.reply" for e in r.examples
               if e.value.lstrip().startswith("<")]
    assert replies
    frags = ["<X>t</X>", "<!--c-->", "<?p q?>", "<![CDATA[z<]]>", "&amp;", " ", "\n", "<Y/>", "<Z><W>w</W>v</Z>",
             "&#x4e2d;", "é", "<n:Q xmlns:n='u'>q</n:Q>", "&bogus;", "<!DOCTYPE x>", "</A>", "\ud800", "<"]
    rng = random.Random(27)
    for _ in range(3000):
        text = rng.choice(replies)
        for _ in range(rng.randrange(1, 5)):
            places = [i for i, ch in enumerate(text) if ch in "<>"] or [0]
            i = rng.choice(places) + rng.randrange(2)
            text = text[:i] + rng.choice(frags) + text[i:]
        try:
            got: dict[str, str] | None = parse_sadp(text)
        except CompositeError:
            got = None
        assert got == _element_tree_reading(text), text
