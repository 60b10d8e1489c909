"""ARP sweep of the in-scope addresses on the scanner's own links (phase 1, needs raw sockets).

Protocol: ARP (RFC 826) over Ethernet: a broadcast who-has per address, is-at replies give the
MAC. Only addresses inside the subnet of a local interface can answer, so only those are asked, each
checked against the scope as an integer (a /16 is 65,534 of them). Replies are read by the event loop from
a packet socket (shared/docs/protocols.md section 9); each request takes a send slot of the scan's one
probe budget (--rate), granted in batches of those already due, and a sender thread sends them paced one
rate interval apart; a send the kernel refuses for lack of buffer (ENOBUFS, seen on big broadcast
domains: scapy's own `srp` sender thread dies on it and silently skips the rest) is retried after a
pause. Each reply makes a live host at once.
A burst can still miss replies (secdev/scapy issue #4219), so silent addresses are asked once more (up to
MAX_RETRY of them); a first pass followed by that second one listens after its last request only 4 times the
slowest request-to-reply time it measured (0.25-1 s), every other pass the whole 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import ipaddress
import itertools
import queue
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from scanner.discovery.base import DecodeError, Module, RateLimiter, ScanContext
from scanner.models import Observation
from scanner.scope import Scope

ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ARP_IS_AT = 2
FIRST_PASS_TIMEOUT = 1.0     # seconds after the last request is sent, at most (see listen_after)
RETRY_TIMEOUT = 1.0
LISTEN_MIN = 0.25            # seconds of listening after the last request, at least, once replies were timed
LISTEN_K = 4                 # listen this many times the slowest reply measured (as RFC 6298's K)
SENT_MEMORY = 4096           # send times kept for the most recent requests (older replies are not timed)
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


def link_targets(scope: Scope, network: ipaddress.IPv4Network, own_ip: str) -> Iterator[int]:
    """The addresses that can answer ARP on a link, as integers, lazily: in scope (each checked on its own), inside
    the link's subnet, not our own; at most MAX_ADDRESSES_PER_LINK."""
    own = int(ipaddress.IPv4Address(own_ip))
    return itertools.islice((a for a in scope.host_ints(network) if a != own and scope.allows_int(a)),
                            MAX_ADDRESSES_PER_LINK)


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
SEND_BATCH = 64                 # send slots asked for at once (only those already due are granted together)
MAX_QUEUED = 256                # frames granted but not yet sent before the sweep waits for the sender thread
PACE_CATCH_UP = 0.005           # seconds of lateness (a descheduled thread) the sender may make up back to back
_ADDR = struct.Struct("!I")


class _Sender:
    """Sends the frames of granted send slots from a thread of its own, one rate interval apart (sub-millisecond
    sleeps), building each from the template. On a big broadcast domain each send() can cost the kernel hundreds
    of microseconds (a software bridge copies the frame to every port in the sender's syscall), time the event
    loop then spends on the other modules' probes. Batches are packed 4-byte target addresses."""

    def __init__(self, sock: socket.socket, template: bytes, rate: RateLimiter) -> None:
        self.sock = sock
        self.template = template
        self.rate = rate
        self.batches: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.queued = 0      # frames handed over (written by the event loop only)
        self.finished = 0    # frames sent, given up or skipped (written by the sender thread only)
        self.unsent = 0
        self.error: OSError | None = None
        #: packed target address -> time.monotonic() it was asked, for the SENT_MEMORY most recent requests
        self.sent_at: dict[bytes, float] = {}

    def backlog(self) -> int:
        """Frames handed over and not yet sent."""
        return self.queued - self.finished

    def put(self, addrs: bytes) -> None:
        """Queue one frame per packed address (call only with granted send slots)."""
        self.queued += len(addrs) // 4
        self.batches.put(addrs)

    def _send(self, frame: bytearray) -> None:
        for _ in range(ENOBUFS_TRIES):
            try:
                self.sock.send(frame)
                return
            except OSError as e:
                if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                    self.error = e
                    return
                time.sleep(ENOBUFS_PAUSE)
        self.unsent += 1

    def run(self) -> None:
        """Send until the None sentinel, at most one frame per rate interval (after a halt or an error, drain
        without sending)."""
        frame = bytearray(self.template)
        due = time.monotonic()
        while (batch := self.batches.get()) is not None:
            for i in range(0, len(batch), 4):
                if self.rate.halted or self.error is not None:
                    self.finished += (len(batch) - i) // 4
                    break
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                due = max(due, now - PACE_CATCH_UP) + self.rate.interval
                frame[38:42] = batch[i:i + 4]
                self._send(frame)
                self.sent_at[batch[i:i + 4]] = time.monotonic()
                if len(self.sent_at) > SENT_MEMORY:
                    del self.sent_at[next(iter(self.sent_at))]
                self.finished += 1


