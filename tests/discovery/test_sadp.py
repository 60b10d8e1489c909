"""SADP-style inquiry: recorded ProbeMatches, the read-only probe, hostile replies, a real multicast sweep."""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest

from scanner.discovery import sadp
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

FIX = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("camscan_linklab", FIX / "linklab.py")
assert _spec and _spec.loader
linklab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(linklab)

CASES = sorted(p.stem for p in (FIX / "sadp").glob("*.xml"))


@pytest.mark.parametrize("name", CASES)
def test_recorded_reply_gives_expected_observations(name: str) -> None:
    raw = (FIX / "sadp" / f"{name}.xml").read_bytes()
    obs = sadp.to_observations(sadp.parse_reply(raw), "198.18.0.20", None)
    expected = json.loads((FIX / "sadp" / f"{name}.expected.json").read_text())
    for e in expected:
        if e["value"] == "@whole-document":
            e["value"] = raw.decode().strip()
    assert [{"signal": o.signal, "value": o.value} for o in obs] == expected
    assert {(o.ip, o.port, o.source) for o in obs} == {("198.18.0.20", 37020, "sadp")}
    assert len({o.mac for o in obs}) == 1 and obs[0].mac == expected[-1]["value"]


def test_probe_is_the_read_only_inquiry() -> None:
    u = "e8ecfe09-90e4-44c0-842b-703f46b58c81"
    probe = sadp.build_probe(u)
    root = SafeET.fromstring(probe)
    assert root.tag == "Probe"
    assert [(c.tag, c.text) for c in root] == [("Uuid", u.upper()), ("Types", "inquiry")]
    assert probe.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    for verb in (b"activate", b"update", b"reset", b"exchangecode", b"modifypassword"):
        assert verb not in probe.lower()


def test_probe_uuid_must_be_a_uuid() -> None:
    with pytest.raises(ValueError):
        sadp.build_probe("</Uuid><Types>activate</Types><Uuid>")
    assert sadp.build_probe(str(uuid.uuid4())).count(b"<Types>") == 1


def test_declared_signals_are_in_the_vocabulary() -> None:
    assert sadp.Sadp.signals <= set(SIGNALS)
    assert sadp.MODULE.phase == 1 and sadp.MODULE.per_link


def test_stated_web_port_is_kept_for_later_probes() -> None:
    assert sadp.parse_reply((FIX / "sadp" / "hikvision_ds2cd2385g1.xml").read_bytes()).http_port == 80
    assert sadp.parse_reply(b"<ProbeMatch><HttpPort>-1</HttpPort></ProbeMatch>").http_port is None
    assert sadp.parse_reply(b"<ProbeMatch><HttpPort>99999</HttpPort></ProbeMatch>").http_port is None
    assert sadp.parse_reply(b"<ProbeMatch><HttpPort>8080</HttpPort></ProbeMatch>").http_port == 8080


def test_root_case_varies_and_bad_mac_is_dropped() -> None:
    r = sadp.parse_reply(b"<Probematch><MAC>ff-ff-ff-ff-ff-ff</MAC><IPv4Address>1.2.3.4</IPv4Address></Probematch>")
    assert r.mac is None and r.ipv4 == "1.2.3.4"
    assert sadp.to_observations(r, "198.18.0.20", None)[0].signal == "sadp.reply"
    assert len(sadp.to_observations(r, "198.18.0.20", None)) == 1


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    b"<ProbeMatch><MAC>&b;</MAC></ProbeMatch>",
    b"<ProbeMatch><DeviceDescription>" + b"A" * 20000 + b"</DeviceDescription></ProbeMatch>",
    b"<ProbeMatch><DeviceDescription>\xc3\x28</DeviceDescription></ProbeMatch>",
    b"<ProbeMatch><MAC>44-19-b6-aa-bb-cc</MAC>",
    b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>X</Uuid><Types>inquiry</Types></Probe>',
    b"\x00\x01\x02",
], ids=["entity-bomb", "huge", "bad-utf8", "truncated", "our-own-probe", "binary"])
def test_hostile_replies_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        sadp.parse_reply(data)


def test_latin1_declared_reply_is_rejected_cleanly() -> None:
    data = (b'<?xml version="1.0" encoding="ISO-8859-1"?>'
            b"<ProbeMatch><DeviceDescription>\xe9</DeviceDescription></ProbeMatch>")
    with pytest.raises(DecodeError):
        sadp.parse_reply(data)


# --- I/O on a private link ----------------------------------------------------------------------

