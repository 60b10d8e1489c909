"""mDNS / DNS-SD browsing (UDP 5353, group 224.0.0.251) of the service types cameras advertise.

Spec: RFC 6762 (multicast DNS) and RFC 6763 (DNS-SD): a PTR `<type>` -> `<instance>.<type>`,
SRV instance -> host and port, TXT instance -> key=value strings, A host -> address. Camera
service types and their shapes: shared/docs/protocols.md section 5 (julienblitte/UniversalScanner
Axis.cs and Axis.selftest; python-zeroconf examples). The browse uses python-zeroconf bound to the
scan interface's address only, for a bounded window; queries go only to the mDNS group.
`parse_reply` decodes one raw mDNS response (used for recorded packets and by anyone holding a
capture); the I/O class gets the same records from zeroconf's cache and shares to_observations.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from zeroconf import IPVersion, ServiceStateChange
from zeroconf._dns import DNSAddress, DNSPointer, DNSService, DNSText
from zeroconf._protocol.incoming import DNSIncoming
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.discovery.wsd import normalize_mac
from scanner.models import Observation

PORT = 5353
GROUP = "224.0.0.251"
MAX_PACKET = 9000                 # RFC 6762 section 17: mDNS messages up to 9000 bytes
MAX_SERVICES = 64                 # instances kept from one packet
MAX_TXT = 32                      # TXT entries kept per instance
MAX_NAME = 255                    # characters kept of a name or TXT entry
WINDOW = 2.0                      # seconds of browsing (answers come within ~120 ms of a query)
RESOLVE_MS = 1500                 # milliseconds to resolve one instance (SRV/TXT/A)
MAX_RESOLVES = 256                # instances resolved per scan

#: Service types browsed (protocols.md section 5): Axis video and recorders, RTSP and HTTP
#: (many makers), Hikvision-family CGI and PSIA, Arecont, HomeKit cameras, ONVIF (listed by
#: some scanners), and Chromecast as a known non-camera.
SERVICE_TYPES: tuple[str, ...] = (
    "_axis-video._tcp.local.",
    "_axis-nvr._tcp.local.",
    "_rtsp._tcp.local.",
    "_http._tcp.local.",
    "_CGI._tcp.local.",
    "_psia._tcp.local.",
    "_arec._tcp.local.",
    "_hap._tcp.local.",
    "_onvif._tcp.local.",
    "_googlecast._tcp.local.",
)

_TYPE_PTR, _TYPE_SRV, _TYPE_TXT, _TYPE_A = 12, 33, 16, 1


MAC_TXT_KEYS = frozenset({"macaddress", "mac"})


class MdnsDecodeError(DecodeError):
    """An mDNS packet could not be decoded."""


@dataclass(frozen=True, slots=True)
class MdnsService:
    """One resolved DNS-SD instance: type, instance label, host name, port, IPv4s, TXT entries."""

    service_type: str
    instance: str
    server: str | None
    port: int | None
    addresses: tuple[str, ...]
    txt: tuple[str, ...]


def _clip(text: str) -> str:
    return text[:MAX_NAME]


def instance_label(full_name: str, service_type: str) -> str:
    """`AXIS M3045 - ACCC8E123456` from `AXIS M3045 - ACCC8E123456._axis-video._tcp.local.`."""
    suffix = "." + service_type
    if full_name.lower().endswith(suffix.lower()):
        return full_name[: -len(suffix)]
    return full_name


def decode_txt(raw: bytes) -> tuple[str, ...]:
    """TXT RDATA (length-prefixed strings) as `key=value` / `key` entries; undecodable bytes replaced."""
    out: list[str] = []
    i = 0
    while i < len(raw) and len(out) < MAX_TXT:
        n = raw[i]
        entry = raw[i + 1:i + 1 + n]
        i += 1 + n
        if len(entry) < n:
            break                      # truncated final string: drop it
        if entry:
            out.append(_clip(entry.decode("utf-8", errors="replace")))
    return tuple(out)


def build_probe(service_type: str) -> bytes:
    """A one-question mDNS query (PTR, QM) for service_type: what a browse sends first."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in service_type.rstrip(".").split("."))
    header = b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    return header + labels + b"\x00" + _TYPE_PTR.to_bytes(2, "big") + b"\x00\x01"


