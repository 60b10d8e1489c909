"""Enter a named network namespace (/run/netns/NAME) from the calling thread, and make sockets there."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import socket
from collections.abc import Iterator

from scanner.errors import PrivilegeError

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise PrivilegeError(f"setns failed: {os.strerror(err)} (needs root or CAP_SYS_ADMIN)")


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the body with this thread inside netns NAME; always returns to the original namespace."""
    with open("/proc/thread-self/ns/net", "rb") as home:
        target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home.fileno())


def socket_in(name: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM,
              proto: int = 0) -> socket.socket:
    """A new socket that lives in netns NAME (a socket stays in the namespace it was created in)."""
    with entered(name):
        return socket.socket(family, type, proto)
