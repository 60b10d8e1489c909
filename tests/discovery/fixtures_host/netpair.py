"""A private pair of network namespaces joined by a veth link, for I/O tests (root only).

The scanner side is `a` (198.18.<n>.1), the target side is `b` (198.18.<n>.2 plus extra
addresses on request). Both namespaces and the link vanish in `close()`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from scanner.lab import netns

T = TypeVar("T")


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


def can_build() -> bool:
    """True when this process may create network namespaces (root with the `ip` tool)."""
    return os.geteuid() == 0 and subprocess.run(["ip", "-V"], capture_output=True).returncode == 0


class NetPair:
    """Two namespaces `camscan-p<tag>a` / `camscan-p<tag>b` with a veth link between them."""

    def __init__(self, tag: str, subnet: int, extra_b: Iterable[str] = (),
                 mac_b: str | None = None) -> None:
        self.a = f"camscan-p{tag}a"
        self.b = f"camscan-p{tag}b"
        self.ip_a = f"198.18.{subnet}.1"
        self.ip_b = f"198.18.{subnet}.2"
        self.if_a = f"cs{tag}a"[:15]
        self.if_b = f"cs{tag}b"[:15]
        self.extra_b = tuple(extra_b)
        self.mac_b = mac_b
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        try:
            _ip("netns", "add", self.a)
            _ip("netns", "add", self.b)
            _ip("link", "add", self.if_a, "netns", self.a, "type", "veth", "peer", "name", self.if_b,
                "netns", self.b)
            if mac_b:
                _ip("link", "set", "dev", self.if_b, "address", mac_b, ns=self.b)
            _ip("addr", "add", f"{self.ip_a}/24", "dev", self.if_a, ns=self.a)
            _ip("addr", "add", f"{self.ip_b}/24", "dev", self.if_b, ns=self.b)
            for extra in self.extra_b:
                _ip("addr", "add", f"{extra}/24", "dev", self.if_b, ns=self.b)
            for ns, ifname in ((self.a, self.if_a), (self.b, self.if_b)):
                _ip("link", "set", "lo", "up", ns=ns)
                _ip("link", "set", ifname, "up", ns=ns)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Delete both namespaces (the veth pair goes with them)."""
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def run_in_a(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run coroutine factory fn on a fresh event loop in a thread that lives in namespace a."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                with netns.entered(self.a):
                    box["r"] = asyncio.run(fn())  # type: ignore[arg-type]
            except BaseException as e:
                box["e"] = e

        t = threading.Thread(target=target)
        t.start()
        t.join(600)
        if t.is_alive():
            raise TimeoutError("namespace worker still running after 600 s")
        if "e" in box:
            raise box["e"]
        return box["r"]  # type: ignore[no-any-return]

    def listen_b(self, port: int, host: str | None = None, udp: bool = False) -> Any:
        """A bound (and, for TCP, listening) socket inside namespace b."""
        import socket
        s = netns.socket_in(self.b, socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host or self.ip_b, port))
        if not udp:
            s.listen(64)
        s.setblocking(False)
        return s

    def popen_b(self, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        """Start a program inside namespace b."""
        return subprocess.Popen(["ip", "netns", "exec", self.b, *args], **kw)


def make_ctx(targets: list[str], excludes: list[str] = (), **kw: Any) -> Any:  # type: ignore[assignment]
    """A ScanContext for tests: given scope, no rate limit, fresh stats."""
    from scanner.discovery.base import RateLimiter, ScanContext, ScanStats
    from scanner.scope import Scope
    return ScanContext(scope=Scope.build(targets, excludes), rate=RateLimiter(1_000_000), stats=ScanStats(), **kw)


async def collect(module: Any, ctx: Any) -> list[Any]:
    """All observations a module yields."""
    return [o async for o in module.run(ctx)]


def load_helper() -> Any:
    """This module (for test files, which load it by path so no conftest is needed)."""
    import sys
    return sys.modules[__name__]
