"""RTSP module: recorded replies to observations, hostile input, and a live probe in a private netns pair."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from scanner.discovery import rtsp
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

HERE = Path(__file__).parent
FIX = HERE / "fixtures_host" / "rtsp"
_spec = importlib.util.spec_from_file_location("camscan_netpair", HERE / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)


def sv(obs: list[Any]) -> set[tuple[str, str]]:
    return {(o.signal, o.value) for o in obs}


def replay(name: str) -> set[tuple[str, str]]:
    return sv(rtsp.to_observations(rtsp.parse_reply((FIX / name).read_bytes()), "10.0.0.2", None, 554))


def test_signals_in_vocabulary() -> None:
    assert rtsp.Rtsp.signals <= set(SIGNALS)


def test_probe_shape() -> None:
    req = rtsp.build_probe("DESCRIBE", "10.0.0.2", 554, 2)
    assert req.startswith(b"DESCRIBE rtsp://10.0.0.2:554/ RTSP/1.0\r\nCSeq: 2\r\n")
    assert b"Accept: application/sdp" in req and req.endswith(b"\r\n\r\n")
    assert b"Authorization" not in req


def test_recorded_replies() -> None:
    assert replay("hik_options_200.rtsp") == set()          # no Server header in that capture
    assert replay("hik_describe_401.rtsp") == {
        ("rtsp.www_authenticate",
         'Digest realm="IP Camera(C2183)", nonce="a4b6f7c3e0d31c2bbf9a3d2c1e0f9a8b", stale="FALSE"')}
    assert replay("dahua_describe_401.rtsp") == {
        ("rtsp.server", "Dahua Rtsp Server"),
        ("rtsp.www_authenticate", 'Digest realm="Login to 4M03B1DPAZ00123", nonce="1193506539"'),
        ("rtsp.www_authenticate", 'Basic realm="Login to 4M03B1DPAZ00123"')}
    assert replay("avigilon_options_200.rtsp") == {("rtsp.server", "AvigilonOnvifNvt/4.2.0.26")}


@pytest.mark.parametrize("data", [b"", b"HTTP/1.1 200 OK\r\n\r\n", b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n",
                                  b"\xff" * 100, b"RTSP/1.0 abc\r\n\r\n"])
def test_garbage_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        rtsp.parse_reply(data)


lab = pytest.mark.skipif(not netpair.can_build(), reason="needs root to build network namespaces")


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"r{os.getpid() % 10000}", 33)
    yield p
    p.close()


@pytest.mark.lab
@lab
def test_live_probe(pair) -> None:  # type: ignore[no-untyped-def]
    methods: list[str] = []
    quiet: list[str] = []

    def server(asked: list[str], options: str, describe: str) -> Any:
        """A recorded RTSP server: the fixture reply to each method, the methods asked noted in asked."""
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            head = await r.readuntil(b"\r\n\r\n")
            asked.append(head.split(b" ", 1)[0].decode())
            w.write((FIX / (options if head.startswith(b"OPTIONS") else describe)).read_bytes())
            await w.drain()
            w.close()
        return handle

    camera = server(methods, "hik_options_200.rtsp", "dahua_describe_401.rtsp")
    no_server_on_401 = server(quiet, "avigilon_options_200.rtsp", "hik_describe_401.rtsp")

    async def drip(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        for _ in range(60):
            w.write(b"R")
            await w.drain()
            await asyncio.sleep(0.1)
        w.close()

    s554, s8554, s10554 = pair.listen_b(554), pair.listen_b(8554), pair.listen_b(10554)
    ctx = netpair.make_ctx(["198.18.33.2"], timeout=1.0)
    ctx.host(pair.ip_b).open_ports.update({80, 554, 8554, 10554})

    async def go() -> list[Any]:
        a = await asyncio.start_server(camera, sock=s554)
        b = await asyncio.start_server(drip, sock=s8554)
        c = await asyncio.start_server(no_server_on_401, sock=s10554)
        try:
            return await netpair.collect(rtsp.Rtsp(), ctx)
        finally:
            a.close()
            b.close()
            c.close()

    obs = pair.run_in_a(go)
    assert methods == ["DESCRIBE"]                  # its 401 named the server too: OPTIONS would add nothing
    assert quiet == ["DESCRIBE", "OPTIONS"]         # a 401 without Server: OPTIONS asked for it
    assert ("rtsp.server", "Dahua Rtsp Server") in sv(obs)
    assert {(o.signal, o.port) for o in obs} >= {("rtsp.www_authenticate", 10554), ("rtsp.server", 10554)}
    assert all(o.port in (554, 10554) and o.source == "rtsp" for o in obs)
    assert any("port 8554" in e["error"] and "no complete reply" in e["error"]
               for e in ctx.stats.errors)                                # the drip became an error entry
