"""ONVIF WS-Discovery (SOAP 1.2 over UDP 3702, group 239.255.255.250), multicast and directed probes.

Spec: the pre-OASIS WS-Discovery draft of April 2005 as ONVIF Core uses it (onvif/specs
doc/Core.xml, "Device discovery"): a Probe to the group (or to a device's 3702) is answered by a
unicast ProbeMatches to the probe's source address and port, so one ephemeral socket sends and
receives. Devices match a Probe only if they implement every listed Type, so several probes go
out (NetworkVideoTransmitter, tds:Device, no Types) and replies are de-duplicated by
EndpointReference. Facts: shared/docs/protocols.md section 1.

`WsdMulticast` (phase 1) probes the link; `WsdDirected` (phase 2) sends the same probes unicast to
every live host the multicast pass did not hear from, which reaches devices behind routers.
This file also holds the small UDP helpers the other link-level modules (sadp, dhip, ssdp) share.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import uuid
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, TypeVar
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from scanner.discovery.base import DecodeError, HostInfo, HostModule, Module, ScanContext
from scanner.discovery.http import NOT_HTTP_PORTS, web_ports
from scanner.macaddr import normalise_mac
from scanner.models import Observation

T = TypeVar("T")

PORT = 3702
GROUP = "239.255.255.250"
MAX_DATAGRAM = 32 * 1024          # real ProbeMatches are 1-3 KB (protocols.md section 1)
MAX_MATCHES = 16                  # ProbeMatch elements kept from one datagram
MAX_ITEMS = 64                    # Types / Scopes / XAddrs kept from one ProbeMatch
MAX_ITEM_LEN = 512                # characters kept of one URI or QName
WINDOW = 2.0                      # seconds to collect replies (devices wait 0-500 ms; APP_MAX_DELAY)
DIRECTED_WINDOW = 1.0             # directed pass: plus TAIL after the last unicast probe
MULTICAST_REPEAT = 3              # SOAP-over-UDP resends the same message; lost datagrams happen
REPEAT_GAP = 0.3                  # seconds between rounds of the same probes (independent loss)
MULTICAST_GAP = 0.02              # seconds between any two link multicasts of these modules
TAIL = 1.0                        # seconds to keep listening after the last probe went out

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DISCOVERY_2009 = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"
NS_NETWORK = "http://www.onvif.org/ver10/network/wsdl"
NS_DEVICE = "http://www.onvif.org/ver10/device/wsdl"
DISCOVERY_NAMESPACES = frozenset({NS_DISCOVERY, NS_DISCOVERY_2009})
ACTION_PROBE = NS_DISCOVERY + "/Probe"
TO_MULTICAST = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
REPLY_ANONYMOUS = NS_ADDRESSING + "/role/anonymous"

#: Types variants probed, one probe each: (prefix, namespace, local name) or None for "any type".
PROBE_TYPES: tuple[tuple[str, str, str] | None, ...] = (
    ("dn", NS_NETWORK, "NetworkVideoTransmitter"),
    ("tds", NS_DEVICE, "Device"),
    None,
)
DIRECTED_TYPES: tuple[tuple[str, str, str] | None, ...] = (PROBE_TYPES[0], None)

_MATCH_ELEMENTS = frozenset({"ProbeMatch", "ResolveMatch", "Hello"})
ONVIF_NAMESPACES = frozenset({NS_NETWORK, NS_DEVICE})
ONVIF_SCOPE = "onvif://www.onvif.org/"
_XMLNS = re.compile(rb'xmlns(?::([A-Za-z_][\w.-]*))?\s*=\s*["\']([^"\']*)["\']')
_MAC_SCOPE = re.compile(r"^onvif://www\.onvif\.org/mac(?:address)?/(.+)$", re.IGNORECASE)


class WsdDecodeError(DecodeError):
    """A WS-Discovery datagram (or an XML document parsed by parse_xml) could not be decoded."""


@dataclass(frozen=True, slots=True)
class WsdMatch:
    """One ProbeMatch (or Hello / ResolveMatch) entry of a WS-Discovery reply."""

    epr: str
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    metadata_version: str | None
    onvif: bool = False   # it announces an ONVIF type (by namespace, not prefix) or an onvif:// scope


@dataclass(frozen=True, slots=True)
class WsdReply:
    """A parsed WS-Discovery datagram: the probe it answers and its matches."""

    relates_to: str | None
    matches: tuple[WsdMatch, ...]


# --- pure functions --------------------------------------------------------------------------

def build_probe(types: tuple[str, str, str] | None, message_id: str) -> bytes:
    """A SOAP 1.2 Probe for one Types QName (prefix, namespace, local) or for any type (None)."""
    ns_decl = f' xmlns:{types[0]}="{types[1]}"' if types else ""
    body = f"<d:Types>{types[0]}:{types[2]}</d:Types>" if types else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_ADDRESSING}" xmlns:d="{NS_DISCOVERY}"{ns_decl}>'
        "<s:Header>"
        f'<a:Action s:mustUnderstand="1">{ACTION_PROBE}</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{REPLY_ANONYMOUS}</a:Address></a:ReplyTo>"
        f'<a:To s:mustUnderstand="1">{TO_MULTICAST}</a:To>'
        "</s:Header>"
        f"<s:Body><d:Probe>{body}</d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def parse_xml(data: bytes, max_bytes: int, error: type[DecodeError] = WsdDecodeError) -> Element:
    """Root element of an untrusted XML document (defusedxml: no DTD, no entities); raises `error` only."""
    if len(data) > max_bytes:
        raise error(f"reply of {len(data)} bytes exceeds the {max_bytes}-byte cap")
    if not data.strip():
        raise error("empty reply")
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as e:
        raise error(f"bad XML: {type(e).__name__}: {e}") from None
    except Exception as e:
        # expat also raises LookupError (unknown encoding="..."), UnicodeError, ValueError and
        # RecursionError on hostile documents; every one is a bad reply, never a module failure.
        raise error(f"bad XML: {type(e).__name__}: {str(e)[:200]}") from None
    return root


def split_tag(tag: object) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag; comments and PIs give ("", "")."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _child(el: Element, local: str) -> Element | None:
    for c in el:
        if split_tag(c.tag)[1] == local:
            return c
    return None


def _words(el: Element | None) -> tuple[str, ...]:
    if el is None or not el.text:
        return ()
    return tuple(w[:MAX_ITEM_LEN] for w in el.text.split()[:MAX_ITEMS])


def namespace_prefixes(data: bytes) -> dict[str, str]:
    """prefix -> namespace URI declared anywhere in an XML document (the first declaration of a prefix wins;
    "" is the default namespace): what the QNames in Types need, which the parsed tree no longer carries."""
    out: dict[str, str] = {}
    for m in _XMLNS.finditer(data):
        out.setdefault((m.group(1) or b"").decode("ascii", "replace"), m.group(2).decode("utf-8", "replace"))
    return out


def type_namespace(qname: str, prefixes: dict[str, str]) -> str | None:
    """The namespace URI of a Types QName ("dn:NetworkVideoTransmitter") under prefixes; None if undeclared."""
    prefix, _, local = qname.rpartition(":")
    return prefixes.get(prefix) if local else None


def onvif_type(qname: str, prefixes: dict[str, str]) -> bool:
    """A Types QName in an ONVIF namespace; with its prefix undeclared (sloppy firmware), an ONVIF device type
    name (NetworkVideoTransmitter, ...; a bare "Device" is every WSD device's and says nothing)."""
    ns = type_namespace(qname, prefixes)
    if ns is not None:
        return ns in ONVIF_NAMESPACES
    return qname.rpartition(":")[2].startswith("NetworkVideo")


def parse_reply(data: bytes) -> WsdReply:
    """Parse a ProbeMatches / ResolveMatches / Hello datagram by namespace URI, never by prefix."""
    root = parse_xml(data, MAX_DATAGRAM, WsdDecodeError)
    if split_tag(root.tag)[1] != "Envelope":
        raise WsdDecodeError(f"not a SOAP envelope (root {split_tag(root.tag)[1]!r})")
    relates_to: str | None = None
    matches: list[WsdMatch] = []
    prefixes: dict[str, str] | None = None
    for el in root.iter():
        ns, local = split_tag(el.tag)
        if local == "RelatesTo" and el.text:
            relates_to = el.text.strip()[:MAX_ITEM_LEN]
        if local not in _MATCH_ELEMENTS or ns not in DISCOVERY_NAMESPACES:
            continue
        ref = _child(el, "EndpointReference")
        addr = _child(ref, "Address") if ref is not None else None
        epr = (addr.text or "").strip()[:MAX_ITEM_LEN] if addr is not None else ""
        mv = _child(el, "MetadataVersion")
        types, scopes = _words(_child(el, "Types")), _words(_child(el, "Scopes"))
        if prefixes is None:
            prefixes = namespace_prefixes(data)
        matches.append(WsdMatch(
            epr=epr,
            types=types,
            scopes=scopes,
            xaddrs=_words(_child(el, "XAddrs")),
            metadata_version=(mv.text or "").strip()[:32] if mv is not None and mv.text else None,
            onvif=any(onvif_type(t, prefixes) for t in types)
            or any(sc.lower().startswith(ONVIF_SCOPE) for sc in scopes),
        ))
        if len(matches) >= MAX_MATCHES:
            break
    return WsdReply(relates_to, tuple(matches))


def normalize_mac(text: str) -> str | None:
    """aa:bb:cc:dd:ee:ff from any common notation, or None (scanner.macaddr.normalise_mac)."""
    return normalise_mac(text)


def plausible_unicast_mac(mac: str) -> bool:
    """True for a globally administered unicast MAC that is not all zeros or all ones."""
    first = int(mac[:2], 16)
    flat = mac.replace(":", "")
    return not first & 0x03 and flat not in ("000000000000", "ffffffffffff")


def mac_from_scopes(scopes: Iterable[str]) -> str | None:
    """The MAC named by an onvif://www.onvif.org/MAC/... (any case) scope, if one validates."""
    for s in scopes:
        m = _MAC_SCOPE.match(unquote(s))
        if m:
            mac = normalize_mac(m.group(1).strip("/"))
            if mac and plausible_unicast_mac(mac):
                return mac
    return None


def mac_from_epr(epr: str) -> str | None:
    """Generic heuristic: the node field of a version-1 RFC 4122 UUID EPR, when it is a plausible MAC.

    A time-based UUID carries the generating interface's MAC in its last 12 hex digits; random
    (v4) UUIDs and v1 UUIDs with a random multicast-flagged node never validate.
    """
    text = epr.strip()
    for prefix in ("urn:uuid:", "uuid:", "urn:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
            break
    try:
        u = uuid.UUID(text)
    except ValueError:
        return None
    if u.variant != uuid.RFC_4122 or u.version != 1:
        return None
    mac = normalize_mac(f"{u.node:012x}")
    return mac if mac and plausible_unicast_mac(mac) else None


def to_observations(match: WsdMatch, ip: str, mac: str | None) -> list[Observation]:
    """Observations for one match heard from ip (mac: the host's MAC if already known)."""
    found = mac_from_scopes(match.scopes) or mac_from_epr(match.epr)
    mac = mac or found

    def ob(signal: str, value: str) -> Observation:
        return Observation(signal, value, ip=ip, mac=mac, port=PORT, source="wsd")

    out: list[Observation] = []
    if match.epr:
        out.append(ob("wsd.epr", match.epr))
    if match.types:
        out.append(ob("wsd.types", " ".join(match.types)))
    if match.scopes:
        out.append(ob("wsd.scopes", " ".join(match.scopes)))
    if match.xaddrs:
        out.append(ob("wsd.xaddrs", " ".join(match.xaddrs)))
    if found:
        out.append(ob("mac", found))
    return out


def xaddr_host(xaddr: str) -> str | None:
    """The host of an XAddr URL (IPv6 without brackets), or None if it does not parse."""
    try:
        return urlsplit(xaddr).hostname
    except ValueError:
        return None


def is_ipv4(text: str | None) -> bool:
    """True when text is a dotted-quad IPv4 address."""
    try:
        ipaddress.IPv4Address(text or "")
    except ValueError:
        return False
    return True


def http_xaddr(xaddr: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, IPv4 host, port or None, path) of a usable http(s) XAddr, else None ("http://[::1", port 99999)."""
    try:
        parts = urlsplit(xaddr)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not is_ipv4(host):
        return None
    return parts.scheme, host or "", port, parts.path


def onvif_hint(xaddrs: Iterable[str], ip: str, allowed: Iterable[str]) -> str | None:
    """The device-service URL to use later: an in-scope IPv4 http(s) XAddr, else one rewritten onto ip.

    `allowed` are the XAddrs whose host the scope allows; the rewrite keeps scheme, port and path
    and replaces an unusable host (outside scope, NAT, wrong interface) with the reply's source.
    XAddrs that do not parse are skipped; this never raises.
    """
    ok = set(allowed)
    usable = [(x, p) for x in xaddrs if (p := http_xaddr(x)) is not None]
    best: str | None = None
    for x, (_scheme, host, _port, _path) in usable:
        if x in ok and host == ip:
            return x
        if x in ok and best is None:
            best = x
    if best:
        return best
    for _x, (scheme, _host, port, path) in usable:
        return f"{scheme}://{ip}{f':{port}' if port else ''}{path or '/onvif/device_service'}"
    return None


# --- UDP helpers shared by the link-level modules ------------------------------------------------

RECV_BUFFER = 8 * 1024 * 1024   # bytes of reply datagrams the kernel may hold for one discovery socket
MAX_REPLIES_PER_SOURCE = 32     # replies read from one address per query (a device answers each probe once)


def udp_socket(interface_ip: str | None) -> socket.socket:
    """A non-blocking UDP socket on an ephemeral port of interface_ip, multicast out of it, TTL 1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        s.bind((interface_ip or "0.0.0.0", 0))
        if interface_ip:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_ip))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    except OSError:
        s.close()
        raise
    # room for a whole link's replies arriving at once, so a host flooding replies cannot crowd out the
    # others before they are read (beyond net.core.rmem_max only with CAP_NET_ADMIN: SO_RCVBUFFORCE)
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, RECV_BUFFER)
            break
        except OSError:
            continue
    return s


