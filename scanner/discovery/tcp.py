"""TCP connect probes of the ports cameras and recorders listen on (phase 1, per host).

Protocol: a plain TCP three-way handshake (RFC 9293), closed at once; nothing is sent on the
connection. An accepted connection marks the port open; a refusal (RST) still proves the address
is live. Results go into ctx.hosts (open_ports); the module emits no observation (no signal in
the vocabulary describes an open port, and reverse DNS would send packets outside the scope).

Speed: addresses not yet known to be live get a short first pass on a few common ports; only
addresses that answer it (open or refused) get the full list, so silent addresses cost one
short timeout round instead of one per port.
"""

from __future__ import annotations

import asyncio
import errno
import resource
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import ClassVar

from scanner.discovery.base import Module, ScanContext
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


def _concurrency_cap() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return GLOBAL_CONCURRENCY
    return max(16, min(GLOBAL_CONCURRENCY, soft // 2))


class TcpConnect(Module):
    """Connect-probe every in-scope address; live hosts and their open ports go into ctx.hosts."""

    name: ClassVar[str] = "tcp"
    signals: ClassVar[frozenset[str]] = frozenset()
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
        swept = getattr(ctx, "arp_swept", None)
        if isinstance(swept, set) and swept:
            addresses = [ip for ip in addresses if ip not in swept or ip in known]
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

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Probe, fill ctx.hosts; yields nothing (an empty async iterator)."""
        await self._sweep(ctx)
        return
        yield  # pragma: no cover - makes this an async generator


MODULE = TcpConnect
