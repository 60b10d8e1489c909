"""TCP connect probes: port-state classification, work planning, and a real sweep in a private netns pair."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import os
from pathlib import Path
from typing import Any

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
    ssh_sock, telnet_sock = pair.listen_b(22), pair.listen_b(23)
    ctx = netpair.make_ctx(["198.18.31.0/28"], ["198.18.31.1"])
    accepted = {22: 0, 23: 0}

    async def ssh(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted[22] += 1
        w.write(b"SSH-2.0-Cisco-1.25\r\n")
        await w.drain()
        w.close()

    async def telnet(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted[23] += 1
        w.write(bytes([255, 251, 1, 255, 253, 31]))          # WILL ECHO, DO NAWS; greeting only after answers
        await w.drain()
        try:
            got = await asyncio.wait_for(r.readexactly(6), 2)
            if got == bytes([255, 254, 1, 255, 252, 31]):
                w.write(b"\r\n\r\nUser Access Verification\r\n\r\nUsername: ")
                await w.drain()
                await asyncio.sleep(0.5)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        w.close()

    async def go() -> list[Any]:
        a = await asyncio.start_server(ssh, sock=ssh_sock)
        b = await asyncio.start_server(telnet, sock=telnet_sock)
        try:
            return await netpair.collect(tcp.TcpConnect(), ctx)
        finally:
            a.close()
            b.close()

    obs = pair.run_in_a(go)
    for s in socks:
        s.close()
    assert {(o.signal, o.value, o.port) for o in obs} == {
        ("ssh.banner", "SSH-2.0-Cisco-1.25", 22),
        ("telnet.banner", "User Access Verification\r\n\r\nUsername:", 23),
        *(("tcp.port", str(p), p) for p in (22, 23, 80, 554, 37777))}   # every open port is an observation
    assert ctx.hosts["198.18.31.2"].open_ports == {22, 23, 80, 554, 37777}
    assert ctx.hosts["198.18.31.3"].open_ports == set()   # refused everywhere: live, nothing open
    assert "198.18.31.9" not in ctx.hosts                  # no such host
    assert "198.18.31.1" not in ctx.hosts                  # excluded: never probed
    assert ctx.stats.counters["tcp.open"] == 5
    assert accepted == {22: 1, 23: 1}   # each greeting is read on the probe's own connection, not a second one


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


def test_ssh_identification_line() -> None:
    # Banners from rapid7/recog xml/ssh_banners.xml (as quoted in fingerprints/cisco.yaml) and nmap's test run.
    assert tcp.parse_ssh_banner(b"SSH-2.0-Cisco-1.25\r\n") == "SSH-2.0-Cisco-1.25"
    assert tcp.parse_ssh_banner(b"Welcome\r\nSSH-2.0-dropbear_2019.78\r\n") == "SSH-2.0-dropbear_2019.78"
    with pytest.raises(tcp.DecodeError):
        tcp.parse_ssh_banner(b"HTTP/1.1 400 Bad Request\r\n")


def test_telnet_options_are_refused_and_stripped() -> None:
    # IAC WILL ECHO, IAC WILL SGA, IAC DO NAWS, a subnegotiation, then the Cisco IOS greeting (recog).
    raw = (bytes([255, 251, 1, 255, 251, 3, 255, 253, 31, 255, 250, 24, 1, 255, 240])
           + b"\r\n\r\nUser Access Verification\r\n\r\nUsername: ")
    _, answers = tcp.split_telnet(raw)
    assert answers == bytes([255, 254, 1, 255, 254, 3, 255, 252, 31])      # DONT, DONT, WONT
    assert tcp.telnet_text(raw) == "User Access Verification\r\n\r\nUsername:"
    assert tcp.telnet_text(bytes([255, 251, 1])) is None
    assert tcp.telnet_text(b"\xff\xff\x00\x01ok\xc3") == "\ufffdok\ufffd"   # escaped IAC, controls, bad UTF-8


@pytest.mark.lab
@lab
def test_a_stopped_sweep_leaves_no_greeting_connection_open(pair) -> None:  # type: ignore[no-untyped-def]
    silent = pair.listen_b(23)   # accepts (the kernel does) and never says a word
    ctx = netpair.make_ctx(["198.18.31.0/28"], ["198.18.31.1"])
    ctx.host(pair.ip_b)

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def go() -> tuple[int, int, int, int]:
        mod = tcp.TcpConnect(ports=(23, 80))
        gsem, hsem = asyncio.Semaphore(8), asyncio.Semaphore(4)
        mod._bsem = asyncio.Semaphore(2)
        before = fds()
        task = asyncio.ensure_future(mod._host(ctx, pair.ip_b, False, gsem, hsem))
        while not ctx.stats.counters.get("tcp.banner_reads"):   # the greeting is being waited for
            await asyncio.sleep(0.01)
        during = fds()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)   # done callbacks run
        return before, during, fds(), mod._bsem._value

    before, during, after, free = pair.run_in_a(go)
    silent.close()
    assert during > before            # the kept connection was open while its greeting was awaited
    assert after == before and free == 2   # closed, and its connection slot given back, when the sweep stopped
