"""TCP connect probes: port-state classification, work planning, and a real sweep in a private netns pair."""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import os
from pathlib import Path

import pytest

from scanner.discovery import tcp

_spec = importlib.util.spec_from_file_location(
    "camscan_netpair", Path(__file__).parent / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)


def test_classify_open_refused_silent() -> None:
    assert tcp.classify(None) == tcp.OPEN
    assert tcp.classify(ConnectionRefusedError()) == tcp.CLOSED
    assert tcp.classify(OSError(errno.ECONNREFUSED, "refused")) == tcp.CLOSED
    assert tcp.classify(TimeoutError()) == tcp.SILENT
    assert tcp.classify(OSError(errno.EHOSTUNREACH, "no route")) == tcp.SILENT


def test_plan_probes_known_hosts_fully_and_stages_the_rest() -> None:
    now, unknown = tcp.plan(["10.0.0.1", "10.0.0.2"], {"10.0.0.2"}, (80, 554))
    assert now == [("10.0.0.2", 80), ("10.0.0.2", 554)]
    assert unknown == ["10.0.0.1"]


def test_default_ports_cover_camera_services_without_duplicates() -> None:
    for p in (80, 443, 554, 8000, 8080, 8443, 37777, 8899, 34567):
        assert p in tcp.DEFAULT_PORTS
    assert len(set(tcp.DEFAULT_PORTS)) == len(tcp.DEFAULT_PORTS)


def test_out_of_scope_address_is_never_probed() -> None:
    ctx = netpair.make_ctx(["198.18.250.0/30"], ["198.18.250.2"])

    async def go() -> str:
        return await tcp.TcpConnect()._probe(ctx, "198.18.250.2", 80, asyncio.Semaphore(1),
                                            asyncio.Semaphore(1))
    assert asyncio.run(go()) == tcp.SILENT
    assert ctx.stats.counters.get("tcp.probes", 0) == 0


lab = pytest.mark.skipif(not netpair.can_build(), reason="needs root to build network namespaces")


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"t{os.getpid() % 10000}", 31, extra_b=["198.18.31.3"])
    yield p
    p.close()


@pytest.mark.lab
@lab
def test_sweep_finds_open_ports_and_live_hosts(pair) -> None:  # type: ignore[no-untyped-def]
    socks = [pair.listen_b(p) for p in (80, 554, 37777)]
    ctx = netpair.make_ctx(["198.18.31.0/28"], ["198.18.31.1"])
    obs = pair.run_in_a(lambda: netpair.collect(tcp.TcpConnect(), ctx))
    for s in socks:
        s.close()
    assert obs == []
    assert ctx.hosts["198.18.31.2"].open_ports == {80, 554, 37777}
    assert ctx.hosts["198.18.31.3"].open_ports == set()   # refused everywhere: live, nothing open
    assert "198.18.31.9" not in ctx.hosts                  # no such host
    assert "198.18.31.1" not in ctx.hosts                  # excluded: never probed
    assert ctx.stats.counters["tcp.open"] == 3


@pytest.mark.lab
@lab
def test_addresses_silent_to_arp_are_skipped(pair) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import dataclass, field

    from scanner.discovery.base import ScanContext

    @dataclass(slots=True)
    class SweptCtx(ScanContext):
        arp_swept: set[str] = field(default_factory=set)

    base = netpair.make_ctx(["198.18.31.0/28"], ["198.18.31.1"])
    ctx = SweptCtx(scope=base.scope, rate=base.rate, stats=base.stats)
    ctx.arp_swept.update({"198.18.31.2", "198.18.31.3"})   # ARP asked both; only .2 answered
    ctx.host("198.18.31.2").mac = "44:19:b6:00:00:01"
    sock = pair.listen_b(80)
    pair.run_in_a(lambda: netpair.collect(tcp.TcpConnect(), ctx))
    sock.close()
    assert ctx.hosts["198.18.31.2"].open_ports == {80}
    assert "198.18.31.3" not in ctx.hosts                  # live, but on-link and silent to ARP: not probed
    assert "198.18.31.9" not in ctx.hosts
