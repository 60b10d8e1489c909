"""RTSP/1.0 server stub: OPTIONS and DESCRIBE with the maker's Server header and digest realm.

Facts: protocols.md section 7 (recog rtsp_servers.xml, Hikvision RTSP captures).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import socket
from typing import Final

from scanner.lab.services.auth import DigestChecker
from scanner.lab.services.context import MAX_REQUEST_BYTES, READ_TIMEOUT_S, HostContext
from scanner.lab.services.http import drip, reset
from scanner.lab.services.sockets import StreamService

PORT: Final = 554
MAX_REQUESTS: Final = 50
DEFAULT_CHALLENGE: Final = 'Digest realm="${realm}", nonce="${nonce}", stale="FALSE"'


def parse_request(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, URL and headers (lower-case names) of an RTSP request; ValueError otherwise."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "RTSP/1.0":
        raise ValueError("not an RTSP/1.0 request line")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


class RtspServer(StreamService):
    """Answers OPTIONS, DESCRIBE (401 unless the operator's credentials are given) and refuses the rest."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.spec = ctx.section("rtsp")
        user, password = ctx.host.credentials
        self.realm = ctx.render(str(self.spec.get("realm", "")))
        super().__init__()
        self.digest = DigestChecker(self.realm, user, password, basic=self.spec.get("auth") == "basic")

    async def start(self, sock: socket.socket) -> None:
        """Serve SOCK (listening, in the host's namespace)."""
        self.server = await asyncio.start_server(self._connection, sock=sock, limit=MAX_REQUEST_BYTES)

    def _date(self) -> str:
        if self.spec.get("date_style") == "hikvision":
            # Hikvision capture: "Date:  Thu, May 14 2020 16:45:35 GMT" (two spaces, day before year)
            return " " + dt.datetime.now(dt.UTC).strftime("%a, %b %d %Y %H:%M:%S GMT")
        return email.utils.formatdate(usegmt=True)

    def answer(self, method: str, url: str, headers: dict[str, str]) -> bytes:
        """The full response to one request (latin-1 so banners may hold raw bytes)."""
        cseq = headers.get("cseq", "0")
        out: list[tuple[str, str]] = [("CSeq", cseq)]
        server = self.spec.get("server")
        if server is not None:
            out.append(("Server", self.ctx.render(str(server))))
        if self.spec.get("date", True):
            out.append(("Date", self._date()))
        body = b""
        if method == "OPTIONS":
            status = "200 OK"
            out.append(("Public", str(self.spec.get(
                "public", "OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, TEARDOWN, SET_PARAMETER, GET_PARAMETER"))))
        elif method == "DESCRIBE":
            if self.digest.check(method, headers.get("authorization")):
                status = "200 OK"
                body = (f"v=0\r\no=- 0 0 IN IP4 {self.ctx.host.ip}\r\n"
                        f"s={self.ctx.render(str(self.spec.get('session_name', 'Media Presentation')))}\r\n"
                        "t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                        "a=control:trackID=1\r\n").encode()
                out += [("Content-Type", "application/sdp"), ("Content-Base", url + "/")]
            else:
                status = "401 Unauthorized"
                nonce = self.ctx.token(16)
                self.digest.remember_nonce(nonce)
                template = str(self.spec.get("challenge", DEFAULT_CHALLENGE))
                out.append(("WWW-Authenticate", self.ctx.render(template, realm=self.realm, nonce=nonce)))
        elif method in ("SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER"):
            status = "454 Session Not Found"
        else:
            status = "405 Method Not Allowed"
        out.append(("Content-Length", str(len(body))))
        head = f"RTSP/1.0 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out) + "\r\n"
        return head.encode("latin-1", "replace") + body

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            if self.spec.get("behaviour") == "reset":
                await reset(reader, writer)
                return
            for _ in range(MAX_REQUESTS):
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
                try:
                    method, url, headers = parse_request(head[:-4])
                except ValueError:
                    writer.write(b"RTSP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    return
                length = int(headers.get("content-length", "0") or "0")
                if 0 < length <= MAX_REQUEST_BYTES:
                    await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)
                reply = self.answer(method, url, headers)
                if self.spec.get("behaviour") == "drip":
                    await drip(writer, reply)
                    return
                await asyncio.sleep(float(self.spec.get("delay_s", 0)))   # hostile "slow" personas
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, ValueError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self.tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
