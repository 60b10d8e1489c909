"""ONVIF WS-Discovery target (April 2005 draft): UDP 3702, group 239.255.255.250, ProbeMatch replies.

Facts: protocols.md section 1 (ONVIF Core spec device discovery chapter; vendor ProbeMatch samples).
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, cast
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeET

from scanner.lab.services.context import HostContext

PORT: Final = 3702
GROUP: Final = "239.255.255.250"
SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
WSA: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD: Final = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NET: Final = "http://www.onvif.org/ver10/network/wsdl"
TDS: Final = "http://www.onvif.org/ver10/device/wsdl"
DEVPROF: Final = "http://schemas.xmlsoap.org/ws/2006/02/devprof"
PUB: Final = "http://schemas.microsoft.com/windows/pub/2005/07"
ANONYMOUS: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
MULTICAST_TO: Final = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
RFC3986: Final = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"
STRCMP0: Final = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0"
MAX_DATAGRAM: Final = 65507
APP_MAX_DELAY_S: Final = 0.5   # WS-Discovery APP_MAX_DELAY: random 0..500 ms before a ProbeMatch
HELLO_SPREAD_S: Final = 3.0
FLOOD_CAP: Final = 100_000     # hostile flood: ProbeMatches per Probe at most
FLOOD_BATCH: Final = 250       # sent per loop turn, so the other hosts of the daemon keep answering
# Prefixes the personas use when they list their Types (what a device writes in its reply).
TYPE_PREFIXES: Final = {"dn": NET, "tdn": NET, "tds": TDS, "wsdp": DEVPROF, "pub": PUB}


@dataclass(frozen=True, slots=True)
class Probe:
    """A received Probe: its MessageID, requested Types as (namespace, local) and Scopes."""

    message_id: str
    types: frozenset[tuple[str, str]]
    scopes: tuple[str, ...]
    match_by: str
    resolve: str | None = None             # set for a Resolve: the EndpointReference address asked for


@dataclass(frozen=True, slots=True)
class Target:
    """What a device answers with: the ProbeMatch children and the header options."""

    epr: str
    types: tuple[str, ...]                 # prefixed QNames, e.g. "dn:NetworkVideoTransmitter"
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    metadata_version: int | None = 1
    app_sequence: int | None = None        # InstanceId; None = no AppSequence header
    omit: frozenset[str] = field(default_factory=frozenset)  # elements this firmware leaves out
    message_id_prefix: str = "urn:uuid:"
    xml_bomb: bool = False
    scope_separator: str = " "             # some firmware separates Scopes with newlines
    xml_encoding: str = "UTF-8"            # the name in the XML declaration (hostile: one no codec knows)
    flood: int = 0                         # hostile: this many ProbeMatches answer each Probe


def _resolve_qnames(text: str, nsmap: dict[str, str]) -> frozenset[tuple[str, str]]:
    found = set()
    for item in text.split():
        prefix, sep, local = item.rpartition(":")
        namespace = nsmap.get(prefix, "") if sep else nsmap.get("", "")
        found.add((namespace, local))
    return frozenset(found)


def parse_probe(data: bytes) -> Probe | None:
    """The Probe (or Resolve) in DATA, or None when DATA is neither, well formed."""
    if len(data) > MAX_DATAGRAM:
        return None
    nsmap: dict[str, str] = {}
    message_id = ""
    types_text: str | None = None
    scopes: tuple[str, ...] = ()
    match_by = RFC3986
    is_probe = False
    resolve: str | None = None
    try:
        for event, item in SafeET.iterparse(io.BytesIO(data), events=("start-ns", "end")):
            if event == "start-ns":
                prefix, uri = item
                nsmap[prefix] = uri
                continue
            tag = item.tag
            if tag == f"{{{WSA}}}MessageID":
                message_id = (item.text or "").strip()
            elif tag == f"{{{WSD}}}Types":
                types_text = item.text or ""
            elif tag == f"{{{WSD}}}Scopes":
                scopes = tuple((item.text or "").split())
                match_by = item.get("MatchBy", RFC3986) or RFC3986
            elif tag == f"{{{WSD}}}Probe":
                is_probe = True
            elif tag == f"{{{WSD}}}Resolve":
                resolve = (item.findtext(f"{{{WSA}}}EndpointReference/{{{WSA}}}Address") or "").strip()
    except Exception:   # defusedxml/expat raise several types for hostile or broken input
        return None
    if resolve:
        return Probe(message_id, frozenset(), (), RFC3986, resolve)
    if not is_probe:
        return None
    types = _resolve_qnames(types_text, nsmap) if types_text else frozenset()
    return Probe(message_id, types, scopes, match_by)


def device_types(types: Iterable[str]) -> frozenset[tuple[str, str]]:
    """A persona's prefixed Types as (namespace, local) pairs."""
    return _resolve_qnames(" ".join(types), TYPE_PREFIXES)


