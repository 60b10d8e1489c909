"""DHIP discovery: recorded notifyDevInfo frames, the framed probe, hostile replies, a real sweep."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path

import pytest

from scanner.discovery import dhip
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

FIX = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("camscan_linklab", FIX / "linklab.py")
assert _spec and _spec.loader
linklab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(linklab)

CASES = sorted(p.stem for p in (FIX / "dhip").glob("*.bin"))


@pytest.mark.parametrize("name", CASES)
def test_recorded_frame_gives_expected_observations(name: str) -> None:
    frame = (FIX / "dhip" / f"{name}.bin").read_bytes()
    obs = dhip.to_observations(dhip.parse_reply(frame), "198.18.0.30", None)
    expected = json.loads((FIX / "dhip" / f"{name}.expected.json").read_text())
    body = (FIX / "dhip" / f"{name}.json").read_text().strip()
    for e in expected:
        if e["value"] == "@json-body":
            e["value"] = body
    assert [{"signal": o.signal, "value": o.value} for o in obs] == expected
    assert {(o.ip, o.port, o.source, o.mac) for o in obs} == {("198.18.0.30", 37810, "dhip",
                                                                expected[-1]["value"])}


def test_probe_is_framed_like_configtool() -> None:
    probe = dhip.build_probe()
    assert probe[:8] == b"\x20\x00\x00\x00DHIP"
    assert probe[8:16] == b"\x00" * 8
    n = len(probe) - 32
    assert struct.unpack("<IIII", probe[16:32]) == (n, 0, n, 0)
    assert json.loads(probe[32:]) == {"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}}
    assert not probe.startswith(b"{")          # bare JSON gets no answer (protocols.md section 4)


def test_declared_signals_are_in_the_vocabulary() -> None:
    assert dhip.Dhip.signals <= set(SIGNALS)
    assert dhip.MODULE.phase == 1 and dhip.MODULE.per_link


def _frame(body: bytes) -> bytes:
    return b"\x20\x00\x00\x00DHIP" + b"\x00" * 24 + body


@pytest.mark.parametrize("data", [
    b"\x20\x00\x00\x00DHIP\x00\x00",                                   # truncated header
    b"\x20\x00\x00\x00PIHD" + b"\x00" * 24 + b'{"method":"client.notifyDevInfo"}',   # byte-swapped magic
    b'{"mac":"3c:ef:8c:00:00:01","method":"client.notifyDevInfo"}',    # unframed
    _frame(b'{"method":"client.notifyDevInfo","params":{"x":"\xff\xfe"}}'),  # bad UTF-8
    _frame(b'{"method": "client.notifyDevInfo", "params": {'),          # truncated JSON
    _frame(b"[" * 100000 + b"{}" + b"]" * 100000),                       # huge
    _frame(b"{" + b'"a":{' * 3000 + b"}" * 3001),                        # nesting bomb
    _frame(b'{"a":' + b"9" * 5000 + b', "method":"client.notifyDevInfo"}'),  # huge integer
    _frame(dhip.build_probe()[32:]),                                     # our own search echoed
    b"\xff\x00\x00\x00DHIP" + b"\x00" * 24 + b"{}",                       # header length past the end
], ids=["truncated-header", "swapped-magic", "unframed", "bad-utf8", "truncated-json", "huge",
        "nesting-bomb", "huge-int", "own-probe", "bad-header-length"])
def test_hostile_replies_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        dhip.parse_reply(data)


def test_stated_web_port_is_kept_for_later_probes() -> None:
    assert dhip.parse_reply((FIX / "dhip" / "lorex_w461asc.bin").read_bytes()).http_port == 80
    r = dhip.parse_reply(_frame(b'{"method":"client.notifyDevInfo","params":{"deviceInfo":{"HttpPort":true}}}'))
    assert r.http_port is None
    r = dhip.parse_reply(_frame(b'{"method":"client.notifyDevInfo","params":"x"}'))
    assert r.http_port is None


def test_reply_without_a_valid_mac_still_reports_the_body() -> None:
    r = dhip.parse_reply(_frame(b'{"mac":"ff:ff:ff:ff:ff:ff","method":"client.notifyDevInfo"}\n\x00'))
    assert r.mac is None
    assert [o.signal for o in dhip.to_observations(r, "198.18.0.30", None)] == ["dhip.reply"]


# --- I/O on a private link ----------------------------------------------------------------------

lab = pytest.mark.skipif(not linklab.can_build(), reason="needs root to build network namespaces")
REPLY = (FIX / "dhip" / "ipc_hdw1431t1_s4.bin").read_bytes()
OTHER = (FIX / "dhip" / "lorex_w461asc.bin").read_bytes()


@pytest.fixture
def link():  # type: ignore[no-untyped-def]
    lk = linklab.LinkLab(f"a{os.getpid() % 10000}", 203)
    yield lk
    lk.close()


@pytest.mark.lab
@lab
def test_sweep_finds_the_device_and_records_the_outsider(link) -> None:  # type: ignore[no-untyped-def]
    def handler(data: bytes, src: tuple[str, int], dst: str) -> list[tuple[bytes, str]]:
        if data[4:8] != b"DHIP" or b"DHDiscover.search" not in data:
            return []                                   # bare JSON gets no answer
        out = [(REPLY, link.ip_d)]
        if dst == dhip.GROUP:
            out.append((OTHER, link.ip_d2))
            out.append((b"\x20\x00\x00\x00DHIP\x00", link.ip_d))   # truncated junk from the device
        return out

    link.udp_responder(dhip.PORT, dhip.GROUP, handler)
    ctx = linklab.make_ctx(link, [f"{link.ip_d}/32"])
    ctx.host(link.ip_d)                                 # already known: also probed directly
    ctx.host(link.ip_d2)                                # known but outside the scope: never probed
    obs = link.run_scanner(lambda: linklab.collect(dhip.Dhip(window=1.2), ctx))
    body = (FIX / "dhip" / "ipc_hdw1431t1_s4.json").read_text().strip()
    assert linklab.pairs(obs) == [("dhip.reply", body), ("mac", "08:ed:ed:87:42:7a")]
    assert ctx.hosts[link.ip_d].mac == "08:ed:ed:87:42:7a"
    assert ctx.hosts[link.ip_d].http_ports == {80}
    errors = [(e["ip"], e["error"]) for e in ctx.stats.errors]
    assert not any(ip == link.ip_d2 for ip, _ in errors)          # an outsider's reply is counted, not an error
    assert ctx.stats.counters["ignored_out_of_scope.dhip"] >= 1
    assert any(ip == link.ip_d and "truncated DHIP header" in m for ip, m in errors)
    assert {r[2] for r in link.received} == {dhip.GROUP, link.ip_d}


@pytest.mark.lab
def test_lab_small_site_every_dhip_device_is_found_with_its_mac(link_lab_small) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_small
    want = site.with_service("dhip")
    excluded = want[0]
    ctx = site.ctx([excluded])
    obs = site.run(lambda: linklab.collect(dhip.Dhip(), ctx))
    assert sorted(o.ip for o in obs if o.signal == "dhip.reply") == [ip for ip in want if ip != excluded]
    truth_mac = {d["ip"]: d["mac"] for d in site.devices}
    macs = {o.ip: o.value for o in obs if o.signal == "mac"}
    assert macs == {ip: truth_mac[ip] for ip in want if ip != excluded}
    assert excluded not in {e["ip"] for e in ctx.stats.errors}     # its reply is counted, not an error
    assert ctx.stats.counters["ignored_out_of_scope.dhip"] >= 1


@pytest.mark.lab
def test_lab_hostile_site_malformed_replies_are_errors_and_the_sweep_goes_on(link_lab_hostile) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_hostile
    ctx = site.ctx([])
    obs = site.run(lambda: linklab.collect(dhip.Dhip(), ctx))
    good = site.with_service("dhip", hostile=False)
    assert set(good) <= {o.ip for o in obs if o.signal == "dhip.reply"}
    bad = site.with_service("dhip", hostile=True)
    assert bad and {e["ip"] for e in ctx.stats.errors if "undecodable" in e["error"]} == set(bad)
    assert all(o.value == {d["ip"]: d["mac"] for d in site.devices}[o.ip] for o in obs if o.signal == "mac")
