"""ARP sweep of the in-scope addresses on the scanner's own links (phase 1, needs raw sockets).

Protocol: ARP (RFC 826) over Ethernet: a broadcast who-has per address, is-at replies give the
MAC. Only addresses inside the subnet of a local interface can answer, so only those are asked.
Frames go out through a packet socket read and written by the event loop (shared/docs/protocols.md
section 9), each in a send slot of the scan's one probe budget (--rate); a send the kernel refuses for
lack of buffer (ENOBUFS, seen on big broadcast domains: scapy's own `srp` sender thread dies on it and
silently skips the rest) is retried after a pause. Each reply makes a live host at once.
A burst can still miss replies (secdev/scapy issue #4219), so silent addresses are asked once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import ipaddress
import queue
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from scanner.discovery.base import DecodeError, Module, RateLimiter, ScanContext
from scanner.models import Observation

ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ARP_IS_AT = 2
FIRST_PASS_TIMEOUT = 1.0     # seconds after the last request is sent
RETRY_TIMEOUT = 1.0
MAX_RETRY = 4096             # silent addresses asked again; past this a paced sweep is trusted as is
MAX_ADDRESSES_PER_LINK = 65536

ENOBUFS_PAUSE = 0.005        # seconds to wait before re-sending a frame the kernel had no room for
ENOBUFS_TRIES = 200
_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B
_SIOCGIFHWADDR = 0x8927


@dataclass(frozen=True, slots=True)
class ArpReply:
    """One ARP is-at: the sender's IPv4 address and MAC (lower-case, colon-separated)."""

    ip: str
    mac: str


def format_mac(raw: bytes) -> str:
    """Six bytes -> 'aa:bb:cc:dd:ee:ff'."""
    return ":".join(f"{b:02x}" for b in raw)


def build_probe(src_mac: bytes, src_ip: str, target_ip: str) -> bytes:
    """A broadcast ARP who-has for target_ip from (src_mac, src_ip), padded to the Ethernet minimum."""
    frame = (b"\xff" * 6 + src_mac + struct.pack("!H", ETH_P_ARP)
             + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src_mac + socket.inet_aton(src_ip)
             + b"\x00" * 6 + socket.inet_aton(target_ip))
    return frame + b"\x00" * (60 - len(frame))


def is_reply(frame: bytes) -> bool:
    """Cheap pre-check: an untagged or VLAN-tagged ARP frame whose op is 'reply' (others are ignored)."""
    off = 16 if frame[12:14] == b"\x81\x00" else 12
    return (len(frame) >= off + 30 and frame[off:off + 2] == b"\x08\x06"
            and frame[off + 8:off + 10] == b"\x00\x02")


def parse_reply(frame: bytes) -> ArpReply:
    """Decode an Ethernet frame carrying an ARP is-at; raises DecodeError only."""
    if len(frame) < 14:
        raise DecodeError("frame shorter than an Ethernet header")
    off = 12
    (etype,) = struct.unpack_from("!H", frame, off)
    if etype == ETH_P_8021Q:
        off += 4
        if len(frame) < off + 2:
            raise DecodeError("truncated VLAN tag")
        (etype,) = struct.unpack_from("!H", frame, off)
    off += 2
    if etype != ETH_P_ARP:
        raise DecodeError(f"not ARP (ethertype 0x{etype:04x})")
    if len(frame) < off + 28:
        raise DecodeError("truncated ARP packet")
    htype, ptype, hlen, plen, oper = struct.unpack_from("!HHBBH", frame, off)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        raise DecodeError("ARP for something other than Ethernet/IPv4")
    if oper != ARP_IS_AT:
        raise DecodeError(f"ARP op {oper} is not a reply")
    sha = frame[off + 8:off + 14]
    spa = frame[off + 14:off + 18]
    if sha == b"\x00" * 6 or sha[0] & 1:
        raise DecodeError("reply carries a null or multicast MAC")
    return ArpReply(socket.inet_ntoa(spa), format_mac(sha))


def to_observations(reply: ArpReply) -> list[Observation]:
    """The `mac` observation of one reply."""
    return [Observation("mac", reply.mac, ip=reply.ip, mac=reply.mac, source="arp", at=time.time())]