lab = pytest.mark.skipif(not linklab.can_build(), reason="needs root to build network namespaces")
REPLY = (FIX / "sadp" / "hikvision_ds2cd2385g1.xml").read_bytes()
OTHER = (FIX / "sadp" / "universalscanner_selftest.xml").read_bytes()


@pytest.fixture
def link():  # type: ignore[no-untyped-def]
    lk = linklab.LinkLab(f"h{os.getpid() % 10000}", 202)
    yield lk
    lk.close()


@pytest.mark.lab
@lab
def test_sweep_finds_the_device_and_records_the_outsider(link) -> None:  # type: ignore[no-untyped-def]
    def handler(data: bytes, src: tuple[str, int], dst: str) -> list[tuple[bytes, str]]:
        if b"<Types>inquiry</Types>" not in data:
            return []                                    # a device ignores every other verb
        out = [(REPLY, link.ip_d)]
        if dst == sadp.GROUP:
            out.append((OTHER, link.ip_d2))
        out.append((b"<ProbeMatch><broken", link.ip_d))  # hostile extra datagram from the device
        return out

    link.udp_responder(sadp.PORT, sadp.GROUP, handler)
    ctx = linklab.make_ctx(link, [f"{link.ip_d}/32"])
    ctx.host(link.ip_d2)                                # known, but outside the scope: no unicast
    obs = link.run_scanner(lambda: linklab.collect(sadp.Sadp(window=1.2), ctx))
    assert linklab.pairs(obs) == [("sadp.reply", REPLY.decode().strip()), ("mac", "58:50:ed:1f:e3:85")]
    assert {o.ip for o in obs} == {link.ip_d}
    assert ctx.hosts[link.ip_d].mac == "58:50:ed:1f:e3:85"
    assert ctx.hosts[link.ip_d].http_ports == {80}
    errors = [(e["ip"], e["error"]) for e in ctx.stats.errors]
    assert not any(ip == link.ip_d2 for ip, _ in errors)          # an outsider's reply is counted, not an error
    assert ctx.stats.counters["ignored_out_of_scope.sadp"] >= 1
    assert any(ip == link.ip_d and "undecodable" in m for ip, m in errors)
    assert {r[2] for r in link.received} == {sadp.GROUP}   # the outsider was never sent to
    assert all(b"<Types>inquiry</Types>" in r[0] for r in link.received)


@pytest.mark.lab
def test_lab_small_site_every_sadp_device_is_found_with_its_mac(link_lab_small) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_small
    want = site.with_service("sadp")
    excluded = want[0]
    ctx = site.ctx([excluded])
    obs = site.run(lambda: linklab.collect(sadp.Sadp(), ctx))
    assert sorted(o.ip for o in obs if o.signal == "sadp.reply") == [ip for ip in want if ip != excluded]
    truth_mac = {d["ip"]: d["mac"] for d in site.devices}
    macs = {o.ip: o.value for o in obs if o.signal == "mac"}
    assert macs == {ip: truth_mac[ip] for ip in want if ip != excluded}
    assert excluded not in {e["ip"] for e in ctx.stats.errors}     # its reply is counted, not an error
    assert ctx.stats.counters["ignored_out_of_scope.sadp"] >= 1


@pytest.mark.lab
@lab
def test_unusable_interface_address_is_reported_not_raised(link) -> None:  # type: ignore[no-untyped-def]
    ctx = linklab.make_ctx(link, [f"{link.ip_d}/32"])
    ctx.interface_ip = "198.18.202.77"              # not an address of the scanner namespace
    assert link.run_scanner(lambda: linklab.collect(sadp.Sadp(window=0.5), ctx)) == []
    assert "cannot open a UDP socket on 198.18.202.77" in ctx.stats.errors[0]["error"]
    assert "sadp.sent" not in ctx.stats.counters


@pytest.mark.lab
def test_lab_hostile_site_malformed_replies_are_errors_and_the_sweep_goes_on(link_lab_hostile) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_hostile
    ctx = site.ctx([])
    obs = site.run(lambda: linklab.collect(sadp.Sadp(), ctx))
    good = site.with_service("sadp", hostile=False)
    assert set(good) <= {o.ip for o in obs if o.signal == "sadp.reply"}
    bad = site.with_service("sadp", hostile=True)
    assert bad and {e["ip"] for e in ctx.stats.errors if "undecodable" in e["error"]} == set(bad)
    assert all(o.value == {d["ip"]: d["mac"] for d in site.devices}[o.ip] for o in obs if o.signal == "mac")