def parse_reply(data: bytes) -> tuple[MdnsService, ...]:
    """The DNS-SD instances fully described in one mDNS response (PTR + SRV); MdnsDecodeError only."""
    if len(data) > MAX_PACKET:
        raise MdnsDecodeError(f"packet of {len(data)} bytes exceeds the {MAX_PACKET}-byte cap")
    try:
        msg = DNSIncoming(data)
        answers = msg.answers()     # parsed lazily: errors surface here too
    except Exception as e:  # zeroconf's parser raises assorted internal errors on junk
        raise MdnsDecodeError(f"bad mDNS packet: {type(e).__name__}: {str(e)[:200]}") from None
    if not msg.valid:
        raise MdnsDecodeError("malformed mDNS packet")
    if not msg.is_response():
        raise MdnsDecodeError("mDNS packet is a query, not a response")
    ptrs: list[tuple[str, str]] = []
    srv: dict[str, tuple[str, int]] = {}
    txt: dict[str, bytes] = {}
    addrs: dict[str, list[str]] = {}
    for rec in answers:
        key = rec.name.lower()
        if isinstance(rec, DNSPointer) and rec.type == _TYPE_PTR:
            ptrs.append((rec.name, rec.alias))
        elif isinstance(rec, DNSService) and rec.type == _TYPE_SRV:
            srv[key] = (rec.server, rec.port)
        elif isinstance(rec, DNSText) and rec.type == _TYPE_TXT:
            txt[key] = rec.text
        elif isinstance(rec, DNSAddress) and rec.type == _TYPE_A and len(rec.address) == 4:
            addrs.setdefault(key, []).append(socket.inet_ntoa(rec.address))
    out: list[MdnsService] = []
    for stype, alias in ptrs:
        s = srv.get(alias.lower())
        if s is None or stype.startswith("_services._dns-sd"):
            continue
        server, port = s
        out.append(MdnsService(
            service_type=_clip(stype), instance=_clip(instance_label(alias, stype)),
            server=_clip(server.rstrip(".")) or None, port=port,
            addresses=tuple(addrs.get(server.lower(), ())),
            txt=decode_txt(txt.get(alias.lower(), b"")),
        ))
        if len(out) >= MAX_SERVICES:
            break
    return tuple(out)


def to_observations(parsed: MdnsService, ip: str, mac: str | None) -> list[Observation]:
    """mdns.service, mdns.name, one mdns.txt per entry and hostname, for the instance at ip."""
    def ob(signal: str, value: str) -> Observation:
        return Observation(signal, value, ip=ip, mac=mac, port=parsed.port, source="mdns")

    out = [ob("mdns.service", parsed.service_type), ob("mdns.name", parsed.instance)]
    out.extend(ob("mdns.txt", t) for t in parsed.txt)
    for t in parsed.txt:
        key, _, value = t.partition("=")
        # a TXT entry that states the device's MAC (Axis: macaddress=ACCC8E3C0419; protocols.md s5)
        if key.strip().lower() in MAC_TXT_KEYS and (m := normalize_mac(value)) is not None:
            out.append(ob("mac", m))
    if parsed.server:
        out.append(ob("hostname", parsed.server))
    return out


def from_info(info: Any) -> MdnsService:
    """An MdnsService from a resolved zeroconf ServiceInfo (IPv4 addresses only)."""
    return MdnsService(
        service_type=_clip(str(info.type)),
        instance=_clip(instance_label(str(info.name), str(info.type))),
        server=_clip(str(info.server).rstrip(".")) if info.server else None,
        port=int(info.port) if info.port else None,
        addresses=tuple(info.parsed_addresses(IPVersion.V4Only)),
        txt=decode_txt(info.text or b""),
    )


