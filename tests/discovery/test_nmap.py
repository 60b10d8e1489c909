"""nmap: XML -> observations on a report recorded from real nmap, hostile XML, and the engine in a private netns."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import sys
import time
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


def _after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_sweep_arguments_stay_in_scope_at_the_scan_rate() -> None:
    args = nmapmod.sweep_args(["198.18.0.0/24"], ["198.18.0.1/32", "198.18.0.255"], (80, 554, 22), 2000.0)
    assert "-n" in args                                   # name resolution would send DNS outside the scope
    assert args[-1] == "198.18.0.0/24" and sum(a == "198.18.0.0/24" for a in args) == 1
    assert _after(args, "--exclude") == "198.18.0.1/32,198.18.0.255"
    assert _after(args, "-p") == "80,554,22"              # the camera port list, in its order
    assert _after(args, "--max-rate") == "2000" == _after(args, "--min-rate")   # --rate is a cap nmap keeps
    assert "-sS" in args and "-Pn" not in args            # discovery (ARP on the link) and ports in one run
    assert not any(a.startswith("-sV") or a.startswith("--script") for a in args)
    assert "--exclude" not in nmapmod.sweep_args(["10.0.0.0/30"], [], (80,), 1.0)
    assert _after(nmapmod.sweep_args(["10.0.0.0/30"], [], (80,), 0.2), "--max-rate") == "1"   # never 0 (no cap)


def test_unprivileged_engine_asks_nmap_for_connect_scans() -> None:
    args = nmapmod.sweep_args(["10.0.0.0/30"], [], (80,), 100.0, privileged=False)
    assert "-sT" in args and "--unprivileged" in args and "-sS" not in args
    assert "--privileged" in nmapmod.banner_args(["10.0.0.2"], 100.0, privileged=True, root=False)


def test_banner_pass_reads_only_ssh_and_telnet_of_the_hosts_given() -> None:
    args = nmapmod.banner_args(["10.0.0.2", "10.0.0.9"], 500.0)
    assert args[-2:] == ["10.0.0.2", "10.0.0.9"] and "-n" in args and "-Pn" in args
    assert _after(args, "-p") == "22,23" and _after(args, "--script") == "banner"
    assert _after(args, "--max-rate") == "500"


def test_hosts_are_split_out_of_partial_output_as_nmap_writes_them() -> None:
    one = b'<host><status state="up"/><address addr="10.0.0.2" addrtype="ipv4"/><hostnames/></host>'
    two = b'<host starttime="1"><address addr="10.0.0.3" addrtype="ipv4"/></host>'
    text = b'<?xml version="1.0"?><nmaprun><hosthint><status state="up"/></hosthint>' + one + two + b"</nmaprun>"
    got: list[bytes] = []
    rest = b""
    for i in range(0, len(text), 7):                      # output arriving in small pieces
        done, rest = nmapmod.split_hosts(rest + text[i:i + 7])
        got += done
    assert got == [one, two]
    assert [h.ip for b in got for h in nmapmod.parse_nmap_xml(b"<nmaprun>" + b + b"</nmaprun>")] == \
        ["10.0.0.2", "10.0.0.3"]


FAKE_NMAP = """#!{python}
import json, os, sys, time
open({argv!r}, "a").write(json.dumps(sys.argv[1:]) + "\\n")
open({pid!r}, "w").write(str(os.getpid()))
sys.stdout.write('<?xml version="1.0"?><nmaprun>')
for ip in {ips!r}:
    sys.stdout.write('<host><status state="up"/><address addr="%s" addrtype="ipv4"/>'
                     '<address addr="44:19:b6:00:00:02" addrtype="mac"/><ports><port protocol="tcp" portid="22">'
                     '<state state="open"/><service name="ssh"/><script id="banner" output="SSH-2.0-fake"/></port>'
                     '</ports></host>' % ip)
    sys.stdout.flush()
    time.sleep({pause})
