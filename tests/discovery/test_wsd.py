"""WS-Discovery: recorded ProbeMatches, the probes we send, hostile replies, and a real multicast sweep."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest

from scanner.discovery import wsd
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

FIX = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("camscan_linklab", FIX / "linklab.py")
assert _spec and _spec.loader
linklab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(linklab)

CASES = sorted(p.stem for p in (FIX / "wsd").glob("*.xml"))


@pytest.mark.parametrize("name", CASES)
def test_recorded_reply_gives_expected_observations(name: str) -> None:
    reply = wsd.parse_reply((FIX / "wsd" / f"{name}.xml").read_bytes())
    assert len(reply.matches) == 1
    obs = wsd.to_observations(reply.matches[0], "198.18.0.10", None)
    expected = json.loads((FIX / "wsd" / f"{name}.expected.json").read_text())
    assert [{"signal": o.signal, "value": o.value} for o in obs] == expected
    assert {o.ip for o in obs} == {"198.18.0.10"}
    assert {o.port for o in obs} == {3702}
    assert {o.source for o in obs} == {"wsd"}


def test_mac_scope_sets_the_mac_field_of_every_observation() -> None:
    reply = wsd.parse_reply((FIX / "wsd" / "hikvision_ds2cd2385g1.xml").read_bytes())
    obs = wsd.to_observations(reply.matches[0], "198.18.0.10", None)
    assert {o.mac for o in obs} == {"58:50:ed:1f:e3:85"}


def test_every_declared_signal_is_in_the_vocabulary() -> None:
    for cls in (wsd.WsdMulticast, wsd.WsdDirected):
        assert cls.signals <= set(SIGNALS)
    assert wsd.MODULE is wsd.WsdMulticast and wsd.MODULE.phase == 1 and wsd.MODULE.per_link
    assert wsd.DIRECTED.phase == 2 and not wsd.DIRECTED.per_link


def _types_qnames(probe: bytes) -> list[tuple[str, str]]:
    """(namespace, local) of each QName in a probe's Types, resolved through its xmlns declarations."""
    text = probe.decode()
    root: Element = SafeET.fromstring(probe)
    types = [el for el in root.iter() if el.tag == f"{{{wsd.NS_DISCOVERY}}}Types"]
    out = []
    for el in types:
        for q in (el.text or "").split():
            prefix, local = q.split(":")
            decl = f'xmlns:{prefix}="'
            ns = text[text.index(decl) + len(decl):].split('"', 1)[0]
            out.append((ns, local))
    return out


def test_probes_are_soap12_probes_for_each_types_variant() -> None:
    seen = []
    for variant in wsd.PROBE_TYPES:
        probe = wsd.build_probe(variant, "urn:uuid:0a3c6c1e-1111-4222-8333-444455556666")
        root: Element = SafeET.fromstring(probe)
        assert root.tag == f"{{{wsd.NS_SOAP12}}}Envelope"
        action = next(el for el in root.iter() if el.tag == f"{{{wsd.NS_ADDRESSING}}}Action")
        assert action.text == "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
        mid = next(el for el in root.iter() if el.tag == f"{{{wsd.NS_ADDRESSING}}}MessageID")
        assert mid.text == "urn:uuid:0a3c6c1e-1111-4222-8333-444455556666"
        seen.append(_types_qnames(probe))
    assert seen == [[(wsd.NS_NETWORK, "NetworkVideoTransmitter")], [(wsd.NS_DEVICE, "Device")], []]


def test_epr_tail_gives_a_mac_only_for_a_valid_time_based_uuid() -> None:
    # Hikvision-style v1 EPR (protocols.md section 1): node = b4:a3:82:0f:d9:2d
    assert wsd.mac_from_epr("urn:uuid:4c3f7000-8ab1-11b4-8000-b4a3820fd92d") == "b4:a3:82:0f:d9:2d"
    assert wsd.mac_from_epr("uuid:74f7e627-c54f-49fb-84ed-6de9b7f588a5") is None      # v4 (Dahua)
    assert wsd.mac_from_epr("urn:uuid:4c3f7000-8ab1-11b4-8000-b5a3820fd92d") is None  # multicast bit
    assert wsd.mac_from_epr("urn:uuid:4c3f7000-8ab1-11b4-8000-b6a3820fd92d") is None  # locally admin.
    assert wsd.mac_from_epr("urn:uuid:4c3f7000-8ab1-11b4-8000-000000000000") is None
    assert wsd.mac_from_epr("urn:uuid:11223344-5566-7788-9900-000000000002") is None  # not RFC 4122
    assert wsd.mac_from_epr("not a uuid") is None


