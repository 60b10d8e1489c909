"""SSDP: recorded search responses and descriptions, the M-SEARCH, hostile input, a real sweep."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from scanner.discovery import ssdp
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

FIX = Path(__file__).parent / "fixtures"
DESC = (FIX / "ssdp" / "axis_m1014_description.xml").read_bytes()
_spec = importlib.util.spec_from_file_location("camscan_linklab", FIX / "linklab.py")
assert _spec and _spec.loader
linklab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(linklab)


def _expected(name: str) -> list[dict[str, str]]:
    return json.loads((FIX / "ssdp" / f"{name}.expected.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIX / "ssdp").glob("*.txt")))
def test_recorded_response_gives_expected_observations(name: str) -> None:
    parsed = ssdp.parse_reply((FIX / "ssdp" / f"{name}.txt").read_bytes())
    obs = ssdp.to_observations(parsed, "198.18.0.40", None)
    assert [{"signal": o.signal, "value": o.value} for o in obs] == _expected(name)
    assert {(o.ip, o.port, o.source) for o in obs} == {("198.18.0.40", 1900, "ssdp")}


def test_recorded_response_headers_are_case_insensitive() -> None:
    parsed = ssdp.parse_reply((FIX / "ssdp" / "axis_m1014_search.txt").read_bytes())
    assert parsed.get("Location") == "http://192.168.1.102:45895/rootdesc1.xml"
    assert parsed.get("usn", ) == "uuid:Upnp-BasicDevice-1_0-ACCC8E270AD8::urn:axis-com:service:BasicService:1"


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIX / "ssdp").glob("*_description.xml")))
def test_recorded_description_gives_expected_observations(name: str) -> None:
    desc = ssdp.parse_description((FIX / "ssdp" / f"{name}.xml").read_bytes())
    obs = ssdp.description_observations(desc, "198.18.0.40", None, 45895)
    assert [{"signal": o.signal, "value": o.value} for o in obs] == _expected(name)
    assert {(o.port, o.source) for o in obs} == {(45895, "ssdp")}


def test_msearch_is_a_discover_for_all_with_short_mx() -> None:
    lines = ssdp.build_probe().decode().split("\r\n")
    assert lines[0] == "M-SEARCH * HTTP/1.1"
    assert "HOST: 239.255.255.250:1900" in lines
    assert 'MAN: "ssdp:discover"' in lines
    assert "ST: ssdp:all" in lines
    assert any(x.startswith("MX: ") and 1 <= int(x[4:]) <= 2 for x in lines)
    assert lines[-2:] == ["", ""]


def test_declared_signals_are_in_the_vocabulary() -> None:
    assert ssdp.Ssdp.signals <= set(SIGNALS)
    assert ssdp.MODULE.phase == 1 and ssdp.MODULE.per_link


def test_location_targets_only_http_ipv4_literals() -> None:
    assert ssdp.location_target("http://198.18.0.40:45895/rootdesc1.xml") == ("198.18.0.40", 45895,
                                                                             "/rootdesc1.xml")
    assert ssdp.location_target("http://198.18.0.40/desc?x=1") == ("198.18.0.40", 80, "/desc?x=1")
    assert ssdp.location_target("http://camera.local/desc.xml") is None      # would need DNS
    assert ssdp.location_target("https://198.18.0.40/desc.xml") is None
    assert ssdp.location_target("http://198.18.0.40:99999/") is None


def test_http_body_handles_plain_and_chunked() -> None:
    assert ssdp.http_body(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc") == b"abc"
    assert ssdp.http_body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") \
        == b"abcde"
    with pytest.raises(DecodeError):
        ssdp.http_body(b"HTTP/1.1 404 Not Found\r\n\r\n")


@pytest.mark.parametrize("data", [
    b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",   # another searcher, not a reply
    b"HTTP/1.1 500 Oops\r\nSERVER: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nSERVER: caf\xe9\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 100 + b"\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"A" * 20000,
    b"HTTP/1.1 200 OK\r\nthis line has no colon\r\n\r\n",
    b"",
], ids=["search", "status-500", "bad-utf8", "too-many-headers", "huge", "bad-header", "empty"])
def test_hostile_responses_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        ssdp.parse_reply(data)


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    b'<root xmlns="urn:schemas-upnp-org:device-1-0"><device><manufacturer>&b;</manufacturer></device></root>',
    b'<root xmlns="urn:schemas-upnp-org:device-1-0"><device><manufacturer>' + b"A" * 70000
    + b"</manufacturer></device></root>",
    b'<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion/></root>',
    b"<html><body>not a description</body></html>",
    b'<root xmlns="urn:schemas-upnp-org:device-1-0"><device><manufacturer>\xff</manufacturer>',
], ids=["entity-bomb", "huge", "no-device", "html", "bad-utf8-truncated"])
def test_hostile_descriptions_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        ssdp.parse_description(data)


# --- the description fetch against loopback servers (caps in bytes and seconds) -----------------

async def _serve(handler):  # type: ignore[no-untyped-def]
    import asyncio
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_fetch_reads_a_description_over_loopback() -> None:
    import asyncio

    async def go() -> bytes:
        async def handler(reader, writer):  # type: ignore[no-untyped-def]
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n" + DESC)
            await writer.drain()
            writer.close()
        server, port = await _serve(handler)
        async with server:
            return await ssdp.fetch("127.0.0.1", port, "/rootdesc1.xml")
    desc = ssdp.parse_description(ssdp.http_body(asyncio.run(go())))
    assert (desc.manufacturer, desc.model_name, desc.model_number) == ("AXIS", "AXIS M1014", "M1014")


def test_fetch_gives_up_on_a_huge_or_dripping_or_absent_server() -> None:
    import asyncio

    async def huge(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        try:
            for _ in range(100):
                writer.write(b"<a>" + b"x" * 4096 + b"</a>")
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    async def drip(reader, writer):  # type: ignore[no-untyped-def]
        try:
            for b in b"HTTP/1.1 200 OK\r\n\r\n<root>":
                writer.write(bytes([b]))
                await writer.drain()
                await asyncio.sleep(0.2)
        except ConnectionError:
            pass

    async def go(handler, timeout: float) -> str:  # type: ignore[no-untyped-def]
        server, port = await _serve(handler)
        async with server:
            try:
                await ssdp.fetch("127.0.0.1", port, "/", max_bytes=64 * 1024, timeout=timeout)
            except DecodeError as e:
                return str(e)
        return "no error"

    assert "larger than" in asyncio.run(go(huge, 5.0))
    assert "longer than" in asyncio.run(go(drip, 0.5))

    async def closed_port() -> str:
        server, port = await _serve(huge)
        server.close()
        await server.wait_closed()
        try:
            await ssdp.fetch("127.0.0.1", port, "/")
        except DecodeError as e:
            return str(e)
        return "no error"
    assert "fetch failed" in asyncio.run(closed_port())


# --- I/O on a private link ----------------------------------------------------------------------

lab = pytest.mark.skipif(not linklab.can_build(), reason="needs root to build network namespaces")
SEARCH = (FIX / "ssdp" / "axis_m1014_search.txt").read_bytes()


@pytest.fixture
def link():  # type: ignore[no-untyped-def]
    lk = linklab.LinkLab(f"u{os.getpid() % 10000}", 204)
    yield lk
    lk.close()


@pytest.mark.lab
@lab
def test_sweep_reports_server_and_description_and_never_fetches_outside(link) -> None:  # type: ignore[no-untyped-def]
    port = 45895
    link.http_server(port, {"/rootdesc1.xml": DESC})
    here = SEARCH.replace(b"192.168.1.102", link.ip_d.encode())
    # an in-scope device whose LOCATION points outside the scope, and an outsider answering itself
    pointing_out = SEARCH.replace(b"192.168.1.102", link.ip_d2.encode()).replace(
        b"ST: urn:axis-com:service:BasicService:1", b"ST: upnp:rootdevice")
    outsider = SEARCH.replace(b"192.168.1.102", link.ip_d2.encode())

    def handler(data: bytes, src: tuple[str, int], dst: str) -> list[tuple[bytes, str]]:
        if not data.startswith(b"M-SEARCH"):
            return []
        return [(here, link.ip_d), (here, link.ip_d), (pointing_out, link.ip_d), (outsider, link.ip_d2),
                (b"HTTP/1.1 200 OK\r\nSERVER: \xff\r\n\r\n", link.ip_d)]

    link.udp_responder(ssdp.PORT, ssdp.GROUP, handler)
    ctx = linklab.make_ctx(link, [f"{link.ip_d}/32"])
    obs = link.run_scanner(lambda: linklab.collect(ssdp.Ssdp(window=1.5), ctx))
    assert linklab.pairs(obs) == [
        ("ssdp.server", "Linux/2.6.35, UPnP/1.0, Portable SDK for UPnP devices/1.6.18"),
        ("upnp.manufacturer", "AXIS"), ("upnp.model", "AXIS M1014"), ("upnp.model_number", "M1014"),
    ]
    assert {o.ip for o in obs} == {link.ip_d}
    assert [o.port for o in obs] == [1900, port, port, port]
    assert link.http_requests == [(link.ip_d, "GET /rootdesc1.xml HTTP/1.0")]   # once, never .3
    errors = [(e["ip"], e["error"]) for e in ctx.stats.errors]
    assert not any(ip == link.ip_d2 for ip, _ in errors)          # an outsider's reply is counted, not an error
    assert ctx.stats.counters["ignored_out_of_scope.ssdp"] >= 1
    assert any(ip == link.ip_d and "LOCATION" in m and "not fetched" in m for ip, m in errors)
    assert any(ip == link.ip_d and "undecodable" in m for ip, m in errors)


@pytest.mark.lab
def test_lab_small_site_ssdp_devices_report_server_and_description(link_lab_small) -> None:  # type: ignore[no-untyped-def]
    site = link_lab_small
    want = site.with_service("ssdp")
    ctx = site.ctx([])
    obs = site.run(lambda: linklab.collect(ssdp.Ssdp(), ctx))
    for signal in ("ssdp.server", "upnp.manufacturer", "upnp.model", "upnp.model_number"):
        assert sorted(o.ip for o in obs if o.signal == signal) == want, signal
    assert ctx.stats.errors == []
