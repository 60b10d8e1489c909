"""Hikvision SADP responder: UDP 37020, group 239.255.255.250, answers `inquiry` Probes only.

Facts: protocols.md section 3 (UniversalScanner Hikvision.cs/.selftest, hikvision-tooling sadp).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final, cast
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeET

from scanner.lab.services.context import HostContext

PORT: Final = 37020
GROUP: Final = "239.255.255.250"
INQUIRY_TYPES: Final = frozenset({"inquiry", "inquiry_v32"})
MAX_PROBE: Final = 8192


@dataclass(frozen=True, slots=True)
class SadpProbe:
    """A received SADP Probe: its Uuid and Types (only inquiry types are answered)."""

    uuid: str
    types: str


def parse_probe(data: bytes) -> SadpProbe | None:
    """The SADP Probe in DATA, or None for anything else (including write verbs such as activate)."""
    if len(data) > MAX_PROBE:
        return None
    try:
        root = SafeET.fromstring(data)
    except Exception:   # defusedxml/expat raise several types for hostile or broken input
        return None
    if root.tag.lower() != "probe":
        return None
    types = (root.findtext("Types") or "").strip()
    if types.lower() not in INQUIRY_TYPES:
        return None
    return SadpProbe((root.findtext("Uuid") or "").strip(), types)


def build_reply(probe: SadpProbe, fields: dict[str, str]) -> bytes:
    """A ProbeMatch echoing the probe's Uuid and Types, then the device's flat fields in order."""
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>{escape(probe.uuid)}</Uuid>'
            f"<Types>{escape(probe.types)}</Types>{body}</ProbeMatch>").encode()


_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def reply_fields(ctx: HostContext) -> dict[str, str]:
    """The persona's SADP fields rendered for this host (element name -> text)."""
    fields = ctx.section("sadp").get("fields", {})
    out = {}
    for name, value in fields.items():
        if not _NAME.match(str(name)):
            raise ValueError(f"bad SADP element name {name!r}")
        out[str(name)] = ctx.render(str(value).lower() if isinstance(value, bool) else str(value))
    return out


def malformed_replies(probe: SadpProbe, ctx: HostContext) -> list[bytes]:
    """Hostile: datagrams that look like SADP but break a parser in the ways real junk does."""
    uuid = escape(probe.uuid)
    return [
        # truncated mid-element, as if the datagram were cut
        f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>{uuid}</Uuid><Types>inquiry</Types>'
        f"<DeviceType>1</DeviceType><DeviceDescription>DS-2CD".encode(),
        # entity expansion attack inside a ProbeMatch
        (b'<?xml version="1.0"?><!DOCTYPE ProbeMatch [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;'
         b'&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><ProbeMatch><Uuid>'
         + uuid.encode() + b"</Uuid><Types>inquiry</Types><DeviceSN>&c;</DeviceSN></ProbeMatch>"),
        # binary junk with invalid UTF-8 where the XML declaration should be
        b"\xff\xfe<\x00P\x00r\x00o\x00\xc3\x28" + bytes(range(0, 64)),
        # well-formed but every field nonsense: bad MAC, IPv4 out of range, 300-char model
        (f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>{uuid}</Uuid><Types>inquiry</Types>'
         f"<MAC>zz-zz-zz-zz-zz-zz-zz</MAC><IPv4Address>999.1.2.3</IPv4Address>"
         f"<DeviceDescription>{'X' * 300}</DeviceDescription><CommandPort>-1</CommandPort>"
         f"<IPv4Address>{ctx.values['outside_ip']}</IPv4Address></ProbeMatch>").encode(),
        b"",
    ]


class SadpResponder(asyncio.DatagramProtocol):
    """Replies to SADP inquiry probes, unicast to the prober's address and port."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.malformed = ctx.section("sadp").get("behaviour") == "malformed"
        self.fields = {} if self.malformed else reply_fields(ctx)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        probe = parse_probe(data)
        if probe is None or self.transport is None:
            return
        replies = malformed_replies(probe, self.ctx) if self.malformed else [build_reply(probe, self.fields)]
        for reply in replies:
            self.transport.sendto(reply, addr)

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()
