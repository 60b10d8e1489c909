"""nmap: XML -> observations on a report recorded from real nmap, hostile XML, and the engine in a private netns."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from scanner.discovery import nmap as nmapmod
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

HERE = Path(__file__).parent
FIX = HERE / "fixtures_host" / "nmap"
_spec = importlib.util.spec_from_file_location("camscan_netpair", HERE / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)

MAC_B = "44:19:b6:00:00:37"
SSH_BANNER = b"SSH-2.0-dropbear_2019.78\r\n"
HTTP_BODY = b"<html><title>Login</title></html>\r\n"
HTTP_REPLY = (b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n%s" % (len(HTTP_BODY), HTTP_BODY))
RTSP_REPLY = (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: Dahua Rtsp Server\r\n"
              b"Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n")


def test_signals_in_vocabulary() -> None:
    assert nmapmod.NmapEngine.signals <= set(SIGNALS)


def test_engine_arguments_never_resolve_names() -> None:
    assert " -n" in nmapmod.discovery_args([]) and "-sn" in nmapmod.discovery_args([])
    assert "--exclude 10.0.0.1/32,10.0.0.8/29" in nmapmod.discovery_args(["10.0.0.1/32", "10.0.0.8/29"])
    assert " -n " in nmapmod.service_args() and "-sV" in nmapmod.service_args()


HAND = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sV -oX - 10.0.0.0/24" version="7.93" xmloutputversion="1.05">
<host><status state="up" reason="arp-response"/>
<address addr="10.0.0.64" addrtype="ipv4"/><address addr="44:19:B6:A1:B2:C3" addrtype="mac" vendor="x"/>
<hostnames><hostname name="cam-64.site.example" type="PTR"/></hostnames>
<ports><extraports state="closed" count="997"/>
<port protocol="tcp" portid="443"><state state="open"/><service name="http" tunnel="ssl" product="lighttpd"/></port>
<port protocol="tcp" portid="22"><state state="open"/>
  <service name="ssh" product="Dropbear sshd" version="2019.78" extrainfo="protocol 2.0"/></port>
<port protocol="tcp" portid="8000"><state state="filtered"/><service name="http-alt"/></port>
<port protocol="tcp" portid="554"><state state="open"/><service name="rtsp"/><script id="fingerprint-strings"
  output="&#xa;  RTSPRequest: &#xa;    RTSP/1.0 401 Unauthorized&#xa;    CSeq: 1&#xa;    WWW-Authenticate: Digest \
realm=&quot;IP Camera(C2183)&quot;, nonce=&quot;a4b6&quot;, stale=&quot;FALSE&quot;&#xa;"/></port>
<port protocol="udp" portid="161"><state state="open"/><service name="snmp"/></port>
</ports></host>
<host><status state="down"/><address addr="10.0.0.65" addrtype="ipv4"/></host>
</nmaprun>"""


def test_labels_are_used_only_without_literal_output() -> None:
    obs = nmapmod.observations_from_nmap_xml(HAND)
    assert list(obs) == ["10.0.0.64"]                        # the down host gives nothing
    got = {(o.signal, o.value, o.port) for o in obs["10.0.0.64"]}
    assert got == {
        ("mac", "44:19:b6:a1:b2:c3", None),
        ("hostname", "cam-64.site.example", None),
        ("http.server", "lighttpd", 443),                    # ssl-tunnelled http
        ("ssh.banner", "Dropbear sshd 2019.78 (protocol 2.0)", 22),
        ("rtsp.www_authenticate", 'Digest realm="IP Camera(C2183)", nonce="a4b6", stale="FALSE"', 554),
        ("tcp.port", "443", 443), ("tcp.port", "22", 22), ("tcp.port", "554", 554),
    }                                                        # filtered 8000 and UDP 161 ignored


@pytest.mark.parametrize("xml", [
    "", "not xml", "<nmaprun><host>", "<other/>",
    '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><nmaprun>&b;</nmaprun>',  # entity expansion
])
def test_hostile_or_broken_xml_is_a_decode_error(xml: str) -> None:
    with pytest.raises(DecodeError):
        nmapmod.observations_from_nmap_xml(xml)