def test_epr_heuristic_applies_when_no_mac_scope_is_present() -> None:
    m = wsd.WsdMatch("urn:uuid:4c3f7000-8ab1-11b4-8000-b4a3820fd92d", ("dn:NetworkVideoTransmitter",),
                     ("onvif://www.onvif.org/hardware/DS-2CD2143G0-I",), ("http://198.18.0.10/onvif/device_service",),
                     "10")
    obs = wsd.to_observations(m, "198.18.0.10", None)
    assert ("mac", "b4:a3:82:0f:d9:2d") in [(o.signal, o.value) for o in obs]


def test_lower_case_mac_scope_and_junk_scopes() -> None:
    assert wsd.mac_from_scopes(["http:123", "onvif://www.onvif.org/mac/AC-CC-8E-01-02-03"]) == "ac:cc:8e:01:02:03"
    assert wsd.mac_from_scopes(["onvif://www.onvif.org/MAC/zz:zz"]) is None


def test_onvif_hint_prefers_in_scope_xaddr_and_rewrites_unusable_ones() -> None:
    xs = ["http://192.168.1.64/onvif/device_service", "http://198.18.0.10:8000/onvif/device_service"]
    assert wsd.onvif_hint(xs, "198.18.0.10", [xs[1]]) == xs[1]
    # only an out-of-scope (NAT/wrong-interface) XAddr: keep scheme, port and path, use the source
    assert wsd.onvif_hint(["http://192.168.1.64:2020/onvif/device_service"], "198.18.0.10", []) == \
        "http://198.18.0.10:2020/onvif/device_service"
    assert wsd.onvif_hint(["http://[fe80::1]/onvif/device_service"], "198.18.0.10", []) is None


def _match(types: str, ns: str, scopes: str = "") -> bytes:
    return (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ' + ns.encode() + b'><s:Body>'
            b'<d:ProbeMatches><d:ProbeMatch><d:Types>' + types.encode() + b'</d:Types><d:Scopes>' + scopes.encode() +
            b'</d:Scopes><d:XAddrs>http://198.18.0.7:5357/x/</d:XAddrs></d:ProbeMatch></d:ProbeMatches>'
            b'</s:Body></s:Envelope>')


@pytest.mark.parametrize("name", CASES)
def test_recorded_camera_replies_announce_onvif(name: str) -> None:
    assert all(m.onvif for m in wsd.parse_reply((FIX / "wsd" / f"{name}.xml").read_bytes()).matches)


def test_onvif_types_are_told_by_namespace_not_prefix() -> None:
    devprof = 'xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof" ' \
        'xmlns:pub="http://schemas.microsoft.com/windows/pub/2005/07"'
    # a Windows PC's WSDAPI answer (Microsoft's WSD types; no ONVIF type or scope): its XAddr is no ONVIF service
    assert not wsd.parse_reply(_match("wsdp:Device pub:Computer", devprof)).matches[0].onvif
    assert wsd.parse_reply(_match("x9:Device", 'xmlns:x9="http://www.onvif.org/ver10/device/wsdl"')).matches[0].onvif
    assert not wsd.parse_reply(_match("dn:Device", 'xmlns:dn="urn:not-onvif"')).matches[0].onvif
    assert wsd.parse_reply(_match("wsdp:Device", devprof, "onvif://www.onvif.org/type/NVR")).matches[0].onvif
    # prefixes left undeclared by sloppy firmware: the ONVIF device type name still tells, a bare Device does not
    assert wsd.parse_reply(_match("dn:NetworkVideoTransmitter", "")).matches[0].onvif
    assert not wsd.parse_reply(_match("tds:Device", "")).matches[0].onvif


def test_fault_and_empty_probematches_give_no_match() -> None:
    fault = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>'
             b"<s:Code><s:Value>s:Sender</s:Value></s:Code></s:Fault></s:Body></s:Envelope>")
    assert wsd.parse_reply(fault).matches == ()


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">&lol3;</s:Envelope>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">&x;</s:Envelope>')


@pytest.mark.parametrize("data", [
    BOMB,
    XXE,
    b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'>" + b"x" * 40000 + b"</s:Envelope>",
    b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><a>\xff\xfe</a></s:Envelope>",
    (FIX / "wsd" / "axis_m2036le.xml").read_bytes()[:700],
    b"",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"<root/>",
], ids=["xml-bomb", "external-entity", "huge", "bad-utf8", "truncated", "empty", "not-xml", "not-soap"])
def test_hostile_replies_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        wsd.parse_reply(data)