sys.stdout.write("</nmaprun>")
"""


def _fake(tmp_path: Path, ips: list[str], pause: float) -> tuple[str, Path, Path]:
    argv, pid = tmp_path / "argv", tmp_path / "pid"
    prog = tmp_path / "nmap"
    prog.write_text(FAKE_NMAP.format(python=sys.executable, argv=str(argv), pid=str(pid), ips=ips, pause=pause))
    prog.chmod(0o755)
    return str(prog), argv, pid


def test_engine_hands_each_host_on_as_nmap_reports_it(tmp_path: Path) -> None:
    prog, argv, _ = _fake(tmp_path, ["198.18.37.2", "198.18.37.3"], 0.3)
    ctx = netpair.make_ctx(["198.18.37.0/29"], ["198.18.37.1"])
    handed: list[tuple[str, int]] = []
    ctx.on_ports.append(lambda ip: handed.append((ip, len(ctx.hosts))))
    obs = asyncio.run(netpair.collect(nmapmod.NmapEngine(ports=(22, 80), program=prog), ctx))
    assert handed == [("198.18.37.2", 1), ("198.18.37.3", 2)]   # .2 went on before nmap had reported .3
    runs = [json.loads(line) for line in argv.read_text().splitlines()]
    assert len(runs) == 2                                          # the sweep, then the banner pass
    sweep, banners = runs
    assert sweep[-1] == "198.18.37.0/29" and _after(sweep, "--exclude") == "198.18.37.1/32,198.18.37.0,198.18.37.7"
    full = 1 / ctx.rate.interval                                   # the loan is over: the limiter's whole rate again
    assert _after(sweep, "--max-rate") == str(round(nmapmod.NMAP_SHARE * full))   # nmap's share; camscan the rest
    assert ctx.stats.counters["nmap.rate"] == nmapmod.NMAP_SHARE * full
    assert banners[-2:] == ["198.18.37.2", "198.18.37.3"]          # only hosts with 22/23 open
    assert ("198.18.37.2", "ssh.banner", "SSH-2.0-fake") in {(o.ip, o.signal, o.value) for o in obs}
    assert ctx.hosts["198.18.37.3"].open_ports == {22} and ctx.stats.errors == []


def test_a_stop_ends_nmap(tmp_path: Path) -> None:
    prog, _, pid_file = _fake(tmp_path, ["198.18.37.2", "198.18.37.3"], 60)
    ctx = netpair.make_ctx(["198.18.37.0/29"])

    async def go() -> bool:
        ctx.on_ports.append(lambda ip: ctx.rate.halt())         # the scan is told to stop after the first host
        task = asyncio.ensure_future(netpair.collect(nmapmod.NmapEngine(program=prog), ctx))
        end = time.monotonic() + 5                                # not the fake nmap's 60 s
        while not ctx.rate.halted or (pid_file.exists() and _alive(int(pid_file.read_text()))):
            assert time.monotonic() < end, "nmap still runs after the stop"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        waiting = not task.done()             # like a module waiting for a send slot: the sweep cancels it
        task.cancel()
        return waiting

    assert asyncio.run(go())
    assert set(ctx.hosts) == {"198.18.37.2"} and ctx.stats.counters["nmap.runs"] == 1   # no banner pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False                          # ended and reaped
    return True


def test_a_failing_nmap_is_one_error_entry(tmp_path: Path) -> None:
    prog = tmp_path / "nmap"
    prog.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('Failed to open device eth9\\n')\n"
                    "sys.exit(1)\n")
    prog.chmod(0o755)
    ctx = netpair.make_ctx(["198.18.37.0/29"])
    assert asyncio.run(netpair.collect(nmapmod.NmapEngine(program=str(prog)), ctx)) == []
    assert [e["error"] for e in ctx.stats.errors] == [
        "nmap failed: nmap exited with status 1: Failed to open device eth9"]


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
    ctx = netpair.make_ctx(["198.18.37.0/29"], ["198.18.37.1"], privileged=True)   # root: SYN scan, ARP

    async def go() -> list[Any]:
        servers = await _device(pair)
        try:
            return await netpair.collect(nmapmod.NmapEngine(ports=(22, 80, 554, 8000)), ctx)
        finally:
            for s in servers:
                s.close()

    obs = pair.run_in_a(go)
    got = {(o.ip, o.signal, o.value, o.port) for o in obs}
    assert ("198.18.37.2", "ssh.banner", "SSH-2.0-dropbear_2019.78", 22) in got   # the banner pass
    assert ("198.18.37.2", "mac", MAC_B, None) in got                 # root nmap on the link reports it
    assert {("198.18.37.2", "tcp.port", str(p), p) for p in (22, 80, 554)} <= got
    assert ctx.hosts["198.18.37.2"].open_ports == {22, 80, 554}
    assert ctx.ports_known == {"198.18.37.2"}                          # handed on to the per-host modules
    assert set(ctx.hosts) == {"198.18.37.2"}                           # .1 excluded, others absent
    assert ctx.stats.errors == []
