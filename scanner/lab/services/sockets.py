"""Sockets made inside a host's network namespace: TCP listeners and multicast-joined UDP sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from scanner.lab.netns import socket_in


def tcp_listener(netns: str, ip: str, port: int, backlog: int = 64) -> socket.socket:
    """A non-blocking TCP socket listening on IP:PORT inside NETNS."""
    sock = socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def udp_socket(netns: str, ip: str, port: int, groups: tuple[str, ...] = ()) -> socket.socket:
    """A non-blocking UDP socket on PORT inside NETNS, joined to GROUPS on the interface holding IP.

    Bound to the wildcard address so it receives both unicast to IP and the groups' multicast;
    multicast it sends leaves through IP's interface with TTL 1.
    """
    sock = socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        iface = socket.inet_aton(ip)
        for group in groups:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + iface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, iface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class StreamService:
    """A TCP service on the running loop: its asyncio server and the connection tasks close() cancels."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Stop listening and drop open connections."""
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
