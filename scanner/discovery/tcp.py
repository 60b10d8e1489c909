"""TCP connect probes of the ports cameras and recorders listen on (phase 1, per host).

Protocol: a plain TCP three-way handshake (RFC 9293), closed at once; nothing is sent on the
connection. An accepted connection marks the port open; a refusal (RST) still proves the address
is live. Results go into ctx.hosts (open_ports). The only observations are the banners that SSH
(RFC 4253 s4.2 identification string) and telnet (RFC 854; option offers refused per RFC 855)
servers send first on ports 22 and 23. No reverse DNS: it would send packets outside the scope.

Speed: addresses not yet known to be live get a short first pass on a few common ports; only
addresses that answer it (open or refused) get the full list, so silent addresses cost one
short timeout round instead of one per port.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import ClassVar

from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.models import Observation

#: Ports probed by default, with why. Sources: shared/docs/protocols.md section 7 ("Per vendor"
#: and "ONVIF ports seen"), public camera port scanners (Ronanswift13/item
#: laser_camera/pic_compare/PythonCode/tools/scan_ports.py: 8000 Hikvision SDK, 37777 Dahua,
#: 34567 Xiongmai, 10554 alternate RTSP; Eduardo-Aguilar-21/tlp-video test.py: 8888, 9000, 49152
#: on DVRs), and a Shodan CCTV query list (Viewtron 6036, NUUO 5150/5160, GeoVision 10000).
DEFAULT_PORTS: tuple[int, ...] = (
    80,      # HTTP web UI / ONVIF (Hikvision, Dahua, Axis)
    443,     # HTTPS web UI
    554,     # RTSP
    8000,    # Hikvision SDK command port; ONVIF on OEM firmware
    8080,    # alternate HTTP / ONVIF
    8443,    # alternate HTTPS; Hikvision SDK over TLS on some firmware
    37777,   # Dahua private TCP service
    8899,    # ONVIF on XMEye / Xiongmai OEM firmware
    2020,    # ONVIF on TP-Link Tapo
    8554,    # alternate RTSP
    10554,   # alternate RTSP
    34567,   # Xiongmai (XMEye / NETSurveillance) media and control port
    5000,    # Dahua DHIP/P2P TCP; UPnP on some recorders
    7001,    # alternate HTTP on some VMS/recorder web servers
    9000,    # DVR/NVR client port on several OEM recorders
    49152,   # UPnP device description on embedded stacks
    6036,    # Viewtron DVR/NVR
    5150,    # NUUO NVR
    10000,   # GeoVision NVR / camera
    81,      # alternate HTTP on cheap DVRs
    8081,    # alternate HTTP
    8888,    # alternate HTTP on DVRs
    5357,    # WSDAPI HTTP on Windows hosts (Server: Microsoft-HTTPAPI/2.0): names a non-camera
    22,      # SSH (banner is a weak but real signal; also marks a host live)
    23,      # telnet (still open on old DVRs)
)

#: First-pass ports for addresses not yet known to be live (cheap, widely answered).
LIVENESS_PORTS: tuple[int, ...] = (80, 443, 554, 8000, 22)

DEFAULT_TIMEOUT = 0.75        # seconds per connect; refusals come back in well under a millisecond
GLOBAL_CONCURRENCY = 512      # connects in flight at once across the whole sweep

#: Ports whose server speaks first, and the signal its greeting becomes.
BANNER_PORTS: dict[int, str] = {22: "ssh.banner", 23: "telnet.banner"}
BANNER_BYTES = 2048
BANNER_WAIT = 1.0             # seconds to wait for a greeting
MAX_BANNER_CHARS = 256

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240

OPEN, CLOSED, SILENT = "open", "closed", "silent"
_REFUSED = {errno.ECONNREFUSED, errno.ECONNRESET}


def classify(exc: BaseException | None) -> str:
    """Port state from the outcome of one connect: None -> open, refusal -> closed, else silent."""
    if exc is None:
        return OPEN
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError):
        return CLOSED
    if isinstance(exc, OSError) and exc.errno in _REFUSED:
        return CLOSED
    return SILENT


def plan(addresses: Iterable[str], known_live: set[str], ports: Sequence[int]) -> tuple[
        list[tuple[str, int]], list[str]]:
    """Split work: (ip, port) pairs to probe at once for known hosts, and addresses needing a first pass."""
    now: list[tuple[str, int]] = []
    unknown: list[str] = []
    for ip in addresses:
        if ip in known_live:
            now.extend((ip, p) for p in ports)
        else:
            unknown.append(ip)
    return now, unknown


def parse_ssh_banner(data: bytes) -> str:
    """The SSH identification line ("SSH-2.0-..."), which may follow other lines; DecodeError if absent."""
    for line in data.split(b"\n"):
        if line.startswith(b"SSH-"):
            text = line.rstrip(b"\r").decode("utf-8", errors="replace").strip()
            return text[:MAX_BANNER_CHARS]
    raise DecodeError("no SSH identification line")


def split_telnet(data: bytes) -> tuple[bytes, bytes]:
    """(text, refusals): data without IAC commands, and the WONT/DONT answers to its option offers."""
    text = bytearray()
    answers = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b != IAC:
            text.append(b)
            i += 1
            continue
        if i + 1 >= n:
            break
        cmd = data[i + 1]
        if cmd == IAC:
            text.append(IAC)
            i += 2
        elif cmd in (DO, DONT, WILL, WONT):
            if i + 2 >= n:
                break
            if cmd == DO:
                answers += bytes((IAC, WONT, data[i + 2]))
            elif cmd == WILL:
                answers += bytes((IAC, DONT, data[i + 2]))
            i += 3
        elif cmd == SB:
            end = data.find(bytes((IAC, SE)), i + 2)
            i = n if end < 0 else end + 2
        else:
            i += 2
    return bytes(text), bytes(answers)


def telnet_text(data: bytes) -> str | None:
    """A telnet server's greeting: commands and control bytes removed, line breaks kept (as recog records them)."""
    text, _ = split_telnet(data)
    s = text.decode("utf-8", errors="replace")
    s = "".join(c for c in s if c.isprintable() or c in "\r\n\t").strip()
    return s[:MAX_BANNER_CHARS] or None


