"""ARP sweep: reply decoding, link selection, and a real sweep across a private veth pair."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from pathlib import Path
from typing import Any

import pytest

from scanner.discovery import arp
from scanner.discovery.base import DecodeError
from scanner.scope import Scope

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("camscan_netpair", HERE / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)

# An is-at from 192.168.1.64 (Hikvision's factory-default address) with a Hikvision-OUI MAC
# (44:19:b6, protocols.md section 9 lab note), to 192.168.1.10; Ethernet padding to 60 bytes.
IS_AT = bytes.fromhex(
    "00163e000001" "4419b6a1b2c3" "0806"
    "0001" "0800" "06" "04" "0002"
    "4419b6a1b2c3" "c0a80140"
    "00163e000001" "c0a8010a") + b"\x00" * 18


def test_is_at_decodes_to_ip_and_mac() -> None:
    r = arp.parse_reply(IS_AT)
    assert r == arp.ArpReply("192.168.1.64", "44:19:b6:a1:b2:c3")
    (o,) = arp.to_observations(r)
    assert (o.signal, o.value, o.ip, o.mac, o.source) == ("mac", "44:19:b6:a1:b2:c3", "192.168.1.64",
                                                          "44:19:b6:a1:b2:c3", "arp")


def test_who_has_frame_layout() -> None:
    frame = arp.build_probe(bytes.fromhex("00163e000001"), "192.168.1.10", "192.168.1.64")
    assert len(frame) == 60 and frame[:6] == b"\xff" * 6 and frame[12:14] == b"\x08\x06"
    assert frame[20:22] == b"\x00\x01"                                   # op: request
    assert frame[22:28] == bytes.fromhex("00163e000001") and frame[28:32] == bytes([192, 168, 1, 10])
    assert frame[38:42] == bytes([192, 168, 1, 64])
    assert not arp.is_reply(frame) and arp.is_reply(IS_AT) and not arp.is_reply(IS_AT[:30])


def test_vlan_tagged_reply_decodes() -> None:
    tagged = IS_AT[:12] + bytes.fromhex("8100000a") + IS_AT[12:]
    assert arp.parse_reply(tagged).ip == "192.168.1.64"


@pytest.mark.parametrize("frame", [
    b"", IS_AT[:20], IS_AT[:12] + b"\x08\x00" + IS_AT[14:],            # short, truncated, IPv4 not ARP
    IS_AT[:20] + b"\x00\x01" + IS_AT[22:],                               # who-has, not is-at
    IS_AT[:22] + b"\x00" * 6 + IS_AT[28:],                               # null sender MAC
    IS_AT[:12] + b"\x81\x00",                                            # VLAN tag cut off
])
def test_bad_frames_are_decode_errors(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        arp.parse_reply(frame)


def test_only_on_link_in_scope_addresses_are_asked() -> None:
    net = ipaddress.IPv4Network("10.1.2.0/24")
    scope = Scope.build(["10.1.2.1", "10.1.2.7-10.1.2.9", "10.1.3.7"], ["10.1.2.8"], links=[net])
    assert list(arp.link_targets(scope, net, "10.1.2.1")) == [int(ipaddress.IPv4Address(a))
                                                               for a in ("10.1.2.7", "10.1.2.9")]


def test_module_declares_raw_phase1() -> None:
    assert arp.ArpSweep.needs_raw and arp.ArpSweep.phase == 1 and arp.ArpSweep.signals == {"mac"}


lab = pytest.mark.skipif(not netpair.can_build(), reason="needs root to build network namespaces")
MAC_B = "44:19:b6:00:00:2a"


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"a{os.getpid() % 10000}", 34, extra_b=["198.18.34.3", "198.18.34.4"], mac_b=MAC_B)
    yield p
    p.close()


@pytest.mark.lab
@lab
def test_sweep_finds_macs_on_the_link(pair) -> None:  # type: ignore[no-untyped-def]
    # .4 answers ARP but is excluded: it must be neither asked nor reported.
    ctx = netpair.make_ctx(["198.18.34.0/28"], ["198.18.34.4"], privileged=True)
    obs: list[Any] = pair.run_in_a(lambda: netpair.collect(arp.ArpSweep(), ctx))
    got = {(o.ip, o.value) for o in obs}
    assert got == {("198.18.34.2", MAC_B), ("198.18.34.3", MAC_B)}
    assert ctx.hosts["198.18.34.2"].mac == MAC_B
    assert "198.18.34.4" not in ctx.hosts and "198.18.34.9" not in ctx.hosts
    # the silent ones, and only they, were asked again (12 asked: .1 is ours, .4 excluded; 2 answered)
    assert ctx.stats.counters["arp.requests"] == 12 and ctx.stats.counters["arp.retries"] == 10


@pytest.mark.lab
@lab
def test_named_interface_outside_scope_sends_nothing(pair) -> None:  # type: ignore[no-untyped-def]
    ctx = netpair.make_ctx(["198.18.35.0/28"], interface=pair.if_a, privileged=True)
    obs: list[Any] = pair.run_in_a(lambda: netpair.collect(arp.ArpSweep(), ctx))
    assert obs == [] and "arp.requests" not in ctx.stats.counters


def test_listening_after_the_last_request_follows_the_slowest_reply_timed() -> None:
    assert arp.listen_after(None, 1.0) == 1.0                 # nothing timed: the whole wait
    assert arp.listen_after(0.002, 1.0) == arp.LISTEN_MIN     # a quick LAN: the floor
    assert arp.listen_after(0.1, 1.0) == pytest.approx(0.4)   # K times the slowest
    assert arp.listen_after(0.6, 1.0) == 1.0                  # never past the ceiling


# A responder for addresses its kernel no longer answers (arp off): it answers each who-has for one of them only
# after that address's delay (seconds), as a slow device (or a Wi-Fi client that wakes up to answer) does.
SLOW_RESPONDER = r'''
import socket, struct, sys, threading, time
ifname, delays = sys.argv[1], {socket.inet_aton(a): float(d) for a, d in (x.split("=") for x in sys.argv[2:])}
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0x0806))
mac = s.getsockname()[4]
print("ready", flush=True)
def answer(req, ip):
    time.sleep(delays[ip])
    src_mac, src_ip = req[22:28], req[28:32]
    frame = (src_mac + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + mac + ip + src_mac + src_ip)
    s.send(frame + b"\x00" * (60 - len(frame)))
while True:
    req = s.recv(2048)
    if len(req) >= 42 and req[20:22] == b"\x00\x01" and req[38:42] in delays:
        threading.Thread(target=answer, args=(req, req[38:42]), daemon=True).start()
'''


def _sweep_with_responder(tmp_path: Path, subnet: int, delays: dict[str, float]) -> tuple[Any, list[Any]]:
    import subprocess
    import sys
    p = netpair.NetPair(f"s{os.getpid() % 10000}", subnet, extra_b=[a for a in delays if not a.endswith(".2")],
                        mac_b=MAC_B)
    try:
        subprocess.run(["ip", "-n", p.b, "link", "set", "dev", p.if_b, "arp", "off"], check=True)
        script = tmp_path / "slow_arp.py"
        script.write_text(SLOW_RESPONDER)
        proc = p.popen_b([sys.executable, str(script), p.if_b, *(f"{a}={d}" for a, d in delays.items())],
                         stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
            ctx = netpair.make_ctx([f"198.18.{subnet}.0/29"], privileged=True)
            obs: list[Any] = p.run_in_a(lambda: netpair.collect(arp.ArpSweep(), ctx))
        finally:
            proc.kill()
            proc.wait()
    finally:
        p.close()
    return ctx, obs


@pytest.mark.lab
@lab
def test_a_slow_arp_reply_is_still_waited_for(tmp_path: Path) -> None:
    ctx, obs = _sweep_with_responder(tmp_path, 36, {"198.18.36.2": 0.6})
    assert {(o.ip, o.value) for o in obs} == {("198.18.36.2", MAC_B)}
    # found by the first pass (0.6 s after it was asked, past the quick-LAN floor): only the others asked again
    assert ctx.stats.counters["arp.requests"] == 5 and ctx.stats.counters["arp.retries"] == 4


@pytest.mark.lab
@lab
def test_with_no_second_pass_a_slow_reply_asked_last_is_waited_for_in_full(tmp_path: Path,
                                                                            monkeypatch: Any) -> None:
    monkeypatch.setattr(arp, "MAX_RETRY", 2)   # as on a /16: too many silent addresses to ask again
    ctx, obs = _sweep_with_responder(tmp_path, 37, {"198.18.37.2": 0.0, "198.18.37.6": 0.6})
    # .2 answers at once (a quick reply timed), .6 - asked last - 0.6 s later: still found, with no retry pass
    assert {o.ip for o in obs} == {"198.18.37.2", "198.18.37.6"}
    assert "arp.retries" not in ctx.stats.counters
