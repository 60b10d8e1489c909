"""TCP connect probes of the ports cameras and recorders listen on (phase 1, per host).

Protocol: a plain TCP three-way handshake (RFC 9293), closed at once and nothing sent on it, except
on ports 22 and 23, whose servers speak first: their connection stays open (up to 1 s) to read the
SSH identification string (RFC 4253 s4.2) or the telnet greeting (option offers refused per RFC 855),
while the host's other ports are probed (no second connection). An accepted connection marks the port
open; a refusal (RST) still proves the address is live. Results go into ctx.hosts (open_ports); the
only observations are the open ports and those greetings. No reverse DNS: it would send packets
outside the scope.

Speed: addresses not yet known to be live get a short first pass on a few common ports; only
addresses that answer it (open or refused) get the full list, so silent addresses cost one
short timeout round instead of one per port.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import resource
import socket
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import ClassVar

from scanner.discovery import probes
from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.discovery.rtt import CONNECT_MAX
from scanner.models import Observation

#: Ports probed by default, likeliest first, each with why and its source: fingerprints/probes.yaml (tcp_ports).
DEFAULT_PORTS: tuple[int, ...] = probes.load().tcp_ports

#: First-pass ports for addresses not yet known to be live (cheap, widely answered).
LIVENESS_PORTS: tuple[int, ...] = (80, 443, 554, 8000, 22)

DEFAULT_TIMEOUT = 0.75        # seconds per connect before the host's round trip is measured (then rtt.py)
GLOBAL_CONCURRENCY = 512      # connects in flight at once across the whole sweep

#: Ports whose server speaks first, and the signal its greeting becomes.
BANNER_PORTS: dict[int, str] = {22: "ssh.banner", 23: "telnet.banner"}
BANNER_BYTES = 2048
BANNER_WAIT = 1.0             # seconds to wait for a greeting
MAX_BANNER_CHARS = 256

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240

OPEN, CLOSED, SILENT = "open", "closed", "silent"
_REFUSED = {errno.ECONNREFUSED, errno.ECONNRESET}


def classify(exc: BaseException | None) -> str:
    """Port state from the outcome of one connect: None -> open, refusal -> closed, else silent."""
    if exc is None:
        return OPEN
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError):
        return CLOSED
    if isinstance(exc, OSError) and exc.errno in _REFUSED:
        return CLOSED
    return SILENT


def plan(addresses: Iterable[str], known_live: set[str], ports: Sequence[int]) -> tuple[
        list[tuple[str, int]], list[str]]:
    """Split work: (ip, port) pairs to probe at once for known hosts, and addresses needing a first pass."""
    now: list[tuple[str, int]] = []
    unknown: list[str] = []
    for ip in addresses:
        if ip in known_live:
            now.extend((ip, p) for p in ports)
        else:
            unknown.append(ip)
    return now, unknown


def parse_ssh_banner(data: bytes) -> str:
    """The SSH identification line ("SSH-2.0-..."), which may follow other lines; DecodeError if absent."""
    for line in data.split(b"\n"):
        if line.startswith(b"SSH-"):
            text = line.rstrip(b"\r").decode("utf-8", errors="replace").strip()
            return text[:MAX_BANNER_CHARS]
    raise DecodeError("no SSH identification line")


def split_telnet(data: bytes) -> tuple[bytes, bytes]:
    """(text, refusals): data without IAC commands, and the WONT/DONT answers to its option offers."""
    text = bytearray()
    answers = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b != IAC:
            text.append(b)
            i += 1
            continue
        if i + 1 >= n:
            break
        cmd = data[i + 1]
        if cmd == IAC:
            text.append(IAC)
            i += 2
        elif cmd in (DO, DONT, WILL, WONT):
            if i + 2 >= n:
                break
            if cmd == DO:
                answers += bytes((IAC, WONT, data[i + 2]))
            elif cmd == WILL:
                answers += bytes((IAC, DONT, data[i + 2]))
            i += 3
        elif cmd == SB:
            end = data.find(bytes((IAC, SE)), i + 2)
            i = n if end < 0 else end + 2
        else:
            i += 2
    return bytes(text), bytes(answers)


def telnet_text(data: bytes) -> str | None:
    """A telnet server's greeting: commands and control bytes removed, line breaks kept (as recog records them)."""
    text, _ = split_telnet(data)
    s = text.decode("utf-8", errors="replace")
    s = "".join(c for c in s if c.isprintable() or c in "\r\n\t").strip()
    return s[:MAX_BANNER_CHARS] or None