async def _sweep(iface: str, own_ip: str, targets: Iterable[int], timeout: float, rate: RateLimiter,
                 on_reply: Callable[[bytes], None], asked: list[int], retried: bool = False) -> tuple[list[int], int]:
    """Send a who-has per target (integer addresses), in send slots of the scan's rate taken in batches and
    paced by a _Sender thread; hand every is-at frame to on_reply as it arrives (so other modules can start on
    the host at once); append each address asked to ASKED; (silent addresses asked, unsent). Then listen up to
    timeout; retried (the silent addresses will be asked again, if at most MAX_RETRY): only as long as the
    replies timed say (listen_after), since a reply later than that is caught by the second pass.

    Once the rate is halted (the scan is stopping) nothing more is sent and it returns at once.
    """
    src = _hwaddr(iface)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    loop = asyncio.get_running_loop()
    answered: set[int] = set()
    sender: _Sender | None = None
    done: asyncio.Future[None] | None = None
    slowest: float | None = None   # the longest request-to-reply time measured

    def readable() -> None:
        nonlocal slowest
        for _ in range(4096):
            try:
                data = sock.recv(2048)
            except OSError:   # nothing more to read (EAGAIN) or the link went away
                return
            if is_reply(data):
                arp_at = 18 if data[12:14] == b"\x81\x00" else 14   # the ARP packet, after a VLAN tag if any
                who = data[arp_at + 14:arp_at + 18]                    # its sender IP address: the one asked
                answered.add(int.from_bytes(who, "big"))
                asked_at = sender.sent_at.get(who) if sender is not None else None
                if asked_at is not None:
                    slowest = max(slowest or 0.0, time.monotonic() - asked_at)
                on_reply(data)

    try:
        sock.bind((iface, ETH_P_ARP))
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        loop.add_reader(sock.fileno(), readable)
        out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)   # protocol 0: sends, receives nothing
        try:
            out.bind((iface, 0))
        except OSError:
            out.close()
            raise
        # the frame is the same but for the target address (its last four bytes before the padding)
        sender = _Sender(out, build_probe(src, own_ip, "0.0.0.0"), rate)
        done = loop.run_in_executor(None, sender.run)
        it = iter(targets)
        pending: list[int] = []
        rounds = 0
        while True:
            pending += itertools.islice(it, SEND_BATCH - len(pending))
            if not pending:
                break
            if done.done():
                break   # the sender stopped (its error is raised below): no more slots for frames never sent
            while sender.backlog() >= MAX_QUEUED and not done.done():
                await asyncio.sleep(0.001)    # the kernel is slower than the rate: slots follow what it sends
            k = await rate.slots(len(pending), priority=0)   # host discovery goes before the per-host probes
            if k == 0:
                break
            sender.put(struct.pack(f"!{k}I", *pending[:k]))
            asked += pending[:k]
            del pending[:k]
            rounds += 1
            if rounds % 16 == 0:
                await asyncio.sleep(0)   # slots granted without waiting: let the other modules run too
        sender.batches.put(None)
        await done
        if sender.error is not None:
            raise sender.error
        ended = time.monotonic()

        def listening() -> float:
            if retried and len(asked) - len(answered) <= MAX_RETRY:
                return listen_after(slowest, timeout)
            return timeout   # nothing asks again: a slow reply (a sleeping Wi-Fi client) is waited for in full

        while (left := ended + listening() - time.monotonic()) > 0 and not rate.halted:
            await asyncio.sleep(min(left, 0.05))   # a reply timed meanwhile may lengthen (or shorten) the wait
    finally:
        if sender is not None:
            sender.batches.put(None)
            if done is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(done)
            sender.sock.close()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(sock.fileno())
        sock.close()
    return [a for a in asked if a not in answered], sender.unsent if sender is not None else 0


def listen_after(slowest: float | None, timeout: float) -> float:
    """Seconds to go on listening after the last request: LISTEN_K times the slowest reply timed on this sweep,
    within LISTEN_MIN..timeout; the whole timeout when no reply was timed (nothing measured yet)."""
    if slowest is None:
        return timeout
    return min(timeout, max(LISTEN_MIN, LISTEN_K * slowest))


def _dotted(a: int) -> str:
    return socket.inet_ntoa(_ADDR.pack(a))


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
        seen: dict[str, str] = {}

        for iface, own_ip, net in self._links(ctx):
            candidates = link_targets(ctx.scope, net, own_ip)
            first = next(candidates, None)
            if first is None:
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

            asked: list[int] = []
            try:
                silent, unsent = await _sweep(iface, own_ip, itertools.chain([first], candidates),
                                              FIRST_PASS_TIMEOUT, ctx.rate, on_reply, asked, retried=True)
            except PermissionError:
                # the capability check said yes but the kernel said no (a namespace or LSM rule): say it once
                ctx.privileged = False
                ctx.stats.error(self.name, None, self.without_raw)
                return
            finally:
                ctx.stats.count("arp.requests", len(asked))
            if silent and len(silent) <= MAX_RETRY and not ctx.rate.halted:
                ctx.stats.count("arp.retries", len(silent))
                _, more = await _sweep(iface, own_ip, silent, RETRY_TIMEOUT, ctx.rate, on_reply, [])
                unsent += more
            if unsent:
                ctx.stats.error(self.name, None, f"{iface}: {unsent} ARP requests could not be sent "
                                "(kernel out of buffers); those addresses may be missing")
            ctx.arp_swept.update(map(_dotted, asked))
        for ip, mac in sorted(seen.items(), key=lambda kv: ipaddress.IPv4Address(kv[0])):
            ctx.host(ip).mac = mac
            ctx.stats.count("arp.answered")
            for o in to_observations(ArpReply(ip, mac)):
                yield o


MODULE = ArpSweep
