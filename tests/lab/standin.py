"""A stand-in for the lab's personas and services, to test the lab machinery (topology, daemon,
snmpd, mutate) on its own: every persona name of the profiles, one HTTP port per host that names the
host's persona and firmware, and snmpd on the personas that offer SNMP.

Used through $CAMSCAN_LAB_PERSONAS / $CAMSCAN_LAB_SERVICES = "tests.lab.standin".
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from scanner.lab import netns, profiles
from scanner.lab.model import LabHost, Persona

SNMP_PERSONAS = frozenset({"hikvision-nvr", "dahua-nvr", "axis-camera", "printer", "managed-switch",
                           "huawei-router"})


def load_personas() -> dict[str, Persona]:
    """One stand-in persona per name used by the profiles."""
    out: dict[str, Persona] = {}
    names = profiles.SURVEILLANCE_SMALL + profiles.IT_SMALL + profiles.HOSTILE
    for i, name in enumerate(names):
        it = name in profiles.IT_SMALL or name in profiles.HOSTILE
        services = ("http", "snmp") if name in SNMP_PERSONAS else ("http",)
        out[name] = Persona(name=name, vendor=None if it else name.split("-")[0],
                            brand=None if it else name.split("-")[0], model=f"M-{i}",
                            firmware=f"V1.{i}.0 build 200101", category="other" if it else "camera",
                            oui=f"02:CA:{i:02X}", services=services, hostile=name in profiles.HOSTILE)
    return out


@dataclass
class StandinServices:
    """The stand-in's sockets of one host."""

    server: asyncio.Server

    async def close(self) -> None:
        """Stop serving."""
        self.server.close()
        await self.server.wait_closed()


async def start_host(host: LabHost, hosts: Mapping[str, LabHost], seed: int) -> StandinServices:
    """Serve one line naming persona and firmware on TCP 80 inside the host's namespace."""
    sock = netns.socket_in(host.netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.ip, 80))
    sock.listen(16)
    sock.setblocking(False)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = f"{host.persona.name} {host.firmware} {','.join(host.channels)}\n".encode()
        writer.write(b"HTTP/1.0 200 OK\r\nServer: standin\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    return StandinServices(await asyncio.start_server(serve, sock=sock))


def snmpd_config(host: LabHost) -> str | None:
    """snmpd.conf naming the persona and firmware in sysDescr."""
    if "snmp" not in host.persona.services:
        return None
    return (f"rocommunity public\nsysDescr {host.persona.name} {host.firmware}\n"
            f"sysObjectID .1.3.6.1.4.1.99999.1\nsysName {host.hostname}\n")
