"""Protocol responders of the lab's simulated hosts: start_host() serves every service of one persona.

One process serves every host: each socket is created inside its host's network namespace and
served on the running asyncio loop, so a few hundred hosts cost one Python process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from scanner.lab.model import LabHost
from scanner.lab.services import dhip, sadp, ssdp, wsd
from scanner.lab.services.context import READ_TIMEOUT_S, HostContext
from scanner.lab.services.http import HttpApp, HttpServer, Mount
from scanner.lab.services.mdns import MdnsAdvertiser
from scanner.lab.services.onvif import OnvifService, device_information, device_scopes
from scanner.lab.services.rtsp import RtspServer
from scanner.lab.services.snmp import snmpd_config
from scanner.lab.services.sockets import tcp_listener, udp_socket
from scanner.lab.services.tls import server_context

__all__ = ["HostServices", "expected_answers", "snmpd_config", "start_host"]

BANNER_WAIT_S: Final = READ_TIMEOUT_S
MAX_BARE_READ: Final = 4096


class HostServices:
    """Everything one host serves; close() stops it all (idempotent)."""

    def __init__(self, host: LabHost) -> None:
        self.host = host
        self.ports: list[tuple[str, int]] = []     # ("tcp"|"udp", port) actually served
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Register a coroutine function to run at close (run in reverse order)."""
        self._closers.append(closer)

    async def close(self) -> None:
        """Stop every server and close every socket of the host."""
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                await closer()


async def _bare_tcp(sock: socket.socket, banner: bytes) -> Callable[[], Awaitable[None]]:
    """A port that accepts, optionally sends a banner, reads a little and hangs up; returns its closer."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        try:
            if banner:
                writer.write(banner)
                await writer.drain()
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.read(MAX_BARE_READ), BANNER_WAIT_S)
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(handle, sock=sock)

    async def close() -> None:
        server.close()
        for task in list(tasks):
            task.cancel()
    return close


def _udp_closer(protocol: Any) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        protocol.close()
    return close


async def start_host(host: LabHost, hosts: Mapping[str, LabHost], seed: int) -> HostServices:
    """Serve every service of HOST's persona from sockets inside host.netns; returns the handle to close."""
    ctx = HostContext(host, hosts, seed)
    persona = host.persona
    out = HostServices(host)
    loop = asyncio.get_running_loop()
    try:
        if "http" in persona.services:
            mounts: list[Mount] = []
            app = HttpApp(ctx, mounts)
            if "onvif" in persona.services:
                mounts.append(OnvifService(ctx, app))
            if "ssdp" in persona.services:
                mounts.append(ssdp.SsdpDevice(ctx).mount)
            http_spec = ctx.section("http")
            for port in [int(http_spec.get("port", 80)), *map(int, http_spec.get("extra_ports", []))]:
                server = HttpServer(app, None)
                await server.start(tcp_listener(host.netns, host.ip, port))
                out.on_close(server.close)
                out.ports.append(("tcp", port))
            if "https" in persona.services:
                tls_spec = ctx.section("https")
                subject = ctx.render(str(tls_spec.get("subject", "CN=${ip}")))
                not_before = dt.datetime.fromisoformat(
                    str(tls_spec.get("not_before", "2020-01-01T00:00:00+00:00")))
                tls = await asyncio.to_thread(server_context, persona.name, subject, not_before,
                                              int(tls_spec.get("days", 3650)))
                port = int(tls_spec.get("port", 443))
                server = HttpServer(app, tls)
                await server.start(tcp_listener(host.netns, host.ip, port))
                out.on_close(server.close)
                out.ports.append(("tcp", port))
        if "rtsp" in persona.services:
            rtsp = RtspServer(ctx)
            port = int(ctx.section("rtsp").get("port", 554))
            await rtsp.start(tcp_listener(host.netns, host.ip, port))
            out.on_close(rtsp.close)
            out.ports.append(("tcp", port))
        if "tcp" in persona.services:
            for entry in ctx.section("tcp").get("ports", []):
                port = int(entry["port"]) if isinstance(entry, dict) else int(entry)
                banner = ctx.render(str(entry.get("banner", ""))) if isinstance(entry, dict) else ""
                out.on_close(await _bare_tcp(tcp_listener(host.netns, host.ip, port),
                                             banner.encode("latin-1", "replace")))
                out.ports.append(("tcp", port))
        udp: list[tuple[str, int, str, Callable[[], asyncio.DatagramProtocol]]] = []
        if "wsd" in persona.services:
            udp.append(("wsd", wsd.PORT, wsd.GROUP, lambda: wsd.WsdResponder(ctx)))
        if "sadp" in persona.services:
            udp.append(("sadp", sadp.PORT, sadp.GROUP, lambda: sadp.SadpResponder(ctx)))
        if "dhip" in persona.services:
            udp.append(("dhip", dhip.PORT, dhip.GROUP, lambda: dhip.DhipResponder(ctx)))
        if "ssdp" in persona.services:
            device = ssdp.SsdpDevice(ctx)
            udp.append(("ssdp", ssdp.PORT, ssdp.GROUP, lambda: ssdp.SsdpResponder(device)))
        for _name, port, group, factory in udp:
            sock = udp_socket(host.netns, host.ip, port, (group,))
            _transport, protocol = await loop.create_datagram_endpoint(factory, sock=sock)
            out.on_close(_udp_closer(protocol))
            out.ports.append(("udp", port))
        if "mdns" in persona.services:
            advertiser = MdnsAdvertiser(ctx)
            await advertiser.start()
            out.on_close(advertiser.close)
            out.ports.append(("udp", 5353))
    except BaseException:
        await out.close()
        raise
    return out


