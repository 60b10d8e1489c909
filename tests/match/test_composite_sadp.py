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