def _scope_matches(wanted: str, have: str, match_by: str) -> bool:
    if match_by == STRCMP0:
        return wanted == have
    # RFC 3986 rule: scheme and authority case-insensitive, path compared segment by segment.
    w_head, _, w_path = wanted.partition("://")
    h_head, _, h_path = have.partition("://")
    w_auth, _, w_rest = w_path.partition("/")
    h_auth, _, h_rest = h_path.partition("/")
    if w_head.lower() != h_head.lower() or w_auth.lower() != h_auth.lower():
        return False
    w_segments = [s for s in w_rest.split("/") if s]
    h_segments = [s for s in h_rest.split("/") if s]
    return h_segments[: len(w_segments)] == w_segments


def matches(probe: Probe, target: Target) -> bool:
    """Whether a device answers PROBE: all listed Types and Scopes match (a Resolve: its own EPR)."""
    if probe.resolve is not None:
        return probe.resolve == target.epr
    if probe.match_by not in (RFC3986, STRCMP0):
        return False
    if probe.types and not probe.types <= device_types(target.types):
        return False
    return all(any(_scope_matches(w, h, probe.match_by) for h in target.scopes) for w in probe.scopes)


BOMB_DTD: Final = (
    '<!DOCTYPE Envelope [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
              for i in range(1, 10))
    + "]>\n")


def build_probe_match(target: Target, relates_to: str, message_id: str, message_number: int = 1,
                      action: str = "ProbeMatches") -> bytes:
    """A ProbeMatches (or Hello, ResolveMatches) envelope for TARGET answering the message RELATES_TO."""
    hello = action == "Hello"
    resolve = action == "ResolveMatches"
    header = [f"<wsadis:MessageID>{escape(target.message_id_prefix + message_id)}</wsadis:MessageID>"]
    if not hello:
        header.append(f"<wsadis:RelatesTo>{escape(relates_to)}</wsadis:RelatesTo>")
    header.append(f"<wsadis:To>{MULTICAST_TO if hello else ANONYMOUS}</wsadis:To>")
    header.append(f"<wsadis:Action>{WSD}/{action}</wsadis:Action>")
    if target.app_sequence is not None:
        header.append(f'<d:AppSequence InstanceId="{target.app_sequence}" MessageNumber="{message_number}"/>')
    body = [f"<wsadis:EndpointReference><wsadis:Address>{escape(target.epr)}</wsadis:Address>"
            "</wsadis:EndpointReference>"]
    if "Types" not in target.omit:
        body.append(f"<d:Types>{escape(' '.join(target.types))}</d:Types>")
    if "Scopes" not in target.omit:
        scopes = target.scope_separator.join(escape(s) for s in target.scopes)
        if target.xml_bomb:
            scopes += " &lol9;"
        body.append(f"<d:Scopes>{scopes}</d:Scopes>")
    if "XAddrs" not in target.omit:
        body.append(f"<d:XAddrs>{escape(' '.join(target.xaddrs))}</d:XAddrs>")
    if "MetadataVersion" not in target.omit and target.metadata_version is not None:
        body.append(f"<d:MetadataVersion>{target.metadata_version}</d:MetadataVersion>")
    inner = "".join(body)
    if hello:
        body_xml = f"<d:Hello>{inner}</d:Hello>"
    elif resolve:
        body_xml = f"<d:ResolveMatches><d:ResolveMatch>{inner}</d:ResolveMatch></d:ResolveMatches>"
    else:
        body_xml = f"<d:ProbeMatches><d:ProbeMatch>{inner}</d:ProbeMatch></d:ProbeMatches>"
    text = (
        f'<?xml version="1.0" encoding="{target.xml_encoding}"?>\n' + (BOMB_DTD if target.xml_bomb else "")
        + f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsadis="{WSA}" xmlns:d="{WSD}" '
        f'xmlns:dn="{NET}" xmlns:tdn="{NET}" xmlns:tds="{TDS}" xmlns:wsdp="{DEVPROF}" '
        f'xmlns:pub="{PUB}">'
        f"<env:Header>{''.join(header)}</env:Header><env:Body>{body_xml}</env:Body></env:Envelope>")
    return text.encode()


