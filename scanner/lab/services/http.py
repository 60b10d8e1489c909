"""HTTP/1.1 and HTTPS server of a simulated host: vendor routes from the persona, ONVIF and UPnP mounts."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import socket
import ssl
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from scanner.lab.services.auth import DigestChecker
from scanner.lab.services.context import MAX_REQUEST_BYTES, READ_TIMEOUT_S, HostContext, stable_uuid
from scanner.lab.services.sockets import StreamService

REASONS: Final = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found",
                  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed", 500: "Internal Server Error", 501: "Not Implemented"}
HUGE_BODY_CAP: Final = 256 * 1024 * 1024   # hostile "endless" body stops here (or when the client leaves)
DRIP_CAP_BYTES: Final = 900                # hostile drip: at most 15 minutes of one byte a second
MAX_REQUESTS_PER_CONNECTION: Final = 100


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed HTTP request (header names lower-cased)."""

    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    tls: bool


@dataclass(slots=True)
class Response:
    """One HTTP response; header values are str encoded as ISO-8859-1 on the wire."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None
    close: bool = False


Mount = Callable[[Request], Awaitable[Response | None]]


def parse_request_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, target and headers of a request head; ValueError when it is not HTTP/1.x."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("header line without a colon")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


def synthetic_favicon(rgb: tuple[int, int, int]) -> bytes:
    """A 16x16 single-colour .ico (the lab's own artwork, not the maker's icon)."""
    red, green, blue = rgb
    pixels = bytes([blue, green, red, 255]) * 256
    mask = b"\x00" * (4 * 16)
    bmp = struct.pack("<IiiHHIIiiII", 40, 16, 32, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
    image = bmp + pixels + mask
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(image), 22)
    return struct.pack("<HHH", 0, 1, 1) + entry + image


def _colour(text: str) -> tuple[int, int, int]:
    text = text.lstrip("#")
    if len(text) != 6:
        crc = zlib.crc32(text.encode())
        return (crc >> 16) & 255, (crc >> 8) & 255, crc & 255
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


class HttpApp:
    """Answers requests for one host from its persona's `http` section plus protocol mounts."""

    def __init__(self, ctx: HostContext, mounts: list[Mount]) -> None:
        self.ctx = ctx
        self.spec = ctx.section("http")
        self.mounts = mounts
        user, password = ctx.host.credentials
        self.realm = ctx.render(str(self.spec.get("realm", "")))
        self.digest = DigestChecker(self.realm, user, password, basic=self.spec.get("auth") == "basic")
        colour = str(self.spec.get("favicon", {}).get("colour", ctx.host.persona.name))
        self.favicon = synthetic_favicon(_colour(colour)) if self.spec.get("favicon") else None
        self.behaviour = str(self.spec.get("behaviour", "normal"))

    def base_headers(self) -> list[tuple[str, str]]:
        """Headers every response of this firmware carries (Server, Date...)."""
        headers: list[tuple[str, str]] = []
        server = self.spec.get("server")
        if server is not None:
            headers.append(("Server", self.ctx.render(str(server))))
        if self.spec.get("date", True):
            headers.append(("Date", email.utils.formatdate(usegmt=True)))
        for name, value in self.spec.get("headers", {}).items():
            headers.append((str(name), self.ctx.render(str(value))))
        return headers

    def challenge(self) -> Response:
        """The 401 this firmware sends for a protected resource without valid credentials."""
        nonce = self.ctx.token(16)
        self.digest.remember_nonce(nonce)
        template = str(self.spec.get(
            "challenge", 'Digest realm="${realm}", qop="auth", nonce="${nonce}", stale="FALSE"'))
        unauthorized = self.spec.get("unauthorized", {})
        body = self.ctx.render(str(unauthorized.get("body", "")), realm=self.realm)
        headers = [("WWW-Authenticate", self.ctx.render(template, realm=self.realm, nonce=nonce))]
        if body:
            headers.append(("Content-Type", str(unauthorized.get("type", "text/html"))))
        return Response(401, body.encode(str(self.spec.get("encoding", "utf-8"))), headers)

    def render_body(self, route: dict[str, Any], text: str) -> bytes:
        """Fill a body template and encode it as the route (or the firmware) does."""
        extra = {"realm": self.realm, "random": str(self.ctx.rng.randrange(10**6, 10**9)),
                 "session": str(self.ctx.rng.randrange(10**6, 2**31)), "nonce": self.ctx.token(16)}
        encoding = str(route.get("encoding", self.spec.get("encoding", "utf-8")))
        return self.ctx.render(text, **extra).encode(encoding)

    async def handle(self, request: Request) -> Response:
        """Route one request: mounts first (ONVIF, UPnP), then persona routes, then 404."""
        for mount in self.mounts:
            response = await mount(request)
            if response is not None:
                return response
        if request.path == "/favicon.ico" and self.favicon is not None:
            return Response(200, self.favicon, [("Content-Type", "image/x-icon")])
        for route in self.spec.get("routes", []):
            if route["path"] != request.path:
                continue
            if "query" in route and route["query"] != request.query:
                continue
            if "scheme" in route and route["scheme"] != ("https" if request.tls else "http"):
                continue
            if "body_contains" in route and str(route["body_contains"]).encode() not in request.body:
                continue
            methods = route.get("methods", ["GET", "HEAD", "POST"])
            if request.method not in methods:
                return Response(405, b"", [("Allow", ", ".join(methods))])
            return self.answer_route(route, request)
        not_found = self.spec.get("not_found", {})
        return Response(int(not_found.get("status", 404)),
                        self.render_body(not_found, str(not_found.get("body", ""))),
                        [("Content-Type", str(not_found.get("type", "text/html")))])

    def answer_route(self, route: dict[str, Any], request: Request) -> Response:
        """A persona route's response, with the digest challenge for protected routes."""
        if route.get("protected") and not self.digest.check(request.method,
                                                            request.headers.get("authorization")):
            return self.challenge()
        generator = route.get("generator")
        if generator is not None:
            body = GENERATORS[str(generator)](self.ctx).encode()
        else:
            body = self.render_body(route, str(route.get("body", "")))
        headers = [(str(k), self.ctx.render(str(v))) for k, v in route.get("headers", {}).items()]
        if body or "type" in route:
            headers.append(("Content-Type", str(route.get("type", "text/html"))))
        return Response(int(route.get("status", 200)), body, headers)


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What a recorder knows of the camera on one channel (hidden or lab host), for its channel lists."""

    number: int
    ip: str
    model: str
    serial: str
    firmware: str
    mac: str
    private: bool        # True: the recorder speaks its maker's own protocol to it (Hikvision SDK, Dahua2)
    plugplay: bool       # True: on a PoE port (hidden); False: added by address over the LAN


def channel_facts(ctx: HostContext) -> list[ChannelFacts]:
    """Every channel of this recorder, hidden cameras first, as its channel lists describe them."""
    out = []
    vendor = ctx.host.persona.vendor
    for ch in ctx.host.recorder_channels():
        hidden = ch.hidden
        if hidden is not None:
            out.append(ChannelFacts(ch.number, ch.ip, hidden.model, hidden.serial, hidden.firmware, hidden.mac,
                                    hidden.protocol == "private", True))
            continue
        cam = ctx.hosts.get(ch.ip)
        if cam is None:   # a lab camera that is gone: the recorder still lists its address
            out.append(ChannelFacts(ch.number, ch.ip, "", "", "", "", False, False))
            continue
        out.append(ChannelFacts(ch.number, ch.ip, cam.persona.model, cam.serial, cam.firmware, cam.mac,
                                vendor is not None and cam.persona.vendor == vendor, False))
    return out


def _hik_input_proxy(ctx: HostContext) -> str:
    """Hikvision NVR GET /ISAPI/ContentMgmt/InputProxy/channels: one InputProxyChannel per IP channel.

    Shape as recorded from real NVRs in maciej-or/hikvision_next tests/fixtures/devices (DS-7608NXI-I2,
    DS-7616NI-Q2, DS-7732NI-M4): id, name, sourceInputPortDescriptor {proxyProtocol HIKVISION|ONVIF,
    addressingFormatType, ipAddress, managePortNo, srcInputPort, userName, connMode plugplay|manual,
    streamType, model, serialNumber, firmwareVersion, deviceID}, enableAnr, devIndex. No maker element: the
    recorder names only the protocol. The list's size attribute is the recorder's capacity, not the count
    (real lists disagree with their own size). Default channel names 'IPCamera NN' (Hikvision web UI)."""
    items = []
    for c in channel_facts(ctx):
        protocol = "HIKVISION" if c.private else "ONVIF"
        dev_index = stable_uuid(ctx.seed, ctx.host.ip, f"channel-{c.number}").hex.upper()
        items.append(
            f"<InputProxyChannel><id>{c.number}</id><name>IPCamera {c.number:02d}</name>"
            f"<sourceInputPortDescriptor><proxyProtocol>{protocol}</proxyProtocol>"
            f"<addressingFormatType>ipaddress</addressingFormatType><ipAddress>{c.ip}</ipAddress>"
            f"<managePortNo>{8000 if c.private else 80}</managePortNo><srcInputPort>1</srcInputPort>"
            f"<userName>admin</userName><connMode>{'plugplay' if c.plugplay else 'manual'}</connMode>"
            f"<streamType>auto</streamType><model>{escape(c.model)}</model>"
            f"<serialNumber>{escape(c.serial)}</serialNumber><firmwareVersion>{escape(c.firmware)}"
            "</firmwareVersion><deviceID></deviceID></sourceInputPortDescriptor>"
            f"<enableAnr>false</enableAnr><devIndex>{dev_index}</devIndex></InputProxyChannel>")
    size = ctx.host.persona.stated_channels or len(items)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<InputProxyChannelList version="1.0" '
            f'xmlns="http://www.hikvision.com/ver20/XMLSchema" size="{size}">\n' + "\n".join(items)
            + ("\n" if items else "") + "</InputProxyChannelList>\n")


UNUSED_SLOT_ADDRESS: Final = "192.168.0.0"     # what Dahua recorders list in an empty RemoteDevice slot
NO_MAC: Final = "ff:ff:ff:ff:ff:ff"            # what they list for a camera added over ONVIF


def camera_password(channel: int) -> str:
    """The password a lab recorder stores for the camera on CHANNEL (a marker: camscan must never keep it)."""
    return f"lab-camera-secret-{channel}"


def _dahua_remote_devices(ctx: HostContext) -> str:
    """Dahua NVR GET /cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice: key=value lines
    table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_<slot>.<Field> (slot = channel - 1), every slot of
    the recorder's capacity, each slot's fields in alphabetical order, CRLF line ends.

    As in real captures (a DH-NVR4216-HDS2 table in a public NVR client's tests, code index file id
    70390157639; a Dahua NVR table in a public Node.js DVR client, file id 37454037322; a Dahua NVR with
    Hikvision cameras over ONVIF in netbox-sync collector tests, file id 71389369219): Vendor Private and
    ProtocolType Dahua2 for Dahua-protocol cameras, Vendor/ProtocolType Onvif otherwise; Mac ff:ff:ff:ff:ff:ff
    for ONVIF cameras; Name the camera's own device name for Dahua-protocol cameras (a Dahua camera's
    MachineName is its serial), empty for ONVIF ones; empty slots Address=192.168.0.0, Enable=false; every
    slot carries the stored camera Password (here the marker lab-camera-secret-<channel>)."""
    facts = {c.number - 1: c for c in channel_facts(ctx)}
    slots = max([ctx.host.persona.stated_channels or 0, *(k + 1 for k in facts)])
    lines = []
    for slot in range(slots):
        c = facts.get(slot)
        if c is None:
            fields = {"Address": UNUSED_SLOT_ADDRESS, "DeviceType": "", "Enable": "false", "HttpPort": "80",
                      "Mac": NO_MAC, "Name": "", "Password": camera_password(slot + 1), "Port": "37777",
                      "ProtocolType": "Dahua2", "RtspPort": "554", "SerialNo": "", "UserName": "admin",
                      "Vendor": "Private", "Version": ""}
        else:
            fields = {"Address": c.ip, "DeviceType": c.model, "Enable": "true", "HttpPort": "80",
                      "Mac": c.mac if c.private else NO_MAC, "Name": c.serial if c.private else "",
                      "Password": camera_password(c.number),
                      "Port": "37777" if c.private else "80", "ProtocolType": "Dahua2" if c.private else "Onvif",
                      "RtspPort": "554", "SerialNo": c.serial, "UserName": "admin",
                      "Vendor": "Private" if c.private else "Onvif", "Version": c.firmware}
        key = f"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_{slot}"
        lines += [f"{key}.{name}={value}" for name, value in sorted(fields.items())]
    return "\r\n".join(lines) + "\r\n"


GENERATORS: Final[dict[str, Callable[[HostContext], str]]] = {
    "hik-input-proxy": _hik_input_proxy,
    "dahua-remote-devices": _dahua_remote_devices,
}


def encode_head(status: int, reason: str | None, headers: list[tuple[str, str]]) -> bytes:
    """Status line and headers; ISO-8859-1 so a persona can put raw non-UTF-8 bytes in a banner."""
    lines = [f"HTTP/1.1 {status} {reason or REASONS.get(status, 'OK')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


class HttpServer(StreamService):
    """Serves an HttpApp on one listening socket (plain or TLS) on the running loop."""

    def __init__(self, app: HttpApp, tls: ssl.SSLContext | None) -> None:
        super().__init__()
        self.app = app
        self.tls = tls

    async def start(self, sock: socket.socket) -> None:
        """Begin serving SOCK (already bound and listening, in the host's namespace)."""
        self.server = await asyncio.start_server(self._connection, sock=sock, ssl=self.tls,
                                                 ssl_handshake_timeout=10 if self.tls else None,
                                                 limit=MAX_REQUEST_BYTES)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            if self.app.behaviour == "reset":
                await reset(reader, writer)
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, ssl.SSLError, ValueError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self.tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            except asyncio.IncompleteReadError:
                return
            try:
                method, target, headers = parse_request_head(head[:-4])
            except ValueError:
                writer.write(encode_head(400, None, [("Content-Length", "0"), ("Connection", "close")]))
                await writer.drain()
                return
            length = int(headers.get("content-length", "0") or "0")
            if length < 0 or length > MAX_REQUEST_BYTES:
                writer.write(encode_head(413, "Payload Too Large", [("Connection", "close")]))
                await writer.drain()
                return
            body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S) if length else b""
            split = urlsplit(target)
            request = Request(method, target, split.path or "/", split.query, headers, body,
                              self.tls is not None)
            if self.app.behaviour == "huge-body":
                await self._huge(writer)
                return
            response = await self.app.handle(request)
            payload = b"" if method == "HEAD" else response.body
            # hostile personas may state a Content-Length that is no number (e.g. "²")
            length_text = str(self.app.spec.get("content_length", len(response.body)))
            all_headers = [*self.app.base_headers(), *response.headers, ("Content-Length", length_text)]
            close = response.close or headers.get("connection", "").lower() == "close"
            all_headers.append(("Connection", "close" if close else "keep-alive"))
            data = encode_head(response.status, response.reason, all_headers) + payload
            if self.app.behaviour == "drip":
                await drip(writer, data)
                return
            await asyncio.sleep(float(self.app.spec.get("delay_s", 0)))   # hostile "slow" personas
            writer.write(data)
            await writer.drain()
            if close:
                return

    async def _huge(self, writer: asyncio.StreamWriter) -> None:
        """Hostile: claim an enormous body and stream it until the cap or until the client leaves."""
        writer.write(encode_head(200, None, [*self.app.base_headers(), ("Content-Type", "text/html"),
                                             ("Content-Length", str(10**12))]))
        chunk = b"<html><head><title>" + b"A" * 65000 + b"\n"
        sent = 0
        while sent < HUGE_BODY_CAP:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Hostile: once the request starts to arrive, drop the connection with a TCP RST (SO_LINGER 0, abort)."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(reader.read(1), READ_TIMEOUT_S)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def drip(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Hostile: send DATA one byte per second (capped), repeating it if it runs out."""
    for index in range(DRIP_CAP_BYTES):
        writer.write(data[index % len(data): index % len(data) + 1])
        await writer.drain()
        await asyncio.sleep(1.0)