def test_recorded_real_nmap_report() -> None:
    xml = (FIX / "service_scan.xml").read_text()
    obs = nmapmod.observations_from_nmap_xml(xml)
    got = {(o.signal, o.value, o.port) for o in obs["198.18.37.2"]}
    assert ("http.server", "App-webs/", 80) in got
    assert ("http.title", "Login", 80) in got
    assert ("ssh.banner", "SSH-2.0-dropbear_2019.78", 22) in got
    assert ("mac", MAC_B, None) in got
    assert any(s == "rtsp.server" and p == 554 for s, _, p in got)
    assert all(o.source == "nmap" and o.ip == "198.18.37.2" for o in obs["198.18.37.2"])


lab = pytest.mark.skipif(not (netpair.can_build() and shutil.which("nmap")), reason="needs root and nmap")


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"n{os.getpid() % 10000}", 37, mac_b=MAC_B)
    yield p
    p.close()


def _answer(first: bytes, proto: bytes, ok: bytes, server: bytes) -> bytes:
    """Like an embedded server: the page for a request of its protocol, a quick 400 for anything else."""
    line = first.split(b"\r\n", 1)[0]
    if line.split(b" ")[-1][:5] == proto[:5] and line.split(b" ", 1)[0] in (b"GET", b"HEAD", b"OPTIONS", b"DESCRIBE"):
        return ok
    return proto + b" 400 Bad Request\r\nServer: " + server + b"\r\nContent-Length: 0\r\n\r\n"


async def _device(pair: Any) -> list[asyncio.AbstractServer]:
    def talker(proto: bytes, ok: bytes, server: bytes) -> Any:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                first = await asyncio.wait_for(r.read(4096), 3)
                if first:
                    w.write(_answer(first, proto, ok, server))
                    await w.drain()
            except (ConnectionError, TimeoutError):
                pass
            w.close()
        return handle

    async def ssh_h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(SSH_BANNER)
        try:
            await w.drain()
            await asyncio.wait_for(r.read(4096), 3)
        except (ConnectionError, TimeoutError):
            pass
        w.close()

    handlers = ((talker(b"HTTP/1.1", HTTP_REPLY, b"App-webs/"), 80), (ssh_h, 22),
                (talker(b"RTSP/1.0", RTSP_REPLY, b"Dahua Rtsp Server"), 554))
    return [await asyncio.start_server(h, sock=pair.listen_b(p)) for h, p in handlers]


@pytest.mark.lab
@lab
def test_engine_scans_only_the_scope(pair) -> None:  # type: ignore[no-untyped-def]
    ctx = netpair.make_ctx(["198.18.37.0/29"], ["198.18.37.1"])
    record = os.environ.get("CAMSCAN_RECORD_NMAP")

    async def go() -> list[Any]:
        servers = await _device(pair)
        try:
            eng = nmapmod.NmapEngine(ports=(22, 80, 554, 8000))
            if record:  # regenerate the fixture from a real run
                _, xml = await asyncio.to_thread(eng._scan, ctx)
                Path(record).write_text(xml)
            return await netpair.collect(eng, ctx)
        finally:
            for s in servers:
                s.close()

    obs = pair.run_in_a(go)
    got = {(o.ip, o.signal, o.value, o.port) for o in obs}
    assert ("198.18.37.2", "http.server", "App-webs/", 80) in got
    assert ("198.18.37.2", "ssh.banner", "SSH-2.0-dropbear_2019.78", 22) in got
    assert ("198.18.37.2", "mac", MAC_B, None) in got                 # root nmap on the link reports it
    assert ctx.hosts["198.18.37.2"].open_ports == {22, 80, 554}
    assert set(ctx.hosts) == {"198.18.37.2"}                           # .1 excluded, others absent
    assert ctx.stats.errors == []