def open_socket(ctx: ScanContext, module: str) -> socket.socket | None:
    """udp_socket on the scan interface, or None after recording why it cannot be opened."""
    try:
        return udp_socket(ctx.interface_ip)
    except OSError as e:
        record_once(ctx, module, None, f"cannot open a UDP socket on {ctx.interface_ip or 'any address'}: {e}")
        return None


class _Pacer:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.next = 0.0


_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pacer] = weakref.WeakKeyDictionary()


async def _pace_multicast() -> None:
    # Every multicast is copied to every port of the segment at once (a software bridge queues
    # one copy per port); the link modules start together, so space their multicasts out.
    loop = asyncio.get_running_loop()
    pacer = _pacers.setdefault(loop, _Pacer())
    async with pacer.lock:
        wait = pacer.next - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        pacer.next = loop.time() + MULTICAST_GAP


async def send(ctx: ScanContext, sock: socket.socket, data: bytes, addr: tuple[str, int],
               module: str) -> bool:
    """Send one datagram after the rate limiter; unicast only to addresses the scope allows."""
    ip = addr[0]
    multicast = ipaddress.IPv4Address(ip).is_multicast
    if not multicast and not ctx.scope.allows(ip):
        ctx.stats.count(f"{module}.refused_out_of_scope")
        return False
    if multicast:
        await _pace_multicast()
    await ctx.rate.wait()
    try:
        await asyncio.get_running_loop().sock_sendto(sock, data, addr)
    except OSError as e:
        record_once(ctx, module, None if ipaddress.IPv4Address(ip).is_multicast else ip,
                    f"send to {ip}:{addr[1]} failed: {e}")
        return False
    ctx.stats.count(f"{module}.sent")
    return True


