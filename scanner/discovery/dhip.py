"""DHIP JSON discovery (UDP 37810, group 239.255.255.251): DHDiscover.search, client.notifyDevInfo replies.

Wire facts (shared/docs/protocols.md section 4; rroller/dahua custom_components/dahua/discovery.py;
julienblitte/UniversalScanner Dahua2.cs): a frame is a 32-byte little-endian header (header
length 0x20, ASCII "DHIP", session 0, request id 0, body length twice as u32 + 4 zero bytes)
followed by UTF-8 JSON. Bare JSON without the header gets no answer. Devices answer unicast to
the request's source with `{"mac": ..., "method": "client.notifyDevInfo", "params":
{"deviceInfo": {...}}}`, sometimes followed by `\\n\\0`, so the body is taken from the first `{`
to the last `}`. The JSON body text is the observation; the engine parses its fields.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.discovery.wsd import (
    add_http_port,
    normalize_mac,
    plausible_unicast_mac,
    query_link,
    tcp_port,
)
from scanner.models import Observation

PORT = 37810
GROUP = "239.255.255.251"
MAGIC = b"DHIP"
HEADER_LEN = 32
MAX_DATAGRAM = 16 * 1024          # real replies are ~0.8 KB
WINDOW = 2.0
REPEAT = 3                        # rounds of the same request; lost datagrams happen
SEARCH = {"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}}
REPLY_METHOD = "client.notifyDevInfo"


class DhipDecodeError(DecodeError):
    """A datagram on the DHIP port is not a framed client.notifyDevInfo reply."""


@dataclass(frozen=True, slots=True)
class DhipReply:
    """One client.notifyDevInfo reply: its JSON text and the MAC it states."""

    body: str
    mac: str | None
    http_port: int | None = None


def frame(body: bytes) -> bytes:
    """body wrapped in a DHIP header (session 0, request 0, length twice)."""
    n = len(body)
    return struct.pack("<I4sIIIIII", HEADER_LEN, MAGIC, 0, 0, n, 0, n, 0) + body


def build_probe() -> bytes:
    """The DHDiscover.search request, framed (ConfigTool-style, trailing newline included)."""
    return frame(json.dumps(SEARCH, separators=(",", ":")).encode() + b"\n")


def parse_reply(data: bytes) -> DhipReply:
    """Parse a framed client.notifyDevInfo reply; truncated, unframed or non-JSON input raises DhipDecodeError only."""
    if len(data) > MAX_DATAGRAM:
        raise DhipDecodeError(f"reply of {len(data)} bytes exceeds the {MAX_DATAGRAM}-byte cap")
    if len(data) < HEADER_LEN:
        raise DhipDecodeError(f"truncated DHIP header ({len(data)} of {HEADER_LEN} bytes)")
    if data[4:8] != MAGIC:
        raise DhipDecodeError("no DHIP magic at offset 4")
    hlen = struct.unpack_from("<I", data, 0)[0]
    if hlen < HEADER_LEN or hlen > len(data):
        raise DhipDecodeError(f"bad DHIP header length {hlen}")
    body = data[hlen:]
    start, end = body.find(b"{"), body.rfind(b"}")
    if start < 0 or end < start:
        raise DhipDecodeError("no JSON object in the DHIP body")
    try:
        text = body[start:end + 1].decode("utf-8")
        doc: Any = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DhipDecodeError(f"bad DHIP JSON: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(doc, dict):
        raise DhipDecodeError("DHIP body is not a JSON object")
    if doc.get("method") != REPLY_METHOD:
        raise DhipDecodeError(f"not a device reply (method {str(doc.get('method'))[:60]!r})")
    mac = normalize_mac(doc["mac"]) if isinstance(doc.get("mac"), str) else None
    if mac and not plausible_unicast_mac(mac):
        mac = None
    info = doc.get("params", {}).get("deviceInfo") if isinstance(doc.get("params"), dict) else None
    port = tcp_port(info.get("HttpPort")) if isinstance(info, dict) else None
    return DhipReply(body=text, mac=mac, http_port=port)


def to_observations(parsed: DhipReply, ip: str, mac: str | None) -> list[Observation]:
    """dhip.reply (the JSON body) plus the MAC it states, for the reply heard from ip."""
    mac = mac or parsed.mac
    out = [Observation("dhip.reply", parsed.body, ip=ip, mac=mac, port=PORT, source="dhip")]
    if parsed.mac:
        out.append(Observation("mac", parsed.mac, ip=ip, mac=mac, port=PORT, source="dhip"))
    return out


class Dhip(Module):
    """Multicast (and, for hosts already known, unicast) DHDiscover.search; replies collected for a window."""

    name: ClassVar[str] = "dhip"
    signals: ClassVar[frozenset[str]] = frozenset({"dhip.reply", "mac"})
    per_link: ClassVar[bool] = True
    phase: ClassVar[int] = 1

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Send the search, then yield observations for each new device heard."""
        async for parsed, ip in query_link(ctx, self.name, build_probe(), (GROUP, PORT), self.window, parse_reply,
                                           lambda p: p.mac or p.body[:200], "DHIP", REPEAT):
            host = ctx.host(ip)
            if host.mac is None and parsed.mac:
                host.mac = parsed.mac
            add_http_port(host, parsed.http_port)
            ctx.stats.count("dhip.replies")
            for ob in to_observations(parsed, ip, host.mac):
                yield ob


MODULE = Dhip
