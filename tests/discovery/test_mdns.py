"""mDNS / DNS-SD: a recorded Axis response, hostile packets, and a real browse against zeroconf."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from pathlib import Path

import pytest

from scanner.discovery import mdns
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

FIX = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("camscan_linklab", FIX / "linklab.py")
assert _spec and _spec.loader
linklab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(linklab)


def test_recorded_axis_response_gives_expected_observations() -> None:
    services = mdns.parse_reply((FIX / "mdns" / "axis_m5014.bin").read_bytes())
    assert [s.addresses for s in services] == [("192.168.0.90",), ("192.168.0.90",)]
    obs = [o for s in services for o in mdns.to_observations(s, "198.18.0.50", None)]
    expected = json.loads((FIX / "mdns" / "axis_m5014.expected.json").read_text())
    assert [{"signal": o.signal, "value": o.value, "port": o.port} for o in obs] == expected
    assert {(o.ip, o.source) for o in obs} == {("198.18.0.50", "mdns")}


def test_declared_signals_are_in_the_vocabulary() -> None:
    assert mdns.Mdns.signals <= set(SIGNALS)
    assert mdns.MODULE.phase == 1 and mdns.MODULE.per_link
    assert "_axis-video._tcp.local." in mdns.SERVICE_TYPES and "_CGI._tcp.local." in mdns.SERVICE_TYPES


def test_txt_decoding_caps_and_tolerates_junk() -> None:
    assert mdns.decode_txt(b"\x0dmacaddress=AB\x00\x04path") == ("macaddress=AB", "path")
    assert mdns.decode_txt(b"\x05ab") == ()                        # truncated string dropped
    assert mdns.decode_txt(b"\x02\xff\xfe") == ("\ufffd\ufffd",)
    assert len(mdns.decode_txt(b"\x01a" * 100)) == mdns.MAX_TXT


def test_instance_label_strips_the_service_type() -> None:
    assert mdns.instance_label("AXIS M3045 - ACCC8E123456._axis-video._tcp.local.",
                               "_axis-video._tcp.local.") == "AXIS M3045 - ACCC8E123456"


def test_query_packet_asks_for_the_service_ptr() -> None:
    q = mdns.build_probe("_axis-video._tcp.local.")
    assert q[4:6] == b"\x00\x01"                        # one question
    assert b"\x0b_axis-video\x04_tcp\x05local\x00\x00\x0c\x00\x01" in q


@pytest.mark.parametrize("data", [
    b"",
    b"\x00" * 5,
    (FIX / "mdns" / "axis_m5014.bin").read_bytes()[:100],         # truncated mid-record
    b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00" + b"\xc0\x0c" * 10,   # pointer loop
    mdns.build_probe("_axis-video._tcp.local."),                    # a query, not a response
    b"\x00" * 10000,                                                # huge
], ids=["empty", "short", "truncated", "pointer-loop", "query", "huge"])
def test_hostile_packets_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        mdns.parse_reply(data)


# --- I/O on a private link: python-zeroconf advertises, the module browses ------------------------

lab = pytest.mark.skipif(not linklab.can_build(), reason="needs root to build network namespaces")


@pytest.fixture
def link():  # type: ignore[no-untyped-def]
    lk = linklab.LinkLab(f"m{os.getpid() % 10000}", 205)
    yield lk
    lk.close()


def _advertise(link: object) -> None:
    from zeroconf import IPVersion, ServiceInfo, Zeroconf

    ip2, ip3 = link.ip_d, link.ip_d2  # type: ignore[attr-defined]
    zc = link.in_device_ns(lambda: Zeroconf(interfaces=[ip2], ip_version=IPVersion.V4Only))  # type: ignore[attr-defined]
    link.on_close(zc.close)  # type: ignore[attr-defined]
    inside = ServiceInfo("_axis-video._tcp.local.", "AXIS M3045 - ACCC8E123456._axis-video._tcp.local.",
                         addresses=[socket.inet_aton(ip2)], port=80,
                         properties={"macaddress": "ACCC8E123456"}, server="axis-accc8e123456.local.")
    outside = ServiceInfo("_http._tcp.local.", "printer._http._tcp.local.",
                          addresses=[socket.inet_aton(ip3)], port=80, properties={"path": "/"},
                          server="printer.local.")
    zc.register_service(inside)
    zc.register_service(outside)


@pytest.mark.lab
@lab
def test_browse_reports_the_in_scope_service_and_records_the_outsider(link) -> None:  # type: ignore[no-untyped-def]
    _advertise(link)
    ctx = linklab.make_ctx(link, [f"{link.ip_d}/32"])
    obs = link.run_scanner(lambda: linklab.collect(mdns.Mdns(window=2.0), ctx))
    assert linklab.pairs(obs) == [
        ("mdns.service", "_axis-video._tcp.local."),
        ("mdns.name", "AXIS M3045 - ACCC8E123456"),
        ("mdns.txt", "macaddress=ACCC8E123456"),
        ("mac", "ac:cc:8e:12:34:56"),
        ("hostname", "axis-accc8e123456.local"),
    ]
    assert {(o.ip, o.port) for o in obs} == {(link.ip_d, 80)}
    assert link.ip_d in ctx.hosts and link.ip_d2 not in ctx.hosts
    errors = [(e["ip"], e["error"]) for e in ctx.stats.errors]
    assert not any(ip == link.ip_d2 for ip, _ in errors)          # an outsider's reply is counted, not an error
    assert ctx.stats.counters["ignored_out_of_scope.mdns"] >= 1


def test_without_an_interface_address_nothing_is_sent() -> None:
    from scanner.discovery.base import RateLimiter, ScanContext, ScanStats
    from scanner.scope import Scope
    ctx2 = ScanContext(scope=Scope.build(["198.18.0.0/24"]), rate=RateLimiter(1_000_000), stats=ScanStats())
    import asyncio
    assert asyncio.run(linklab.collect(mdns.Mdns(window=0.1), ctx2)) == []
    assert "mDNS browse skipped" in ctx2.stats.errors[0]["error"]


@pytest.mark.lab
def test_lab_small_site_mdns_devices_are_found_and_the_excluded_one_recorded(link_lab_small) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_small
    want = site.with_service("mdns")
    excluded = want[-1]
    ctx = site.ctx([excluded])
    obs = site.run(lambda: linklab.collect(mdns.Mdns(), ctx))
    assert sorted({o.ip for o in obs}) == [ip for ip in want if ip != excluded]
    assert all(o.ip != excluded for o in obs)
    assert excluded not in {e["ip"] for e in ctx.stats.errors}, (ctx.stats.errors, ctx.stats.counters)
    assert ctx.stats.counters["ignored_out_of_scope.mdns"] >= 1