def _done_with(sock: socket.socket, slot: asyncio.Semaphore, _task: object) -> None:
    """A greeting's connection is closed and its connection slot given back, however its task ended."""
    sock.close()
    slot.release()


def _banner_first(ports: Iterable[int]) -> list[int]:
    """ports in their order, the ones whose server speaks first moved to the front."""
    ports = list(ports)
    return [p for p in ports if p in BANNER_PORTS] + [p for p in ports if p not in BANNER_PORTS]


def _concurrency_cap() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return GLOBAL_CONCURRENCY
    return max(16, min(GLOBAL_CONCURRENCY, soft // 2))


class TcpConnect(Module):
    """Connect-probe every in-scope address; live hosts and their open ports go into ctx.hosts."""

    name: ClassVar[str] = "tcp"
    signals: ClassVar[frozenset[str]] = frozenset({*BANNER_PORTS.values(), "tcp.port"})
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False
    phase: ClassVar[int] = 1

    def __init__(self, ports: Sequence[int] = DEFAULT_PORTS, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.ports = tuple(dict.fromkeys(ports))
        self.timeout = timeout
        self._bsem: asyncio.Semaphore | None = None   # connections to banner ports (set by run)

    async def _probe(self, ctx: ScanContext, ip: str, port: int, gsem: asyncio.Semaphore,
                     hsem: asyncio.Semaphore, timeout: float | None = None,
                     greetings: list[asyncio.Task[Observation | None]] | None = None, priority: int = 1) -> str:
        """Connect to ip:port once (send slot of the given priority, within gsem and the host's hsem); its state.
        A refusal or an accept is a round-trip sample of the host, and the wait is the host's measured timeout
        (rtt.py) once it has samples, else timeout or the default. With greetings, an open banner port's
        connection stays open, still holding its gsem slot: a task reading its greeting joins them, and the
        connection is closed and the slot released when that task ends (however it ends)."""
        if not ctx.scope.allows(ip):
            return SILENT
        keep: socket.socket | None = None
        await gsem.acquire()
        try:
            async with hsem:
                await ctx.rate.wait(priority)
                ctx.stats.count("tcp.probes")
                exc: BaseException | None = None
                connected = False
                known = ctx.hosts.get(ip)
                wait = timeout if timeout is not None else (
                    known.rtt.connect_timeout(self.timeout) if known is not None else self.timeout)
                t0 = time.monotonic()
                sock: socket.socket | None = None
                try:
                    # a bare non-blocking socket: no stream objects for a connection that is closed at once
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setblocking(False)
                    async with asyncio.timeout(wait):
                        await asyncio.get_running_loop().sock_connect(sock, (ip, port))
                    connected = True
                except (OSError, TimeoutError) as e:   # EMFILE too: this port unread, the host not lost
                    exc = e
                finally:
                    took = time.monotonic() - t0
                    if connected and greetings is not None and port in BANNER_PORTS:
                        keep = sock
                    elif sock is not None:
                        sock.close()
        finally:
            if keep is None:
                gsem.release()
        state = classify(exc)
        if state != SILENT:
            h = ctx.host(ip)
            h.rtt.add(took)
            if state == OPEN:
                h.open_ports.add(port)
                ctx.stats.count("tcp.open")
        if keep is not None and greetings is not None:
            task = asyncio.ensure_future(self._greeting(ctx, ip, port, keep))
            task.add_done_callback(functools.partial(_done_with, keep, gsem))   # also if cancelled before it ran
            greetings.append(task)
        return state

    async def _host(self, ctx: ScanContext, ip: str, staged: bool, gsem: asyncio.Semaphore,
                    hsem: asyncio.Semaphore) -> list[Observation]:
        """Probe ip (staged: liveness ports first, the rest only if it answers); its ports and greetings.
        Banner ports go first among each batch, so that their greetings are read while the rest is probed."""
        greetings: list[asyncio.Task[Observation | None]] = []
        try:
            return await self._ports_and_greetings(ctx, ip, staged, gsem, hsem, greetings)
        finally:
            for t in greetings:
                t.cancel()

    async def _ports_and_greetings(self, ctx: ScanContext, ip: str, staged: bool, gsem: asyncio.Semaphore,
                                   hsem: asyncio.Semaphore, greetings: list[asyncio.Task[Observation | None]]
                                   ) -> list[Observation]:
        if staged:
            first = [p for p in LIVENESS_PORTS if p in self.ports] or list(self.ports[:1])
            states = await asyncio.gather(*(self._probe(ctx, ip, p, gsem, hsem, greetings=greetings)
                                            for p in _banner_first(first)))
            if all(s == SILENT for s in states):
                return []
            rest = [p for p in self.ports if p not in first]
            await asyncio.gather(*(self._probe(ctx, ip, p, gsem, hsem, greetings=greetings)
                                   for p in _banner_first(rest)))
        else:
            # A known host's banner ports go first (ahead of every host's other ports, on their own global
            # connection cap, within the host's own), so that each greeting (up to BANNER_WAIT when a server is
            # slow or silent) is read while the sweep goes on, rather than trailing it for the hosts probed last.
            bsem = self._bsem or gsem
            states = await asyncio.gather(
                *(self._probe(ctx, ip, p, bsem, hsem, greetings=greetings, priority=0)
                  for p in self.ports if p in BANNER_PORTS),
                *(self._probe(ctx, ip, p, gsem, hsem, greetings=greetings) for p in self.ports
                  if p not in BANNER_PORTS))
            if all(s == SILENT for s in states):
                await self._slow_host(ctx, ip, gsem, hsem, greetings)
        h = ctx.hosts.get(ip)
        if h is None:
            return []
        ctx.ports_probed(ip)   # per-host modules may start on it now
        now = time.time()
        out = [Observation("tcp.port", str(port), ip=ip, mac=h.mac, port=port, source=self.name, at=now)
               for port in sorted(h.open_ports)]
        said = [o for o in await asyncio.gather(*greetings) if o is not None]
        return out + sorted(said, key=lambda o: o.port or 0)

    async def _slow_host(self, ctx: ScanContext, ip: str, gsem: asyncio.Semaphore, hsem: asyncio.Semaphore,
                         greetings: list[asyncio.Task[Observation | None]]) -> None:
        """A live host silent on every port within the default timeout: its liveness ports once more with the
        longest wait; if one answers (a slow link, now measured), every port again within its measured timeout."""
        ctx.stats.count("tcp.slow_hosts")
        first = [p for p in LIVENESS_PORTS if p in self.ports] or list(self.ports[:1])
        states = await asyncio.gather(*(self._probe(ctx, ip, p, gsem, hsem, CONNECT_MAX, greetings)
                                        for p in _banner_first(first)))
        if all(s == SILENT for s in states):
            return
        await asyncio.gather(*(self._probe(ctx, ip, p, gsem, hsem, greetings=greetings)
                               for p in _banner_first(p for p in self.ports if p not in first)))

    async def _greeting(self, ctx: ScanContext, ip: str, port: int, sock: socket.socket) -> Observation | None:
        """Read what the server on port says first on the connected sock (telnet options refused); its banner
        observation. (The caller closes the socket and frees its connection slot when this ends.)"""
        ctx.stats.count("tcp.banner_reads")
        data = bytearray()
        writer = None
        try:
            async with asyncio.timeout(BANNER_WAIT):
                reader, writer = await asyncio.open_connection(sock=sock)
                while len(data) < BANNER_BYTES:
                    chunk = await reader.read(BANNER_BYTES - len(data))
                    if not chunk:
                        break
                    data += chunk
                    if port == 22 and b"\n" in data:
                        break
                    if port == 23:
                        _, answers = split_telnet(chunk)
                        if answers:
                            writer.write(answers)
                        elif telnet_text(bytes(data)):
                            break
        except (OSError, TimeoutError):
            pass
        finally:
            if writer is not None:
                writer.transport.abort()
        signal = BANNER_PORTS[port]
        try:
            value = parse_ssh_banner(bytes(data)) if port == 22 else telnet_text(bytes(data))
        except DecodeError as e:
            if data:
                ctx.stats.error(self.name, ip, f"port {port}: {e}")
            return None
        if not value:
            return None
        mac = ctx.hosts[ip].mac if ip in ctx.hosts else None
        return Observation(signal, value, ip=ip, mac=mac, port=port, source=self.name, at=time.time())

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Probe every in-scope address; yield each live host's open ports and SSH/telnet greetings as it is done.

        A host already known (ARP reply, discovery answer) is probed on every port as soon as it is known,
        while the other host-discovery modules go on; the addresses left are probed once the ARP sweep is over,
        skipping on-link addresses silent to it (they cannot answer TCP either, and each would cost a timeout
        and an incomplete neighbour entry in the machine-wide ARP cache).
        """
        cap = _concurrency_cap()
        gsem = asyncio.Semaphore(cap - cap // 4)
        self._bsem = asyncio.Semaphore(cap // 4)
        per_host = max(1, ctx.per_host_concurrency)
        results: asyncio.Queue[list[Observation] | None] = asyncio.Queue()   # None: no more hosts to begin
        started: set[str] = set()
        tasks: set[asyncio.Task[None]] = set()

        async def one(ip: str, staged: bool) -> None:
            out: list[Observation] = []
            try:
                out = await self._host(ctx, ip, staged, gsem, asyncio.Semaphore(per_host))
            except Exception as e:   # one broken host is data, never the end of the sweep
                ctx.stats.error(self.name, ip, f"{type(e).__name__}: {e}")
            finally:
                results.put_nowait(out)

        def begin(ip: str, staged: bool = False) -> None:
            if ip in started or not ctx.scope.allows(ip):
                return
            started.add(ip)
            t = asyncio.ensure_future(one(ip, staged))
            tasks.add(t)
            t.add_done_callback(tasks.discard)

        for ip in list(ctx.hosts):
            begin(ip)
        ctx.on_host.append(begin)

        async def rest() -> None:
            try:
                arp = ctx.finished.get("arp")
                if arp is not None:
                    await arp.wait()
                known = set(ctx.hosts)
                for ip in ctx.scope.hosts():
                    if ip not in started and ctx.scope.allows(ip) and (ip not in ctx.arp_swept or ip in known):
                        begin(ip, staged=ip not in known)
                # hosts the other discovery modules still find are probed too, until they have all finished
                for name, e in list(ctx.finished.items()):
                    if name != self.name:
                        await e.wait()
            finally:
                results.put_nowait(None)

        feeder = asyncio.ensure_future(rest())
        fed = False
        received = 0
        try:
            while not (fed and received == len(started)):
                item = await results.get()
                if item is None:
                    fed = True
                    continue
                received += 1
                for o in item:
                    yield o
            feeder.result()
        finally:
            ctx.on_host.remove(begin)
            feeder.cancel()
            for t in list(tasks):
                t.cancel()


MODULE = TcpConnect
