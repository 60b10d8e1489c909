"""SSDP / UPnP discovery (UDP 1900, group 239.255.255.250): M-SEARCH, then the device description.

Spec: UPnP Device Architecture 1.1, section 1 (discovery) and 2 (description); facts in
shared/docs/protocols.md section 6. An `M-SEARCH * HTTP/1.1` with `MAN: "ssdp:discover"`, `MX`
and `ST: ssdp:all` is answered by each device, after a random delay up to MX seconds, with
unicast `HTTP/1.1 200 OK` datagrams to the search's source carrying SERVER and LOCATION headers.
The description XML at LOCATION (root `urn:schemas-upnp-org:device-1-0`) names manufacturer,
modelName and modelNumber. It is fetched only when the LOCATION host is inside the scan scope,
with a byte and time cap, and parsed with defusedxml.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.discovery.wsd import (
    REPEAT_GAP,
    admit,
    is_ipv4,
    open_socket,
    parse_xml,
    receive,
    record_once,
    send,
    split_tag,
)
from scanner.models import Observation

PORT = 1900
GROUP = "239.255.255.250"
MX = 1                            # seconds devices may wait before answering
WINDOW = 2.0                      # collection window: last round + MX, with slack for slow stacks
REPEAT = 3                        # rounds of the same request; lost datagrams happen
MAX_DATAGRAM = 8 * 1024           # a reply is a few hundred bytes of headers
MAX_HEADERS = 64
MAX_DESCRIPTION = 64 * 1024       # device descriptions are 1-5 KB
FETCH_TIMEOUT = 3.0               # seconds for the whole description fetch
MAX_FETCHES = 256                 # distinct LOCATION URLs fetched per scan
MAX_FIELD = 256                   # characters kept of one description field
USER_AGENT = "camscan/0.1 UPnP/1.1 camscan/0.1"


class SsdpDecodeError(DecodeError):
    """An SSDP datagram, description response or description document could not be decoded."""


@dataclass(frozen=True, slots=True)
class SsdpReply:
    """One search response or NOTIFY: its start line and headers (names lower-cased)."""

    start: str
    headers: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The first value of header name (case-insensitive), or None."""
        n = name.lower()
        return next((v for k, v in self.headers if k == n), None)


@dataclass(frozen=True, slots=True)
class UpnpDescription:
    """The root device's identity fields from a UPnP device description."""

    manufacturer: str | None
    model_name: str | None
    model_number: str | None


def build_probe(st: str = "ssdp:all", mx: int = MX) -> bytes:
    """An M-SEARCH for search target st, MX seconds."""
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        f"HOST: {GROUP}:{PORT}\r\n"
        'MAN: "ssdp:discover"\r\n'
        f"MX: {mx}\r\n"
        f"ST: {st}\r\n"
        f"USER-AGENT: {USER_AGENT}\r\n"
        "\r\n"
    ).encode()


def parse_reply(data: bytes) -> SsdpReply:
    """Parse an `HTTP/1.1 200` search response or a NOTIFY; raises SsdpDecodeError only."""
    if len(data) > MAX_DATAGRAM:
        raise SsdpDecodeError(f"reply of {len(data)} bytes exceeds the {MAX_DATAGRAM}-byte cap")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SsdpDecodeError(f"SSDP reply is not UTF-8: {e}") from None
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if not ((start.upper().startswith("HTTP/1.") and start.split()[1:2] == ["200"])
            or start.upper().startswith("NOTIFY ")):
        raise SsdpDecodeError(f"not an SSDP response ({start[:60]!r})")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line.strip():
            if headers:
                break
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise SsdpDecodeError(f"bad header line {line[:60]!r}")
        headers.append((name.strip().lower(), value.strip()[:MAX_FIELD * 2]))
        if len(headers) > MAX_HEADERS:
            raise SsdpDecodeError("too many headers")
    return SsdpReply(start, tuple(headers))


def parse_description(data: bytes) -> UpnpDescription:
    """The root device's manufacturer, modelName and modelNumber (matched by local name); SsdpDecodeError only."""
    root = parse_xml(data, MAX_DESCRIPTION, SsdpDecodeError)
    if split_tag(root.tag)[1] != "root":
        raise SsdpDecodeError(f"not a UPnP description (root {split_tag(root.tag)[1][:40]!r})")
    device = next((c for c in root if split_tag(c.tag)[1] == "device"), None)
    if device is None:
        raise SsdpDecodeError("UPnP description has no device element")
    fields: dict[str, str] = {}
    for c in device:
        local = split_tag(c.tag)[1]
        if local in ("manufacturer", "modelName", "modelNumber") and c.text and c.text.strip():
            fields.setdefault(local, " ".join(c.text.split())[:MAX_FIELD])
    return UpnpDescription(fields.get("manufacturer"), fields.get("modelName"), fields.get("modelNumber"))


def to_observations(parsed: SsdpReply, ip: str, mac: str | None) -> list[Observation]:
    """ssdp.server for one reply heard from ip (empty when it has no SERVER header)."""
    server = parsed.get("server")
    if not server:
        return []
    return [Observation("ssdp.server", server, ip=ip, mac=mac, port=PORT, source="ssdp")]


def description_observations(desc: UpnpDescription, ip: str, mac: str | None,
                             port: int | None) -> list[Observation]:
    """upnp.* observations for a description served by ip on port."""
    out = []
    for signal, value in (("upnp.manufacturer", desc.manufacturer), ("upnp.model", desc.model_name),
                          ("upnp.model_number", desc.model_number)):
        if value:
            out.append(Observation(signal, value, ip=ip, mac=mac, port=port, source="ssdp"))
    return out