def link_targets(addresses: Iterable[str], network: ipaddress.IPv4Network, own_ip: str) -> list[str]:
    """The addresses that can answer ARP on a link: inside its subnet, not our own, capped."""
    out = [a for a in addresses if a != own_ip and ipaddress.IPv4Address(a) in network]
    return out[:MAX_ADDRESSES_PER_LINK]


def _ioctl_addr(sock: socket.socket, name: str, req: int) -> str:
    packed = struct.pack("256s", name.encode()[:15])
    return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), req, packed)[20:24])


def _hwaddr(name: str) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return fcntl.ioctl(s.fileno(), _SIOCGIFHWADDR, struct.pack("256s", name.encode()[:15]))[18:24]


def local_links() -> list[tuple[str, str, ipaddress.IPv4Network]]:
    """(interface, IPv4 address, subnet) of each up interface with an address, in this netns; lo excluded."""
    out: list[tuple[str, str, ipaddress.IPv4Network]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            if name == "lo":
                continue
            try:
                ip = _ioctl_addr(s, name, _SIOCGIFADDR)
                mask = _ioctl_addr(s, name, _SIOCGIFNETMASK)
            except OSError:
                continue
            out.append((name, ip, ipaddress.IPv4Network(f"{ip}/{mask}", strict=False)))
    return out


RECV_BUFFER = 4 * 1024 * 1024   # bytes of replies the kernel may hold while the loop is busy elsewhere
YIELD_EVERY = 64                # frames handed on back to back (catching up with the rate) before other work runs
MAX_QUEUED = 256                # frames granted but not yet sent before the sweep waits for the sender thread


class _Sender:
    """Sends queued frames from a thread of its own: on a big broadcast domain each send() costs the kernel
    hundreds of microseconds (a software bridge copies the frame to every port in the sender's syscall), time
    the event loop then spends on the other modules' probes. Frames are queued only in granted send slots."""

    def __init__(self, iface: str, rate: RateLimiter) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)   # protocol 0: sends, receives nothing
        self.rate = rate
        self.frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.unsent = 0
        self.error: OSError | None = None
        try:
            self.sock.bind((iface, 0))
        except OSError:
            self.sock.close()
            raise

    def run(self) -> None:
        """Send until the None sentinel (after a halt or an error, drain without sending)."""
        while (frame := self.frames.get()) is not None:
            if self.rate.halted or self.error is not None:
                continue
            for _ in range(ENOBUFS_TRIES):
                try:
                    self.sock.send(frame)
                    break
                except OSError as e:
                    if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                        self.error = e
                        break
                    time.sleep(ENOBUFS_PAUSE)
            else:
                self.unsent += 1

    def close(self) -> None:
        """Close the socket (after run has returned)."""
        self.sock.close()


async def _sweep(iface: str, own_ip: str, targets: list[str], timeout: float, rate: RateLimiter,
                 on_reply: Callable[[bytes], None]) -> tuple[list[str], int]:
    """Send a who-has per target, each in a send slot of the scan's rate (sent by a _Sender thread); hand every
    is-at frame to on_reply as it arrives (so other modules can start on the host at once); (silent targets,
    unsent).

    Once the rate is halted (the scan is stopping) nothing more is sent and it returns at once.
    """
    src = _hwaddr(iface)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    loop = asyncio.get_running_loop()
    answered: set[str] = set()
    sender: _Sender | None = None
    done: asyncio.Future[None] | None = None
    # the frame is the same but for the target address (its last four bytes before the padding)
    template = bytearray(build_probe(src, own_ip, "0.0.0.0"))

    def readable() -> None:
        for _ in range(4096):
            try:
                data = sock.recv(2048)
            except OSError:   # nothing more to read (EAGAIN) or the link went away
                return
            if is_reply(data):
                answered.add(_sender_ip(data))
                on_reply(data)

    try:
        sock.bind((iface, ETH_P_ARP))
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        loop.add_reader(sock.fileno(), readable)
        sender = _Sender(iface, rate)
        done = loop.run_in_executor(None, sender.run)
        for n, ip in enumerate(targets):
            if not await rate.slot(priority=0):   # host discovery goes before the per-host probes
                break
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            while sender.frames.qsize() >= MAX_QUEUED and not done.done():
                await asyncio.sleep(0.001)    # the kernel is slower than the rate: slots follow what it sends
            template[38:42] = socket.inet_aton(ip)
            sender.frames.put(bytes(template))
        sender.frames.put(None)
        await done
        if sender.error is not None:
            raise sender.error
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and not rate.halted:
            await asyncio.sleep(min(left, 0.05))
    finally:
        if sender is not None:
            sender.frames.put(None)
            if done is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(done)
            sender.close()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(sock.fileno())
        sock.close()
    return [ip for ip in targets if ip not in answered], sender.unsent if sender is not None else 0


