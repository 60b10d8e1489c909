"""Dahua DHIP discovery responder: UDP 37810, group 239.255.255.251, 32-byte header + JSON.

Facts: protocols.md section 4 (rroller/dahua discovery.py, UniversalScanner Dahua2.cs/.selftest).
Bare JSON without the DHIP header gets no reply, as measured on real devices.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, Final, cast

from scanner.lab.services.context import HostContext

PORT: Final = 37810
GROUP: Final = "239.255.255.251"
MAGIC: Final = b"DHIP"
HEADER_LEN: Final = 0x20
MAX_FRAME: Final = 8192


def build_frame(payload: bytes, session: int = 0, request: int = 0) -> bytes:
    """A DHIP frame: header length, 'DHIP', session, request id, JSON length twice (LE), then PAYLOAD."""
    return (struct.pack("<I", HEADER_LEN) + MAGIC + struct.pack("<II", session, request)
            + struct.pack("<II", len(payload), 0) + struct.pack("<II", len(payload), 0) + payload)


def parse_frame(data: bytes) -> dict[str, Any] | None:
    """The JSON object of a well-formed DHIP frame, or None (bare JSON, bad header, bad JSON)."""
    if len(data) < HEADER_LEN or len(data) > MAX_FRAME:
        return None
    if struct.unpack_from("<I", data, 0)[0] != HEADER_LEN or data[4:8] != MAGIC:
        return None
    length = struct.unpack_from("<I", data, 0x10)[0]
    payload = data[HEADER_LEN:HEADER_LEN + length]
    if length == 0 or len(payload) != length:
        return None
    try:
        value = json.loads(payload.decode("utf-8").strip().rstrip("\x00"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def is_search(message: dict[str, Any]) -> bool:
    """Whether MESSAGE is a DHDiscover.search request."""
    return message.get("method") == "DHDiscover.search"


def build_reply(ctx: HostContext) -> bytes:
    """The client.notifyDevInfo frame describing this host."""
    spec = ctx.section("dhip")
    info = ctx.render_any(spec.get("device_info", {}))
    message = {"mac": ctx.values["mac"], "method": "client.notifyDevInfo", "params": {"deviceInfo": info}}
    payload = json.dumps(message, separators=(",", ":")).encode()
    if spec.get("trailer"):
        payload += b"\n\x00"   # some firmware pads the JSON (protocols.md section 4)
    return build_frame(payload)


def malformed_replies() -> list[bytes]:
    """Hostile: frames that claim to be DHIP but lie about lengths or carry broken JSON."""
    good = b'{"mac":"00:00:00:00:00:00","method":"client.notifyDevInfo","params":{"deviceInfo":{'
    return [
        build_frame(good)[: HEADER_LEN + 20],                             # length says more than sent
        struct.pack("<I", HEADER_LEN) + MAGIC + b"\x00" * 8 + struct.pack("<II", 0xFFFFFFFF, 0xFFFFFFFF)
        + b"\x00" * 8 + b"{}",                                            # absurd length
        build_frame(good + b'"DeviceType":"\xff\xfe\xc3\x28"}}}'),        # invalid UTF-8 in JSON
        build_frame(b"[" * 5000),                                        # nesting bomb
        build_frame(b'{"method":"client.notifyDevInfo","params":{"deviceInfo":"not an object"}}'),
        b"DHIP" * 3,                                                      # short, magic in wrong place
    ]


class DhipResponder(asyncio.DatagramProtocol):
    """Replies to framed DHDiscover.search requests, unicast to the requester's address and port."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.malformed = ctx.section("dhip").get("behaviour") == "malformed"
        self.reply = b"" if self.malformed else build_reply(ctx)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_frame(data)
        if message is None or not is_search(message) or self.transport is None:
            return
        for reply in malformed_replies() if self.malformed else [self.reply]:
            self.transport.sendto(reply, addr)

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()