async def receive(sock: socket.socket, sending: asyncio.Task[None], window: float, tail: float = TAIL,
                  silent: Callable[[], bool] | None = None) -> AsyncIterator[tuple[bytes, str, int]]:
    """Yield (datagram, source ip, source port) until `window` seconds from the start have passed
    and `tail` seconds have passed since the `sending` task finished (long unicast lists); at once when
    the sending is over and silent() says nothing went out (no reply can come)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline: float | None = None
    await asyncio.sleep(0)   # let the sender start: a single unsent round is then known before any wait
    while True:
        if deadline is None and sending.done():
            if silent is not None and silent():
                return
            deadline = max(start + window, loop.time() + tail)
        left = 0.2 if deadline is None else deadline - loop.time()
        if left <= 0:
            return
        try:
            data, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), left)
        except TimeoutError:
            continue
        except OSError:
            # e.g. ICMP port unreachable from a directed probe surfaces as ECONNREFUSED: not fatal
            continue
        yield data, addr[0], addr[1]


Send = tuple[bytes, tuple[str, int]]


async def link_replies(ctx: ScanContext, module: str, rounds: list[list[Send]], window: float,
                       decode: Callable[[bytes], T], what: str) -> AsyncGenerator[tuple[T, str], None]:
    """Send each round of (datagram, address) REPEAT_GAP apart from one socket on the scan interface;
    yield (decoded reply, source ip) for in-scope replies. Out-of-scope and undecodable ones are recorded."""
    sock = open_socket(ctx, module)
    if sock is None:
        return

    sent = 0

    async def sender() -> None:
        nonlocal sent
        for r, sends in enumerate(rounds):
            for data, addr in sends:
                sent += await send(ctx, sock, data, addr, module)
            if r + 1 < len(rounds):
                await asyncio.sleep(REPEAT_GAP)

    task = asyncio.create_task(sender())
    per_source: dict[str, int] = {}
    try:
        async for data, ip, _port in receive(sock, task, window, silent=lambda: sent == 0):
            if not admit(ctx, module, ip):
                continue
            n = per_source[ip] = per_source.get(ip, 0) + 1
            if n > MAX_REPLIES_PER_SOURCE:
                # a host flooding replies costs one error entry, not the time to decode thousands of them
                # while the other devices' replies wait behind its datagrams
                ctx.stats.count(f"{module}.flood_dropped")
                if n == MAX_REPLIES_PER_SOURCE + 1:
                    record_once(ctx, module, ip, f"more than {MAX_REPLIES_PER_SOURCE} {what} replies; "
                                                 "the rest were dropped unread")
                continue
            try:
                parsed = decode(data)
            except DecodeError as e:   # one hostile datagram is one error entry; the window goes on
                ctx.stats.count(f"{module}.undecodable")
                record_once(ctx, module, ip, f"undecodable {what} reply: {e}")
                continue
            yield parsed, ip
        await task
    finally:
        task.cancel()
        sock.close()


async def query_link(ctx: ScanContext, module: str, probe: bytes, group: tuple[str, int], window: float,
                     decode: Callable[[bytes], T], key: Callable[[T], str], what: str,
                     repeat: int = MULTICAST_REPEAT) -> AsyncIterator[tuple[T, str]]:
    """Send probe to the group `repeat` times (and once to every known in-scope host); yield each new
    (decoded reply, source ip) once per (key, ip)."""
    unicast = [(probe, (ip, group[1])) for ip in sorted(ctx.hosts) if ctx.scope.allows(ip)]
    rounds = [[(probe, group), *(unicast if r == 0 else [])] for r in range(repeat)]
    seen: set[tuple[str, str]] = set()
    async for parsed, ip in link_replies(ctx, module, rounds, window, decode, what):
        k = (key(parsed), ip)
        if k not in seen:
            seen.add(k)
            yield parsed, ip


def admit(ctx: ScanContext, module: str, ip: str) -> bool:
    """True when a reply from ip may be used; otherwise record it (never probed, never reported)."""
    if ctx.scope.allows(ip):
        return True
    ctx.stats.count(f"{module}.out_of_scope_replies")
    ctx.stats.out_of_scope(module, ip, "reply from an address outside the scan scope; ignored")
    return False


def tcp_port(value: object) -> int | None:
    """A TCP port number from a device-stated value (int or decimal text), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 5:
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value < 65536 else None