def expected_answers(host: LabHost, seed: int) -> dict[str, Any]:
    """What HOST should say on each service (the persona's facts rendered for it), for truth checks."""
    ctx = HostContext(host, {}, seed)
    persona = host.persona
    answers: dict[str, Any] = {}
    http = ctx.section("http")
    if "http" in persona.services and http.get("behaviour", "normal") == "normal":
        if http.get("server") is not None:
            answers["http.server"] = ctx.render(str(http["server"]))
        if http.get("realm"):
            answers["http.realm"] = ctx.render(str(http["realm"]))
    if "https" in persona.services:
        answers["tls.subject"] = ctx.render(str(ctx.section("https").get("subject", "CN=${ip}")))
    rtsp = ctx.section("rtsp")
    if "rtsp" in persona.services and rtsp.get("behaviour", "normal") == "normal":
        if rtsp.get("server") is not None:
            answers["rtsp.server"] = ctx.render(str(rtsp["server"]))
        if rtsp.get("realm"):
            answers["rtsp.realm"] = ctx.render(str(rtsp["realm"]))
    if "onvif" in persona.services:
        answers["onvif.device_information"] = device_information(ctx)
    if "wsd" in persona.services and ctx.section("wsd").get("behaviour", "normal") == "normal":
        target = wsd.target_for(ctx)
        answers["wsd.epr"] = target.epr
        answers["wsd.scopes"] = device_scopes(ctx)
        answers["wsd.xaddrs"] = list(target.xaddrs)
    if "sadp" in persona.services and ctx.section("sadp").get("behaviour", "normal") == "normal":
        answers["sadp.fields"] = sadp.reply_fields(ctx)
    if "dhip" in persona.services and ctx.section("dhip").get("behaviour", "normal") == "normal":
        answers["dhip.device_info"] = ctx.render_any(ctx.section("dhip").get("device_info", {}))
    if "snmp" in persona.services:
        snmp = ctx.section("snmp")
        answers["snmp.sysdescr"] = ctx.render(str(snmp.get("sysdescr", persona.model)))
        answers["snmp.sysobjectid"] = ctx.render(str(snmp.get("sysobjectid", "1.3.6.1.4.1.8072.3.2.10")))
    if "mdns" in persona.services:
        answers["mdns.services"] = [f"{ctx.render(str(s['name']))}.{s['type']}"
                                    for s in ctx.section("mdns").get("services", [])]
    if "ssdp" in persona.services:
        answers["ssdp.server"] = ctx.render(str(ctx.section("ssdp").get(
            "server", "Linux/3.10 UPnP/1.0 Portable SDK for UPnP devices/1.6.18")))
    for key, value in ctx.section("expected").items():
        answers[str(key)] = ctx.render_any(value)
    return answers
