"""SSDP responder (UDP 1900, group 239.255.255.250) and the UPnP device description it points to.

Facts: protocols.md section 6 (UPnP Device Architecture 1.1 header list; recog Axis/libupnp SERVER).
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass
from typing import Final, cast
from xml.sax.saxutils import escape

from scanner.lab.services.context import HostContext
from scanner.lab.services.http import Request, Response

PORT: Final = 1900
GROUP: Final = "239.255.255.250"
MAX_MX: Final = 5
MAX_DATAGRAM: Final = 4096
DEFAULT_SERVER: Final = "Linux/3.10 UPnP/1.0 Portable SDK for UPnP devices/1.6.18"


@dataclass(frozen=True, slots=True)
class Search:
    """An M-SEARCH request: its search target and MX."""

    st: str
    mx: int


def parse_msearch(data: bytes) -> Search | None:
    """The M-SEARCH in DATA, or None (NOTIFY, junk, missing or unquoted MAN)."""
    if len(data) > MAX_DATAGRAM:
        return None
    lines = data.decode("latin-1").split("\r\n")
    if lines[0].strip().upper() != "M-SEARCH * HTTP/1.1":
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().upper()] = value.strip()
    if headers.get("MAN") != '"ssdp:discover"' or "ST" not in headers:
        return None
    try:
        mx = int(headers.get("MX", "1"))
    except ValueError:
        mx = 1
    return Search(headers["ST"], max(0, min(mx, MAX_MX)))


class SsdpDevice:
    """SSDP identity and description document of one host, from the persona's `ssdp` section."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.spec = ctx.section("ssdp")
        self.udn = ctx.render(str(self.spec.get("udn", "uuid:${uuid}")))
        self.device_type = str(self.spec.get("device_type", "urn:schemas-upnp-org:device:Basic:1"))
        self.path = str(self.spec.get("location_path", "/description.xml"))
        port = int(self.spec.get("location_port", ctx.section("http").get("port", 80)))
        # a hostile persona may announce a LOCATION that is no usable URL (e.g. "http://[::1")
        self.location = ctx.render(str(self.spec.get("location", f"http://{ctx.host.ip}:{port}{self.path}")))
        self.xml_encoding = str(self.spec.get("xml_encoding", ""))   # hostile: a name no codec knows

    def targets(self, st: str) -> list[tuple[str, str]]:
        """(ST, USN) pairs answering search target ST."""
        root = ("upnp:rootdevice", f"{self.udn}::upnp:rootdevice")
        own = (self.udn, self.udn)
        typed = (self.device_type, f"{self.udn}::{self.device_type}")
        if st == "ssdp:all":
            return [root, own, typed]
        return [pair for pair in (root, own, typed) if pair[0] == st]

    def response(self, st: str, usn: str) -> bytes:
        """The unicast 200 OK for one search target."""
        server = self.ctx.render(str(self.spec.get("server", DEFAULT_SERVER)))
        lines = ["HTTP/1.1 200 OK", f"CACHE-CONTROL: max-age={int(self.spec.get('max_age', 1800))}",
                 f"DATE: {email.utils.formatdate(usegmt=True)}", "EXT:", f"LOCATION: {self.location}",
                 f"SERVER: {server}", f"ST: {st}", f"USN: {usn}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def description(self) -> bytes:
        """The UPnP device description XML (urn:schemas-upnp-org:device-1-0)."""
        fields = self.ctx.render_any(self.spec.get("device", {}))
        order = ["friendlyName", "manufacturer", "manufacturerURL", "modelDescription", "modelName",
                 "modelNumber", "modelURL", "serialNumber"]
        inner = "".join(f"<{k}>{escape(str(fields[k]))}</{k}>" for k in order if k in fields)
        presentation = fields.get("presentationURL", f"http://{self.ctx.host.ip}/")
        declared = f' encoding="{self.xml_encoding}"' if self.xml_encoding else ""
        return (f'<?xml version="1.0"{declared}?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">'
                "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
                f"<deviceType>{escape(self.device_type)}</deviceType>{inner}<UDN>{escape(self.udn)}</UDN>"
                f"<presentationURL>{escape(str(presentation))}</presentationURL>"
                "</device></root>\n").encode()

    async def mount(self, request: Request) -> Response | None:
        """Serve the description document on the HTTP server."""
        if request.path != self.path or request.method not in ("GET", "HEAD"):
            return None
        return Response(200, self.description(), [("Content-Type", 'text/xml; charset="utf-8"')])


class SsdpResponder(asyncio.DatagramProtocol):
    """Answers M-SEARCH after a random 0..MX second delay, unicast to the searcher."""

    def __init__(self, device: SsdpDevice) -> None:
        self.device = device
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, asyncio.TimerHandle] = {}
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        search = parse_msearch(data)
        if search is None:
            return
        loop = asyncio.get_running_loop()
        for st, usn in self.device.targets(search.st):
            self.count += 1
            delay = self.device.ctx.rng.uniform(0, max(search.mx, 0.1))
            self.pending[self.count] = loop.call_later(delay, self._deliver, self.device.response(st, usn),
                                                       addr, self.count)

    def _deliver(self, data: bytes, addr: tuple[str, int], key: int) -> None:
        self.pending.pop(key, None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def close(self) -> None:
        """Cancel pending answers and close the socket."""
        for handle in self.pending.values():
            handle.cancel()
        if self.transport is not None:
            self.transport.close()