def add_http_port(host: HostInfo, port: int | None) -> None:
    """Record a web port the device says it serves (SADP/DHIP replies)."""
    if port is not None:
        host.http_ports.add(port)


def record_once(ctx: ScanContext, module: str, ip: str | None, message: str) -> None:
    """ctx.stats.error, unless this module already recorded the same message for ip (repeats, retries)."""
    if not ctx.stats.has_error(module, ip, message):
        ctx.stats.error(module, ip, message)


# --- I/O ---------------------------------------------------------------------------------------

class _WsdBase(Module):
    signals: ClassVar[frozenset[str]] = frozenset({"wsd.epr", "wsd.types", "wsd.scopes", "wsd.xaddrs",
                                                   "mac"})

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window

    def _targets(self, ctx: ScanContext) -> list[tuple[str, int]]:
        raise NotImplementedError

    def _variants(self) -> tuple[tuple[str, str, str] | None, ...]:
        raise NotImplementedError

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Probe, then yield observations for every new (EndpointReference, address) heard."""
        targets = self._targets(ctx)
        if not targets:
            return
        repeat = MULTICAST_REPEAT if targets[0][0] == GROUP else 1
        probes = [build_probe(t, f"urn:uuid:{uuid.uuid4()}") for t in self._variants()]
        rounds = [[(p, addr) for addr in targets for p in probes] for _ in range(repeat)]
        seen: set[tuple[str, str]] = set()
        async for reply, ip in link_replies(ctx, self.name, rounds, self.window, parse_reply, "WS-Discovery"):
            for m in reply.matches:
                key = (m.epr or " ".join(m.xaddrs), ip)
                if key in seen:
                    continue
                seen.add(key)
                for ob in self._record(ctx, m, ip):
                    yield ob

    def _record(self, ctx: ScanContext, m: WsdMatch, ip: str) -> list[Observation]:
        host = ctx.host(ip)
        allowed = []
        for x in m.xaddrs:
            h = xaddr_host(x)
            if is_ipv4(h) and not ctx.scope.allows(h or ""):
                ctx.stats.count("wsd.xaddr_out_of_scope")
                ctx.stats.error(self.name, ip, f"XAddr {x[:200]} names {h}, outside the scan scope; "
                                "not contacted")
            else:
                allowed.append(x)
        obs = to_observations(m, ip, host.mac)
        mac = next((o.value for o in obs if o.signal == "mac"), None)
        if host.mac is None and mac:
            host.mac = mac
        # only an ONVIF device's XAddrs name an ONVIF device service (a Windows PC's WSDAPI endpoint does not)
        hint = onvif_hint(m.xaddrs, ip, allowed) if m.onvif else None
        if hint and hint not in host.onvif_xaddrs:
            host.onvif_xaddrs.append(hint)
        if m.epr and host.wsd_epr is None:
            host.wsd_epr = m.epr
        ctx.stats.count("wsd.matches")
        return obs


class WsdMulticast(_WsdBase):
    """Multicast Probes (three Types variants) on the link, replies collected for a short window."""

    name: ClassVar[str] = "wsd"
    per_link: ClassVar[bool] = True
    phase: ClassVar[int] = 1

    def _targets(self, ctx: ScanContext) -> list[tuple[str, int]]:
        return [(GROUP, PORT)]

    def _variants(self) -> tuple[tuple[str, str, str] | None, ...]:
        return PROBE_TYPES


class WsdDirected(_WsdBase, HostModule):
    """Unicast Probes to each live in-scope host the multicast pass did not hear (reaches routed subnets)."""

    name: ClassVar[str] = "wsd_directed"
    per_link: ClassVar[bool] = False
    phase: ClassVar[int] = 2
    concurrency: ClassVar[int] = 64

    def __init__(self, window: float = DIRECTED_WINDOW) -> None:
        super().__init__(window)

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        """In scope, not heard by the multicast pass (nor silent to it on the multicast link) and, once its TCP
        ports are known, with a web port open (where an ONVIF device service would be): a host showing no sign of
        ONVIF is not asked."""
        h = ctx.hosts.get(ip)
        if h is None or h.wsd_epr is not None or not is_ipv4(ip) or not ctx.scope.allows(ip):
            return False
        heard = ctx.finished.get(WsdMulticast.name)
        if ip in ctx.link_hosts and heard is not None and heard.is_set():
            # on the link the multicast Probes went out of (it answered ARP there) and silent to all of them:
            # a unicast copy of the same Probes finds nothing more (directed probing is for routed hosts)
            return False
        if ip not in ctx.ports_known:
            return True
        return bool(h.onvif_xaddrs) or any(p not in NOT_HTTP_PORTS for p in web_ports(h.open_ports, h.http_ports))

    def _targets(self, ctx: ScanContext) -> list[tuple[str, int]]:
        return [(ip, PORT) for ip in sorted(ctx.hosts) if self.wants(ctx, ip)]

    def _variants(self) -> tuple[tuple[str, str, str] | None, ...]:
        return DIRECTED_TYPES

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        """Probe ip alone; listen until it has answered every probe or the window is over."""
        probes = [build_probe(t, f"urn:uuid:{uuid.uuid4()}") for t in self._variants()]
        seen: set[tuple[str, str]] = set()
        out: list[Observation] = []
        heard = 0
        replies = link_replies(ctx, self.name, [[(p, (ip, PORT)) for p in probes]], self.window, parse_reply,
                               "WS-Discovery")
        async with contextlib.aclosing(replies):
            async for reply, src in replies:
                for m in reply.matches:
                    key = (m.epr or " ".join(m.xaddrs), src)
                    if key not in seen:
                        seen.add(key)
                        out.extend(self._record(ctx, m, src))
                heard += src == ip
                if heard >= len(probes):
                    break
        return out


MODULE = WsdMulticast
DIRECTED = WsdDirected