def test_many_matches_and_items_are_capped() -> None:
    match = ("<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:{i}</a:Address></a:EndpointReference>"
             "<d:Scopes>" + " ".join(f"s{j}" for j in range(70)) + "</d:Scopes>"
             "</d:ProbeMatch>")
    doc = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
           'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
           'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Body><d:ProbeMatches>'
           + "".join(match.format(i=i) for i in range(20)) + "</d:ProbeMatches></s:Body></s:Envelope>")
    reply = wsd.parse_reply(doc.encode())
    assert len(reply.matches) == wsd.MAX_MATCHES
    assert all(len(m.scopes) == wsd.MAX_ITEMS for m in reply.matches)


# --- I/O on a private link ----------------------------------------------------------------------

lab = pytest.mark.skipif(not linklab.can_build(), reason="needs root to build network namespaces")

HIK = (FIX / "wsd" / "hikvision_ds2cd2385g1.xml").read_bytes()
AXIS = (FIX / "wsd" / "axis_m2036le.xml").read_bytes()


def _device(lab_: object) -> None:
    """Device .2 answers like the Hikvision capture (XAddr rewritten to itself, plus one outside
    the scope); device .3 (outside the scope) answers like the Axis capture."""
    ip2, ip3 = lab_.ip_d, lab_.ip_d2  # type: ignore[attr-defined]
    old = b"http://192.168.124.40/onvif/device_service"
    hik = HIK.replace(old, f"http://{ip2}/onvif/device_service ".encode() + old)

    def handler(data: bytes, src: tuple[str, int], dst: str) -> list[tuple[bytes, str]]:
        if b"/discovery/Probe<" not in data:
            return []
        if dst == wsd.GROUP:
            return [(hik, ip2), (AXIS, ip3)]
        return [(hik, ip2)] if dst == ip2 else [(AXIS, ip3)]

    lab_.udp_responder(wsd.PORT, wsd.GROUP, handler)  # type: ignore[attr-defined]


@pytest.fixture
def link():  # type: ignore[no-untyped-def]
    lk = linklab.LinkLab(f"w{os.getpid() % 10000}", 201)
    yield lk
    lk.close()


@pytest.mark.lab
@lab
def test_multicast_sweep_reports_the_device_once_and_the_outsider_as_an_error(link) -> None:  # type: ignore[no-untyped-def]
    _device(link)
    ctx = linklab.make_ctx(link, [f"{link.ip_d}/32"])
    obs = link.run_scanner(lambda: linklab.collect(wsd.WsdMulticast(window=1.5), ctx))
    assert linklab.pairs(obs) == [
        ("wsd.epr", "urn:uuid:aa85c000-6324-11b3-819e-5850ed1fe385"),
        ("wsd.types", "dn:NetworkVideoTransmitter tds:Device"),
        ("wsd.scopes", " ".join(wsd.parse_reply(HIK).matches[0].scopes)),
        ("wsd.xaddrs", f"http://{link.ip_d}/onvif/device_service http://192.168.124.40/onvif/device_service "
                       "http://[fe80::5a50:edff:fe1f:e385]/onvif/device_service"),
        ("mac", "58:50:ed:1f:e3:85"),
    ]                                                   # 3 variants x 2 repeats, one device: once
    assert {o.ip for o in obs} == {link.ip_d}
    host = ctx.hosts[link.ip_d]
    assert host.mac == "58:50:ed:1f:e3:85"
    assert host.onvif_xaddrs == [f"http://{link.ip_d}/onvif/device_service"]
    assert link.ip_d2 not in ctx.hosts
    errors = [(e["ip"], e["error"]) for e in ctx.stats.errors]
    # the outsider answered every probe that reached it: counted, never an error entry
    assert [msg for ip, msg in errors if ip == link.ip_d2] == []
    assert ctx.stats.counters["wsd.out_of_scope_replies"] == ctx.stats.counters["ignored_out_of_scope.wsd"] >= 1
    assert any(ip == link.ip_d and "192.168.124.40" in msg for ip, msg in errors)   # XAddr flagged
    assert ctx.stats.counters["wsd.sent"] == len(wsd.PROBE_TYPES) * wsd.MULTICAST_REPEAT
    assert {(r[1][0], r[2]) for r in link.received} == {(link.ip_s, wsd.GROUP)}


