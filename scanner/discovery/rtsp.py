"""RTSP OPTIONS and DESCRIBE banners (phase 2, per host, TCP 554/8554/10554 when open).

Protocol: RTSP/1.0 (RFC 2326): `DESCRIBE rtsp://host:port/` with `Accept: application/sdp`, which usually
answers 401 with the device's digest realm and its Server header; `OPTIONS rtsp://host:port/` only when that
reply named no Server. Each on its own connection, no credentials. Emits the Server and WWW-Authenticate headers.
Wire facts: shared/docs/protocols.md section 7 ("RTSP probing mechanics").
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import ClassVar

from scanner.discovery import probes
from scanner.discovery.base import DecodeError, HostModule, ScanContext
from scanner.models import Observation

RTSP_PORTS: frozenset[int] = frozenset(probes.load().rtsp_ports)   # fingerprints/probes.yaml (rtsp_ports)
MAX_REPLY_BYTES = 16 * 1024
USER_AGENT = "camscan/0.1"
HOST_CONCURRENCY = 64


class RtspDecodeError(DecodeError):
    """An RTSP reply's status line or headers could not be decoded."""


@dataclass(frozen=True, slots=True)
class RtspReply:
    """Status and headers of one RTSP response (the body is not used)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def header_all(self, name: str) -> list[str]:
        """Every value of header name (case-insensitive), in order."""
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]


def build_probe(method: str, ip: str, port: int, cseq: int) -> bytes:
    """An OPTIONS or DESCRIBE request for the root URL, no credentials."""
    lines = [f"{method} rtsp://{ip}:{port}/ RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}"]
    if method == "DESCRIBE":
        lines.append("Accept: application/sdp")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def parse_reply(data: bytes) -> RtspReply:
    """Status line and headers of an RTSP reply; raises RtspDecodeError only."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    if end < 0:
        raise RtspDecodeError("no end of headers" if data.startswith(b"RTSP/") else "not an RTSP reply")
    lines = data[:end].decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    m = re.match(r"RTSP/\d\.\d\s+(\d{3})\s*(.*)$", lines[0], re.ASCII)
    if not m:
        raise RtspDecodeError(f"bad status line {lines[0][:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep and k.strip():
            headers.append((k.strip(), v.strip()))
    return RtspReply(int(m.group(1)), m.group(2).strip(), tuple(headers))


def to_observations(reply: RtspReply, ip: str, mac: str | None, port: int) -> list[Observation]:
    """rtsp.server and each rtsp.www_authenticate of one reply."""
    now = time.time()
    out = [Observation("rtsp.server", v[:300], ip=ip, mac=mac, port=port, source="rtsp", at=now)
           for v in reply.header_all("Server") if v]
    out.extend(Observation("rtsp.www_authenticate", v[:500], ip=ip, mac=mac, port=port, source="rtsp",
                           at=now) for v in reply.header_all("WWW-Authenticate") if v)
    return out


async def exchange(ip: str, port: int, request: bytes, timeout: float) -> bytes:
    """Send one request and read up to the end of the reply headers (capped in bytes and seconds)."""
    writer: asyncio.StreamWriter | None = None
    data = bytearray()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(ip, port)
            writer.write(request)
            await writer.drain()
            while len(data) < MAX_REPLY_BYTES and b"\r\n\r\n" not in data and b"\n\n" not in data:
                chunk = await reader.read(MAX_REPLY_BYTES - len(data))
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        if not data:
            raise
        raise TimeoutError(f"no complete reply within {timeout:g}s ({len(data)} bytes read)") from None
    finally:
        if writer is not None:
            writer.transport.abort()
    return bytes(data)


class Rtsp(HostModule):
    """DESCRIBE (then OPTIONS if it named no server) on each open RTSP port of each live host."""

    name: ClassVar[str] = "rtsp"
    signals: ClassVar[frozenset[str]] = frozenset({"rtsp.server", "rtsp.www_authenticate"})
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False
    phase: ClassVar[int] = 2
    concurrency: ClassVar[int] = HOST_CONCURRENCY

    async def _host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        h = ctx.host(ip)
        seen: set[tuple[str, str, int]] = set()
        out: list[Observation] = []
        wait = h.rtt.reply_timeout(ctx.timeout)
        for port in sorted(h.open_ports & RTSP_PORTS):
            for cseq, method in enumerate(("DESCRIBE", "OPTIONS"), start=1):
                if method == "OPTIONS" and any(o.signal == "rtsp.server" and o.port == port for o in out):
                    break   # OPTIONS would tell only the Server header again
                if not ctx.scope.allows(ip):
                    return out
                await ctx.rate.wait()
                ctx.stats.count("rtsp.requests")
                try:
                    data = await exchange(ip, port, build_probe(method, ip, port, cseq), wait)
                    reply = parse_reply(data)
                except (OSError, TimeoutError) as e:
                    ctx.stats.error(self.name, ip, f"port {port} {method}: {type(e).__name__}: {e}")
                    break
                except DecodeError as e:
                    ctx.stats.error(self.name, ip, f"port {port} {method}: {e}")
                    break
                for o in to_observations(reply, ip, h.mac, port):
                    key = (o.signal, o.value, port)
                    if key not in seen:
                        seen.add(key)
                        out.append(o)
        return out

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        """A live in-scope host with an open RTSP port."""
        h = ctx.hosts.get(ip)
        return h is not None and bool(h.open_ports & RTSP_PORTS) and ctx.scope.allows(ip)

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        """DESCRIBE (and OPTIONS when it named no server) on each open RTSP port of ip."""
        return await self._host(ctx, ip)


MODULE = Rtsp