def _concurrency_cap() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return GLOBAL_CONCURRENCY
    return max(16, min(GLOBAL_CONCURRENCY, soft // 2))


class TcpConnect(Module):
    """Connect-probe every in-scope address; live hosts and their open ports go into ctx.hosts."""

    name: ClassVar[str] = "tcp"
    after: ClassVar[frozenset[str]] = frozenset({"arp"})   # skip on-link addresses silent to ARP
    signals: ClassVar[frozenset[str]] = frozenset({*BANNER_PORTS.values(), "tcp.port"})
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False
    phase: ClassVar[int] = 1

    def __init__(self, ports: Sequence[int] = DEFAULT_PORTS, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.ports = tuple(dict.fromkeys(ports))
        self.timeout = timeout

    async def _probe(self, ctx: ScanContext, ip: str, port: int, gsem: asyncio.Semaphore,
                     hsem: asyncio.Semaphore) -> str:
        if not ctx.scope.allows(ip):
            return SILENT
        async with gsem, hsem:
            await ctx.rate.wait()
            ctx.stats.count("tcp.probes")
            exc: BaseException | None = None
            writer = None
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), self.timeout)
            except (OSError, TimeoutError) as e:
                exc = e
            finally:
                if writer is not None:
                    writer.transport.abort()
        state = classify(exc)
        if state != SILENT:
            h = ctx.host(ip)
            if state == OPEN:
                h.open_ports.add(port)
                ctx.stats.count("tcp.open")
        return state

    async def _sweep(self, ctx: ScanContext) -> None:
        gsem = asyncio.Semaphore(_concurrency_cap())
        per_host = max(1, ctx.per_host_concurrency)
        hsems: dict[str, asyncio.Semaphore] = {}

        def hsem(ip: str) -> asyncio.Semaphore:
            s = hsems.get(ip)
            if s is None:
                s = hsems[ip] = asyncio.Semaphore(per_host)
            return s

        addresses = [ip for ip in ctx.scope.hosts() if ctx.scope.allows(ip)]
        known = {ip for ip in ctx.hosts if ctx.scope.allows(ip)}
        # An on-link address that stayed silent to an ARP sweep cannot answer TCP either; skipping it
        # saves a timeout round and an incomplete neighbour entry each (the ARP cache is machine-wide).
        if ctx.arp_swept:
            addresses = [ip for ip in addresses if ip not in ctx.arp_swept or ip in known]
        now, unknown = plan(addresses, known, self.ports)
        first = [p for p in LIVENESS_PORTS if p in self.ports] or list(self.ports[:1])
        rest = [p for p in self.ports if p not in first]

        async def full(ip: str, port: int) -> None:
            await self._probe(ctx, ip, port, gsem, hsem(ip))

        async def staged(ip: str) -> None:
            states = await asyncio.gather(*(self._probe(ctx, ip, p, gsem, hsem(ip)) for p in first))
            if any(s != SILENT for s in states):
                await asyncio.gather(*(self._probe(ctx, ip, p, gsem, hsem(ip)) for p in rest))

        async with asyncio.TaskGroup() as tg:
            for ip, port in now:
                tg.create_task(full(ip, port))
            for ip in unknown:
                tg.create_task(staged(ip))

    async def _greeting(self, ctx: ScanContext, ip: str, port: int) -> Observation | None:
        """Read what the server on port says first (telnet options refused); its banner observation."""
        if not ctx.scope.allows(ip):
            return None
        await ctx.rate.wait()
        ctx.stats.count("tcp.banner_reads")
        data = bytearray()
        writer = None
        try:
            async with asyncio.timeout(BANNER_WAIT):
                reader, writer = await asyncio.open_connection(ip, port)
                while len(data) < BANNER_BYTES:
                    chunk = await reader.read(BANNER_BYTES - len(data))
                    if not chunk:
                        break
                    data += chunk
                    if port == 22 and b"\n" in data:
                        break
                    if port == 23:
                        _, answers = split_telnet(chunk)
                        if answers:
                            writer.write(answers)
                        elif telnet_text(bytes(data)):
                            break
        except (OSError, TimeoutError):
            pass
        finally:
            if writer is not None:
                writer.transport.abort()
        signal = BANNER_PORTS[port]
        try:
            value = parse_ssh_banner(bytes(data)) if port == 22 else telnet_text(bytes(data))
        except DecodeError as e:
            if data:
                ctx.stats.error(self.name, ip, f"port {port}: {e}")
            return None
        if not value:
            return None
        mac = ctx.hosts[ip].mac if ip in ctx.hosts else None
        return Observation(signal, value, ip=ip, mac=mac, port=port, source=self.name, at=time.time())

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Probe and fill ctx.hosts, then yield the SSH/telnet greetings of hosts with 22/23 open."""
        await self._sweep(ctx)
        now = time.time()
        for ip, h in list(ctx.hosts.items()):
            for port in sorted(h.open_ports):
                yield Observation("tcp.port", str(port), ip=ip, mac=h.mac, port=port, source=self.name, at=now)
        todo = [(ip, p) for ip, h in list(ctx.hosts.items()) for p in sorted(h.open_ports) if p in BANNER_PORTS
                and p in self.ports]
        sem = asyncio.Semaphore(_concurrency_cap())

        async def one(ip: str, port: int) -> Observation | None:
            async with sem:
                return await self._greeting(ctx, ip, port)

        for o in await asyncio.gather(*(one(ip, p) for ip, p in todo)):
            if o is not None:
                yield o


MODULE = TcpConnect