def _sender_ip(frame: bytes) -> str:
    off = 16 if frame[12:14] == b"\x81\x00" else 12
    return socket.inet_ntoa(frame[off + 16:off + 20])


class ArpSweep(Module):
    """Ask every in-scope on-link address for its MAC; fills ctx.hosts and emits `mac`."""

    name: ClassVar[str] = "arp"
    signals: ClassVar[frozenset[str]] = frozenset({"mac"})
    per_link: ClassVar[bool] = True
    needs_raw: ClassVar[bool] = True
    phase: ClassVar[int] = 1
    without_raw: ClassVar[str] = (
        "ARP needs CAP_NET_RAW (root with its capabilities, or `setcap cap_net_raw+ep` on the interpreter): "
        "without it there is no ARP sweep, so hosts that answer none of the probed TCP ports are missed and "
        "MAC addresses (maker OUIs) come only from replies that carry one; the rest of the scan still runs")

    def _links(self, ctx: ScanContext) -> list[tuple[str, str, ipaddress.IPv4Network]]:
        links = local_links()
        if ctx.interface:
            return [lk for lk in links if lk[0] == ctx.interface]
        return [lk for lk in links if any(lk[2].overlaps(t) for t in ctx.scope.targets)]

    def _accept(self, ctx: ScanContext, frame: bytes, seen: dict[str, str]) -> str | None:
        """Record one is-at in seen; its address when it is in scope."""
        try:
            reply = parse_reply(frame)
        except DecodeError as e:
            ctx.stats.count("arp.undecodable")
            ctx.stats.error(self.name, None, f"undecodable reply: {e}")
            return None
        if not ctx.scope.allows(reply.ip):
            ctx.stats.out_of_scope(self.name, reply.ip,
                                   f"ARP reply from {reply.ip} ({reply.mac}) outside the scope; ignored")
            return None
        seen.setdefault(reply.ip, reply.mac)
        return reply.ip

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Sweep each matching link; yield one `mac` observation per answering address.

        Each answering address becomes a live host (with its MAC) the moment its reply arrives, so per-host
        probing of it starts while the sweep goes on.
        """
        addresses = [a for a in ctx.scope.hosts() if ctx.scope.allows(a)]
        seen: dict[str, str] = {}

        for iface, own_ip, net in self._links(ctx):
            targets = link_targets(addresses, net, own_ip)
            if not targets:
                continue
            multicast_link = own_ip == ctx.interface_ip

            def on_reply(frame: bytes, multicast_link: bool = multicast_link) -> None:
                ip = self._accept(ctx, frame, seen)
                if ip is None:
                    return
                if multicast_link:
                    ctx.link_hosts.add(ip)
                if ip not in ctx.hosts:
                    ctx.host(ip).mac = seen[ip]

            ctx.stats.count("arp.requests", len(targets))
            try:
                silent, unsent = await _sweep(iface, own_ip, targets, FIRST_PASS_TIMEOUT, ctx.rate, on_reply)
            except PermissionError:
                # the capability check said yes but the kernel said no (a namespace or LSM rule): say it once
                ctx.privileged = False
                ctx.stats.error(self.name, None, self.without_raw)
                return
            if silent and len(silent) <= MAX_RETRY and not ctx.rate.halted:
                ctx.stats.count("arp.retries", len(silent))
                _, more = await _sweep(iface, own_ip, silent, RETRY_TIMEOUT, ctx.rate, on_reply)
                unsent += more
            if unsent:
                ctx.stats.error(self.name, None, f"{iface}: {unsent} ARP requests could not be sent "
                                "(kernel out of buffers); those addresses may be missing")
            ctx.arp_swept.update(targets)
        for ip, mac in sorted(seen.items(), key=lambda kv: ipaddress.IPv4Address(kv[0])):
            ctx.host(ip).mac = mac
            ctx.stats.count("arp.answered")
            for o in to_observations(ArpReply(ip, mac)):
                yield o


MODULE = ArpSweep