def location_target(location: str) -> tuple[str, int, str] | None:
    """(host, port, path) of an http:// LOCATION with an IPv4 literal host, else None."""
    try:
        parts = urlsplit(location.strip())
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or not is_ipv4(parts.hostname):
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname or "", port, path


def http_body(response: bytes) -> bytes:
    """The body of a raw HTTP/1.x 200 response (chunked or not); raises SsdpDecodeError only."""
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        raise SsdpDecodeError("HTTP response without a header end")
    lines = head.split(b"\r\n")
    status = lines[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or status[1] != b"200":
        raise SsdpDecodeError(f"HTTP status {lines[0][:60]!r}")
    chunked = any(line.lower().replace(b" ", b"") == b"transfer-encoding:chunked" for line in lines[1:])
    if not chunked:
        return body
    out = bytearray()
    rest = body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise SsdpDecodeError("bad chunk size") from None
        if size == 0 or not sep:
            break
        out += rest[:size]
        rest = rest[size + 2:]
    return bytes(out)


async def fetch(host: str, port: int, path: str, max_bytes: int = MAX_DESCRIPTION,
                timeout: float = FETCH_TIMEOUT) -> bytes:
    """GET http://host:port/path (HTTP/1.0), reading at most max_bytes within timeout seconds."""
    async def go() -> bytes:
        reader, writer = await asyncio.open_connection(host, port, limit=max_bytes + 1)
        try:
            writer.write((f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n"
                          f"User-Agent: {USER_AGENT}\r\nAccept: text/xml\r\nConnection: close\r\n\r\n"
                          ).encode("latin-1", errors="replace"))
            await writer.drain()
            data = bytearray()
            while len(data) <= max_bytes + 4096:
                chunk = await reader.read(16384)
                if not chunk:
                    break
                data += chunk
            if len(data) > max_bytes + 4096:
                raise SsdpDecodeError(f"description larger than {max_bytes} bytes")
            return bytes(data)
        finally:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)

    try:
        return await asyncio.wait_for(go(), timeout)
    except TimeoutError:
        raise SsdpDecodeError(f"description fetch took longer than {timeout} s") from None
    except OSError as e:
        raise SsdpDecodeError(f"description fetch failed: {e}") from None


class Ssdp(Module):
    """M-SEARCH ssdp:all on the link; SERVER headers, then in-scope device descriptions."""

    name: ClassVar[str] = "ssdp"
    signals: ClassVar[frozenset[str]] = frozenset({"ssdp.server", "upnp.manufacturer", "upnp.model",
                                                   "upnp.model_number"})
    per_link: ClassVar[bool] = True
    phase: ClassVar[int] = 1

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Search, yield SERVER observations as replies arrive, then fetch and report descriptions."""
        sock = open_socket(ctx, self.name)
        if sock is None:
            return
        servers: set[tuple[str, str]] = set()
        locations: dict[str, str] = {}        # LOCATION URL -> ip that announced it
        probe = build_probe()
        task: asyncio.Task[None] | None = None
        try:
            async def sender() -> None:
                for r in range(REPEAT):
                    await send(ctx, sock, probe, (GROUP, PORT), self.name)
                    if r + 1 < REPEAT:
                        await asyncio.sleep(REPEAT_GAP)

            task = asyncio.create_task(sender())
            async for data, ip, _port in receive(sock, task, self.window):
                if not admit(ctx, self.name, ip):
                    continue
                try:
                    parsed = parse_reply(data)
                except DecodeError as e:
                    ctx.stats.count(f"{self.name}.undecodable")
                    record_once(ctx, self.name, ip, f"undecodable SSDP reply: {e}")
                    continue
                host = ctx.host(ip)
                ctx.stats.count("ssdp.replies")
                loc = parsed.get("location")
                if loc and loc not in locations and len(locations) < MAX_FETCHES:
                    locations[loc] = ip
                server = parsed.get("server") or ""
                if server and (ip, server) not in servers:
                    servers.add((ip, server))
                    for ob in to_observations(parsed, ip, host.mac):
                        yield ob
            await task
        finally:
            if task is not None:
                task.cancel()
            sock.close()
        for ob in await self._descriptions(ctx, locations):
            yield ob

    async def _descriptions(self, ctx: ScanContext, locations: dict[str, str]) -> list[Observation]:
        fetched: set[tuple[str, int, str]] = set()
        jobs = []
        for loc, ip in locations.items():
            target = location_target(loc)
            if target is None:
                ctx.stats.count("ssdp.location_unusable")
                continue
            if not ctx.scope.allows(target[0]):
                ctx.stats.count("ssdp.location_out_of_scope")
                ctx.stats.error(self.name, ip, f"LOCATION {loc[:200]} names {target[0]}, outside the "
                                "scan scope; not fetched")
                continue
            if target not in fetched:
                fetched.add(target)
                jobs.append(self._one(ctx, target))
        out: list[Observation] = []
        for obs in await asyncio.gather(*jobs):
            out.extend(obs)
        return out

    async def _one(self, ctx: ScanContext, target: tuple[str, int, str]) -> list[Observation]:
        host_ip, port, path = target
        await ctx.rate.wait()
        ctx.stats.count("ssdp.fetches")
        try:
            desc = parse_description(http_body(await fetch(host_ip, port, path)))
        except DecodeError as e:
            ctx.stats.error(self.name, host_ip,
                            f"device description http://{host_ip}:{port}{path[:100]}: {e}")
            return []
        return description_observations(desc, host_ip, ctx.host(host_ip).mac, port)


MODULE = Ssdp