def target_for(ctx: HostContext) -> Target:
    """The WS-Discovery identity of a host, from its persona's `wsd` section."""
    spec: dict[str, Any] = ctx.section("wsd")
    scopes = tuple(str(s).strip() for s in ctx.render_any(spec.get("scopes", [])) if str(s).strip())
    xaddrs = tuple(str(x) for x in ctx.render_any(spec.get("xaddrs", ["http://${ip}/onvif/device_service"])))
    metadata = spec.get("metadata_version", 1)
    return Target(
        epr=ctx.render(str(spec.get("epr", "urn:uuid:${uuid}"))),
        types=tuple(str(t) for t in spec.get("types", ["dn:NetworkVideoTransmitter", "tds:Device"])),
        scopes=scopes, xaddrs=xaddrs,
        metadata_version=None if metadata is None else int(metadata),
        app_sequence=int(spec["app_sequence"]) if spec.get("app_sequence") is not None else None,
        omit=frozenset(str(x) for x in spec.get("omit", [])),
        message_id_prefix=str(spec.get("message_id_prefix", "urn:uuid:")),
        xml_bomb=spec.get("behaviour") == "xml-bomb",
        scope_separator=str(spec.get("scope_separator", " ")),
        xml_encoding=str(spec.get("xml_encoding", "UTF-8")), flood=min(int(spec.get("flood", 0)), FLOOD_CAP))


class WsdResponder(asyncio.DatagramProtocol):
    """Answers Probes (multicast and unicast) to the prober's address after a seeded random delay."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.target = target_for(ctx)
        self.transport: asyncio.DatagramTransport | None = None
        self.message_number = 0
        self.pending: dict[int, asyncio.TimerHandle] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.ctx.section("wsd").get("hello", True):
            # spread the boot-time Hellos of a whole site so they do not arrive as one burst
            delay = self.ctx.rng.uniform(0.0, HELLO_SPREAD_S)
            self.pending[0] = asyncio.get_running_loop().call_later(
                delay, self._deliver, self._message("", "Hello"), (GROUP, PORT), 0)

    def _message(self, relates_to: str, action: str = "ProbeMatches") -> bytes:
        self.message_number += 1
        mid = str(uuid.UUID(int=self.ctx.rng.getrandbits(128), version=4))
        return build_probe_match(self.target, relates_to, mid, self.message_number, action)

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        probe = parse_probe(data)
        if probe is None or not matches(probe, self.target):
            return
        if self.target.flood and not probe.resolve:
            self._flood(probe.message_id, addr, self.target.flood)
            return
        reply = self._message(probe.message_id, "ResolveMatches" if probe.resolve else "ProbeMatches")
        delay = self.ctx.rng.uniform(0.0, APP_MAX_DELAY_S)
        key = self.message_number
        self.pending[key] = asyncio.get_running_loop().call_later(delay, self._deliver, reply, addr, key)

    def _flood(self, relates_to: str, addr: tuple[str, int], left: int) -> None:
        """Hostile: stream LEFT ProbeMatches (each its own MessageID) in batches."""
        for _ in range(min(left, FLOOD_BATCH)):
            self._send(self._message(relates_to), addr)
        if left > FLOOD_BATCH and self.transport is not None and not self.transport.is_closing():
            key = -self.message_number
            self.pending[key] = asyncio.get_running_loop().call_later(
                0.001, self._flood_next, key, relates_to, addr, left - FLOOD_BATCH)

    def _flood_next(self, key: int, relates_to: str, addr: tuple[str, int], left: int) -> None:
        self.pending.pop(key, None)
        self._flood(relates_to, addr, left)

    def _deliver(self, reply: bytes, addr: tuple[str, int], key: int) -> None:
        self.pending.pop(key, None)
        self._send(reply, addr)

    def close(self) -> None:
        """Cancel pending replies and close the socket."""
        for handle in self.pending.values():
            handle.cancel()
        self.pending.clear()
        if self.transport is not None:
            self.transport.close()