def in_scope(ctx: ScanContext, addresses: Iterable[str]) -> list[str]:
    """The addresses the scope allows, in order."""
    return [a for a in addresses if ctx.scope.allows(a)]


class Mdns(Module):
    """Browse the camera service types on the scan interface for a window; resolve each instance."""

    name: ClassVar[str] = "mdns"
    signals: ClassVar[frozenset[str]] = frozenset({"mdns.service", "mdns.name", "mdns.txt", "hostname", "mac"})
    per_link: ClassVar[bool] = True
    phase: ClassVar[int] = 1

    def __init__(self, window: float = WINDOW, types: tuple[str, ...] = SERVICE_TYPES) -> None:
        self.window = window
        self.types = types

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Browse, resolve, and yield observations for instances whose address is in scope."""
        if not ctx.interface_ip:
            ctx.stats.error(self.name, None, "no scan interface address given; mDNS browse skipped "
                            "(it would otherwise query on every interface)")
            return
        await ctx.rate.wait()
        try:
            aiozc = AsyncZeroconf(interfaces=[ctx.interface_ip], ip_version=IPVersion.V4Only)
        except OSError as e:
            ctx.stats.error(self.name, None, f"cannot open mDNS sockets on {ctx.interface_ip}: {e}")
            return
        found: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

        def on_change(**kw: Any) -> None:
            if kw.get("state_change") in (ServiceStateChange.Added, ServiceStateChange.Updated):
                found.put_nowait((str(kw.get("service_type")), str(kw.get("name"))))

        async def resolve(stype: str, name: str) -> MdnsService | None:
            info = AsyncServiceInfo(stype, name)
            try:
                if not await info.async_request(aiozc.zeroconf, RESOLVE_MS):
                    ctx.stats.count("mdns.unresolved")
                    return None
                return from_info(info)
            except Exception as e:  # a hostile record set must not end the sweep
                ctx.stats.error(self.name, None, f"resolving {name[:120]!r}: {type(e).__name__}: {e}")
                return None

        browser = None
        tasks: list[asyncio.Task[MdnsService | None]] = []
        try:
            browser = AsyncServiceBrowser(aiozc.zeroconf, list(self.types), handlers=[on_change])
            ctx.stats.count("mdns.sent", len(self.types))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.window
            seen: set[tuple[str, str]] = set()
            while (left := deadline - loop.time()) > 0:
                try:
                    key = await asyncio.wait_for(found.get(), left)
                except TimeoutError:
                    break
                if key in seen or len(seen) >= MAX_RESOLVES:
                    continue
                seen.add(key)
                tasks.append(asyncio.create_task(resolve(*key)))
            done = await asyncio.gather(*tasks)
            reported: set[tuple[str, str, str]] = set()
            for svc in done:
                if svc is None:
                    continue
                ips = in_scope(ctx, svc.addresses)
                if not ips:
                    ctx.stats.count("mdns.out_of_scope")
                    ctx.stats.out_of_scope(self.name, svc.addresses[0] if svc.addresses else None,
                                           f"mDNS instance {svc.instance[:120]!r} has no address inside the "
                                           f"scan scope ({', '.join(svc.addresses[:4]) or 'none'}); ignored")
                    continue
                for ip in ips:
                    if (ip, svc.service_type, svc.instance) in reported:
                        continue
                    reported.add((ip, svc.service_type, svc.instance))
                    ctx.stats.count("mdns.services")
                    for ob in to_observations(svc, ip, ctx.host(ip).mac):
                        yield ob
        finally:
            for t in tasks:
                t.cancel()
            if browser is not None:
                with contextlib.suppress(Exception):
                    await browser.async_cancel()
            with contextlib.suppress(Exception):
                await aiozc.async_close()


MODULE = Mdns
