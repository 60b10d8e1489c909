"""SADP-style inquiry discovery (UDP 37020, group 239.255.255.250): XML Probe, XML ProbeMatch replies.

Wire facts (shared/docs/protocols.md section 3; julienblitte/UniversalScanner Hikvision.cs and
Hikvision.selftest; cameronnewman/hikvision-tooling internal/sadp/scanner.go): the request is a
namespace-less `<Probe><Uuid>GUID</Uuid><Types>inquiry</Types></Probe>`, each device answers with a
flat `<ProbeMatch>` document unicast to the request's source address and port. The protocol also
has write verbs (activation, address change, reset); this module can only build the read-only
`inquiry` probe. The whole ProbeMatch text is the observation; the engine parses its fields.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.discovery.wsd import (
    add_http_port,
    normalize_mac,
    parse_xml,
    plausible_unicast_mac,
    query_link,
    split_tag,
    tcp_port,
)
from scanner.models import Observation

PORT = 37020
GROUP = "239.255.255.250"
MAX_DATAGRAM = 16 * 1024      # real replies are ~1-2 KB
WINDOW = 2.0                  # seconds to collect replies
REPEAT = 3                    # the inquiry is idempotent; more copies cover lost datagrams
INQUIRY = "inquiry"           # the only verb this module ever sends


class SadpDecodeError(DecodeError):
    """A datagram on the SADP port is not a ProbeMatch this module can read."""


@dataclass(frozen=True, slots=True)
class SadpReply:
    """One ProbeMatch: its XML text and the few fields the I/O layer needs."""

    xml: str
    uuid: str | None
    mac: str | None
    ipv4: str | None
    http_port: int | None = None


def build_probe(probe_uuid: str) -> bytes:
    """The read-only inquiry Probe carrying probe_uuid (upper-case GUID, as SADP tools send it)."""
    u = str(uuid.UUID(probe_uuid)).upper()
    return (f'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>{u}</Uuid>'
            f"<Types>{INQUIRY}</Types></Probe>").encode()


def parse_reply(data: bytes) -> SadpReply:
    """Parse a ProbeMatch (root name matched case-insensitively); raises SadpDecodeError only."""
    root = parse_xml(data, MAX_DATAGRAM, SadpDecodeError)
    local = split_tag(root.tag)[1]
    if local.lower() != "probematch":
        raise SadpDecodeError(f"not a ProbeMatch (root {local[:40]!r})")
    fields: dict[str, str] = {}
    for child in root:
        name = split_tag(child.tag)[1]
        if name and name not in fields:
            fields[name] = (child.text or "").strip()[:256]
    mac = normalize_mac(fields.get("MAC", ""))
    if mac and not plausible_unicast_mac(mac):
        mac = None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise SadpDecodeError(f"ProbeMatch is not UTF-8: {e}") from None
    return SadpReply(xml=text, uuid=fields.get("Uuid") or None, mac=mac,
                     ipv4=fields.get("IPv4Address") or None, http_port=tcp_port(fields.get("HttpPort")))


def to_observations(parsed: SadpReply, ip: str, mac: str | None) -> list[Observation]:
    """sadp.reply (the whole document) plus the MAC it states, for the reply heard from ip."""
    mac = mac or parsed.mac
    out = [Observation("sadp.reply", parsed.xml, ip=ip, mac=mac, port=PORT, source="sadp")]
    if parsed.mac:
        out.append(Observation("mac", parsed.mac, ip=ip, mac=mac, port=PORT, source="sadp"))
    return out


class Sadp(Module):
    """Multicast (and, for hosts already known, unicast) inquiry; replies collected for a window."""

    name: ClassVar[str] = "sadp"
    signals: ClassVar[frozenset[str]] = frozenset({"sadp.reply", "mac"})
    per_link: ClassVar[bool] = True
    phase: ClassVar[int] = 1

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Send the inquiry, then yield observations for each new device heard."""
        probe = build_probe(str(uuid.uuid4()))
        async for parsed, ip in query_link(ctx, self.name, probe, (GROUP, PORT), self.window, parse_reply,
                                           lambda p: p.mac or p.uuid or p.xml[:200], "SADP", REPEAT):
            host = ctx.host(ip)
            if host.mac is None and parsed.mac:
                host.mac = parsed.mac
            add_http_port(host, parsed.http_port)
            ctx.stats.count("sadp.replies")
            for ob in to_observations(parsed, ip, host.mac):
                yield ob


MODULE = Sadp