@pytest.mark.lab
@lab
def test_directed_pass_probes_only_in_scope_hosts_not_yet_heard(link) -> None:  # type: ignore[no-untyped-def]
    _device(link)
    ctx = linklab.make_ctx(link, [f"{link.ip_d}/32", "198.18.201.9/32"])
    ctx.host(link.ip_d)
    ctx.host(link.ip_d2)                 # known (e.g. from ARP) but outside the scope
    ctx.host("198.18.201.9").wsd_epr = "urn:uuid:x"     # already heard by multicast
    obs = link.run_scanner(lambda: linklab.collect(wsd.WsdDirected(window=1.0), ctx))
    assert ("wsd.epr", "urn:uuid:aa85c000-6324-11b3-819e-5850ed1fe385") in linklab.pairs(obs)
    assert {r[2] for r in link.received} == {link.ip_d}            # never the outsider or the group
    assert ctx.stats.counters["wsd_directed.sent"] == len(wsd.DIRECTED_TYPES)


# --- the lab's small site ------------------------------------------------------------------------

@pytest.mark.lab
def test_lab_small_site_every_wsd_device_is_found_once(link_lab_small) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_small
    want = site.with_service("wsd")
    excluded = want[0]
    ctx = site.ctx([excluded])
    obs = site.run(lambda: linklab.collect(wsd.WsdMulticast(), ctx))
    assert sorted(o.ip for o in obs if o.signal == "wsd.epr") == [ip for ip in want if ip != excluded]
    truth_mac = {d["ip"]: d["mac"] for d in site.devices}
    assert all(o.value == truth_mac[o.ip] for o in obs if o.signal == "mac")
    assert excluded not in ctx.hosts
    assert [e["error"] for e in ctx.stats.errors if e["ip"] == excluded] == []
    assert ctx.stats.counters["ignored_out_of_scope.wsd"] >= 1


@pytest.mark.lab
def test_lab_small_site_directed_pass_alone_reaches_every_wsd_device(link_lab_small) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_small
    ctx = site.ctx([])
    for d in site.devices:
        ctx.host(d["ip"])                      # as host discovery would have left them
    obs = site.run(lambda: linklab.collect(wsd.WsdDirected(), ctx))
    assert sorted(o.ip for o in obs if o.signal == "wsd.epr") == site.with_service("wsd")
    assert ctx.stats.counters["wsd_directed.sent"] == len(site.devices) * len(wsd.DIRECTED_TYPES)


@pytest.mark.lab
def test_lab_hostile_site_bomb_is_an_error_and_every_other_device_is_found(link_lab_hostile) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_hostile
    ctx = site.ctx([])
    obs = site.run(lambda: linklab.collect(wsd.WsdMulticast(), ctx))
    hostile = set(site.with_service("wsd", hostile=True))
    assert set(site.with_service("wsd", hostile=False)) <= {o.ip for o in obs if o.signal == "wsd.epr"}
    errors = [(e["ip"], e["error"]) for e in ctx.stats.errors]
    assert any(ip in hostile and "DTDForbidden" in m for ip, m in errors)            # the XML bomb
    outside = [(ip, m) for ip, m in errors if "outside the scan scope; not contacted" in m]
    assert {ip for ip, _ in outside} & hostile                                        # XAddrs elsewhere
    for ip in {ip for ip, _ in outside} & hostile:
        assert ctx.hosts[ip].onvif_xaddrs[0].startswith(f"http://{ip}")          # never elsewhere


@pytest.mark.lab
def test_lab_small_site_directed_pass_skips_hosts_silent_to_multicast_on_its_link(link_lab_small) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from scanner.discovery import arp

    site = link_lab_small
    ctx = site.ctx([])
    site.run(lambda: linklab.collect(arp.ArpSweep(), ctx))
    assert {d["ip"] for d in site.devices} <= ctx.link_hosts   # every device answered ARP on this link
    multicast_over = asyncio.Event()
    multicast_over.set()
    ctx.finished[wsd.WsdMulticast.name] = multicast_over        # as if the multicast pass heard none of them
    routed = site.with_service("wsd")[0]
    ctx.link_hosts.discard(routed)                              # as if it were behind a router
    obs = site.run(lambda: linklab.collect(wsd.WsdDirected(), ctx))
    assert {o.ip for o in obs if o.signal == "wsd.epr"} == {routed}
    assert ctx.stats.counters["wsd_directed.sent"] == len(wsd.DIRECTED_TYPES)
