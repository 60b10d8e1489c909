"""The discovery-module interface and the per-scan context every module receives."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from scanner.discovery.rtt import RoundTrip
from scanner.models import Channel, Observation
from scanner.scope import Scope

_log = logging.getLogger("camscan.discovery")

MAX_READ_BYTES = 256 * 1024      # cap on any single reply a module reads
DEFAULT_TIMEOUT = 2.0            # seconds per network operation unless a module says otherwise


class DecodeError(ValueError):
    """A device reply could not be parsed (each module raises only this from parse_reply)."""


@dataclass(slots=True)
class HostInfo:
    """What the scan knows so far about one live address (filled by the host-discovery phase)."""

    ip: str
    mac: str | None = None
    open_ports: set[int] = field(default_factory=set)
    http_ports: set[int] = field(default_factory=set)      # web ports the device states (SADP/DHIP replies)
    onvif_xaddrs: list[str] = field(default_factory=list)  # device-service addresses discovery named for it
    wsd_epr: str | None = None                             # its WS-Discovery EndpointReference, once answered
    onvif_service: str | None = None                       # the ONVIF device service that answered
    clock_skew_s: float | None = None                      # its clock minus ours, from GetSystemDateAndTime
    channels: list[Channel] = field(default_factory=list)  # cameras a recorder reports behind it
    rtt: RoundTrip = field(default_factory=RoundTrip)      # its round trips, from the connects made to it


#: Error entries kept per (module, host) and per module over all hosts; the rest are only counted
#: (issue 10: one device streaming bad replies once produced 49,924 entries, 8.4 MB).
ERRORS_PER_HOST = 20
ERRORS_PER_MODULE = 200
MAX_ERROR_CHARS = 500


@dataclass(slots=True)
class ScanStats:
    """Counters and per-host errors collected during a scan (a host failure is data).

    Error entries are de-duplicated and capped per (module, host) and per module; what is left out is
    counted in `errors_repeated`, `errors_dropped` and `errors_dropped.<module>`. Counters are counts, except
    `seconds.<module>` (float seconds).
    """

    counters: dict[str, int | float] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[tuple[str, str | None, str]] = field(default_factory=set, init=False, repr=False)
    _per_host: dict[tuple[str, str | None], int] = field(default_factory=dict, init=False, repr=False)
    _per_module: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def count(self, key: str, n: int = 1) -> None:
        """Add n to counter key."""
        self.counters[key] = self.counters.get(key, 0) + n

    def has_error(self, module: str, ip: str | None, message: str) -> bool:
        """True when exactly this entry is already recorded (constant time)."""
        return (module, ip, message[:MAX_ERROR_CHARS]) in self._seen

    def _room(self, module: str, ip: str | None) -> bool:
        return (self._per_host.get((module, ip), 0) < ERRORS_PER_HOST
                and self._per_module.get(module, 0) < ERRORS_PER_MODULE)

    def _add(self, module: str, ip: str | None, msg: str) -> None:
        self._seen.add((module, ip, msg))
        self._per_host[(module, ip)] = self._per_host.get((module, ip), 0) + 1
        self._per_module[module] = self._per_module.get(module, 0) + 1
        self.errors.append({"module": module, "ip": ip, "error": msg})
        _log.debug("%s %s: %s", module, ip or "-", msg,
                   extra={"fields": {"module": module, "ip": ip, "event": "error"}})

    def error(self, module: str, ip: str | None, message: str) -> None:
        """Record one error entry in constant time, unless it repeats one or is over a cap (then only counted)."""
        msg = message[:MAX_ERROR_CHARS]
        if (module, ip, msg) in self._seen:
            self.count("errors_repeated")
        elif not self._room(module, ip):
            self.count("errors_dropped")
            self.count(f"errors_dropped.{module}")
        else:
            self._add(module, ip, msg)

    def out_of_scope(self, module: str, ip: str | None, message: str) -> None:
        """A benign reply from outside the scope: counted in `ignored_out_of_scope(.module)`, never an error entry."""
        first = f"ignored_out_of_scope.{module}" not in self.counters
        self.count("ignored_out_of_scope")
        self.count(f"ignored_out_of_scope.{module}")
        if first or _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s %s: %s", module, ip or "-", message[:MAX_ERROR_CHARS],
                       extra={"fields": {"module": module, "ip": ip, "event": "ignored_out_of_scope"}})


class RateLimiter:
    """Global probe budget: at most `pps` new probes per second across all modules; halted, none at all.

    Send slots go out one interval apart, to the waiter of lowest priority number first (then first come):
    host discovery (ARP, priority 0) is never queued behind the per-host probes it makes possible.
    """

    BURST = 0.005   # seconds of slots a late wake-up (timer, busy loop, busy CPU) may still hand out at once

    def __init__(self, pps: float) -> None:
        if not (isinstance(pps, int | float) and math.isfinite(pps) and pps > 0):
            raise ValueError(f"probe rate must be a finite number above 0, not {pps!r}")   # never "unlimited"
        self.interval = 1.0 / pps
        self.halted = False   # the scan is stopping: no new probe (senders pacing in a thread read this too)
        self.granted = 0      # send slots granted so far: the probes sent
        self._next = 0.0
        self._seq = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ticker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def lend(self, share: float) -> Iterator[float]:
        """Lend `share` (0 < share < 1) of the budget to a sender that paces itself (nmap) for the with block:
        meanwhile this limiter grants at (1 - share) of its rate, so both together stay within it. Gives the
        probes per second lent."""
        if not 0 < share < 1:
            raise ValueError(f"share must be between 0 and 1, not {share!r}")
        base = self.interval
        self.interval = base / (1.0 - share)
        try:
            yield share / base
        finally:
            self.interval = base

    def halt(self) -> None:
        """Grant no further send slot, from now on (waiters are told at once; call from the event loop)."""
        self.halted = True
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    def _take(self, now: float) -> bool:
        if self._next > now:
            return False
        self._next = max(self._next, now - self.BURST) + self.interval
        return True

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters:
            now = loop.time()
            if not self._take(now):
                await asyncio.sleep(self._next - now)
                continue
            while self._waiters:
                _, _, fut = heapq.heappop(self._waiters)
                if not fut.done():
                    fut.set_result(None)
                    break
            else:
                self._next -= self.interval   # every waiter had gone: the slot was not used

    async def slot(self, priority: int = 1) -> bool:
        """Wait for the next send slot: True to send, False once halted (nothing new may be sent)."""
        if self.halted:
            return False
        loop = asyncio.get_running_loop()
        if not self._waiters and self._take(loop.time()):
            self.granted += 1
            return True
        fut: asyncio.Future[None] = loop.create_future()
        self._seq += 1
        heapq.heappush(self._waiters, (priority, self._seq, fut))
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._tick())
        await fut
        if self.halted:
            return False
        self.granted += 1
        return True

    async def slots(self, n: int, priority: int = 1) -> int:
        """Wait for the next send slot, then take up to n-1 more that are already due (none while a waiter of the
        same or a more urgent priority is queued): how many were granted, 0 once halted."""
        if not await self.slot(priority):
            return 0
        now = asyncio.get_running_loop().time()
        got = 1
        while got < n and not (self._waiters and self._waiters[0][0] <= priority) and self._take(now):
            got += 1
        self.granted += got - 1
        return got

    async def wait(self, priority: int = 1) -> None:
        """Wait for the next send slot; once halted, wait until cancelled (nothing new is sent)."""
        if not await self.slot(priority):
            await asyncio.Event().wait()


@dataclass(slots=True)
class ScanContext:
    """Everything a module may use: scope (check before every send), live hosts, limits, stats."""

    scope: Scope
    rate: RateLimiter
    stats: ScanStats
    interface: str | None = None
    interface_ip: str | None = None
    hosts: dict[str, HostInfo] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)   # never logged or reported
    snmp_communities: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    privileged: bool = False
    per_host_concurrency: int = 4
    arp_swept: set[str] = field(default_factory=set)   # on-link addresses the ARP sweep asked (answered or not)
    #: hosts that answered ARP on the interface link multicast goes out of (interface_ip): on the multicast link
    link_hosts: set[str] = field(default_factory=set)
    t0: float | None = None                 # time.monotonic() when the sweep started
    first_host_at: float | None = None      # time.monotonic() when the first live host became known
    last_result_at: float | None = None     # time.monotonic() of the last observation kept
    ports_known: set[str] = field(default_factory=set)   # hosts whose TCP ports have all been probed
    #: module name -> set once that host-discovery module has finished (filled by the sweep)
    finished: dict[str, asyncio.Event] = field(default_factory=dict)
    #: called with the address of each new live host, and of each host whose TCP ports are known
    on_host: list[Callable[[str], None]] = field(default_factory=list)
    on_ports: list[Callable[[str], None]] = field(default_factory=list)
    #: observations kept so far, per address (filled by the sweep)
    observed: dict[str, list[Observation]] = field(default_factory=dict)
    #: settled(ip, more) -> True when what ip has shown so far, plus more, names its maker and settles what it
    #: is (its kind and model, or a non-surveillance product); modules skip work that only serves to name a
    #: device. None (no identification available): never settled.
    settled: Callable[[str, list[Observation]], Awaitable[bool]] | None = None

    def host(self, ip: str) -> HostInfo:
        """The HostInfo for ip, created on first use (then on_host is told)."""
        h = self.hosts.get(ip)
        if h is None:
            h = self.hosts[ip] = HostInfo(ip)
            if self.first_host_at is None:
                self.first_host_at = time.monotonic()
            for hook in list(self.on_host):
                hook(ip)
        return h

    def ports_probed(self, ip: str) -> None:
        """TCP has probed every port of ip: per-host modules may start on it (on_ports is told)."""
        if ip not in self.ports_known:
            self.ports_known.add(ip)
            for hook in list(self.on_ports):
                hook(ip)


@dataclass(slots=True)
class Progress:
    """Live figures for a progress display, filled by the sweep: phase, hosts found and done, probes sent.

    Phase-2 work is counted per (module, host): a module lists its hosts when it fans out over them
    (fan_out) and a host is done once every phase-2 module has finished with it.
    """

    phase: int = 0
    phase_started: float = 0.0                                  # time.monotonic() when the phase began
    ctx: ScanContext | None = None
    listed: dict[str, set[str]] = field(default_factory=dict)   # phase-2 module -> hosts it fans out over
    pending: dict[str, set[str]] = field(default_factory=dict)  # phase-2 module -> hosts not finished yet
    unlisted: set[str] = field(default_factory=set)             # phase-2 modules running without a host list
    waiting: set[str] = field(default_factory=set)              # hosts found, not yet handed to phase 2

    def start_phase(self, phase: int, modules: Iterable[str]) -> None:
        """The sweep enters phase with these modules."""
        self.phase, self.phase_started = phase, time.monotonic()
        if phase == 2:
            self.unlisted = set(modules)

    def module_done(self, module: str) -> None:
        """module finished (whatever it left is no longer pending)."""
        self.unlisted.discard(module)
        self.pending.pop(module, None)

    def hosts_found(self) -> int:
        """Live in-scope hosts known so far."""
        ctx = self.ctx
        return 0 if ctx is None else sum(1 for ip in list(ctx.hosts) if ctx.scope.allows(ip))

    def probes(self) -> int:
        """Probes sent so far (send slots the rate limiter granted)."""
        return 0 if self.ctx is None else self.ctx.rate.granted

    def hosts_done(self) -> int:
        """Hosts every phase-2 module has finished with (0 before phase 2)."""
        if self.phase < 2 or self.unlisted:
            return 0
        busy: set[str] = set().union(*self.pending.values()) if self.pending else set()
        return max(0, self.hosts_found() - len(busy | self.waiting))

    def fraction(self) -> float | None:
        """Share of phase-2 (module, host) work done, or None when it cannot be told yet."""
        if self.phase < 2:
            return None
        hosts = self.hosts_found()
        total = sum(len(v) for v in self.listed.values()) + len(self.unlisted) * hosts
        if total == 0:
            return None
        left = sum(len(v) for v in self.pending.values()) + len(self.unlisted) * hosts
        return max(0.0, min(1.0, 1 - left / total))

    def _listing(self, module: str, items: list[object]) -> None:
        hosts = {i for i in items if isinstance(i, str)}
        self.listed.setdefault(module, set()).update(hosts)
        self.pending.setdefault(module, set()).update(hosts)
        self.unlisted.discard(module)

    def _finished(self, module: str, item: object) -> None:
        if isinstance(item, str):
            self.pending.get(module, set()).discard(item)


#: (Progress, module name) for the module whose code runs in this task, set by the sweep (None: not tracked).
TRACK: contextvars.ContextVar[tuple[Progress, str] | None] = contextvars.ContextVar("camscan_track", default=None)


class Module:
    """Base of every discovery module; subclasses set the class attributes and implement run()."""

    name: ClassVar[str] = ""
    signals: ClassVar[frozenset[str]] = frozenset()
    per_link: ClassVar[bool] = False     # True: multicast/broadcast on the link; False: per live host
    needs_raw: ClassVar[bool] = False    # True: needs raw sockets (root / CAP_NET_RAW)
    phase: ClassVar[int] = 2             # 1 = host discovery (finds live hosts), 2 = per-host probing
    after: ClassVar[frozenset[str]] = frozenset()  # modules of the same phase that must finish first

    def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Yield observations; never send to an address ctx.scope does not allow."""
        raise NotImplementedError


T = TypeVar("T")


async def fan_out(items: Iterable[T], worker: Callable[[T], Awaitable[list[Observation]]], limit: int,
                  on_error: Callable[[T, Exception], None] | None = None) -> AsyncIterator[Observation]:
    """Run worker over items, at most limit at once, yielding observations as each finishes.

    A worker exception goes to on_error (the item yields nothing) so one host never ends the sweep.
    """
    sem = asyncio.Semaphore(max(1, limit))
    track = TRACK.get()
    items = list(items)
    if track is not None:
        track[0]._listing(track[1], list(items))

    async def one(item: T) -> list[Observation]:
        async with sem:
            try:
                return await worker(item)
            except Exception as e:
                if on_error is None:
                    raise
                on_error(item, e)
                return []
            finally:
                if track is not None:
                    track[0]._finished(track[1], item)

    tasks = [asyncio.ensure_future(one(i)) for i in items]
    try:
        for fut in asyncio.as_completed(tasks):
            for o in await fut:
                yield o
    finally:
        for t in tasks:
            t.cancel()


class HostModule(Module):
    """A per-host module (phase 2): host() probes one host. The sweep hands it each host as soon as the host's
    TCP ports are known and the modules in host_after are done with that host; run() does every known host."""

    concurrency: ClassVar[int] = 64                  # hosts probed at once by this module
    host_after: ClassVar[frozenset[str]] = frozenset()   # per-host modules to finish with a host first

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        """True when ip shows what this module needs (an open port, a hint); False: nothing is sent to it."""
        return ctx.scope.allows(ip)

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        """Probe one host; never send to an address ctx.scope does not allow."""
        raise NotImplementedError

    async def finish(self, ctx: ScanContext) -> None:
        """After every host: whatever needs all of them (default nothing)."""

    def host_error(self, ctx: ScanContext, ip: str, e: Exception) -> None:
        """Record a host() failure (a broken host is data, never the end of the sweep)."""
        ctx.stats.error(self.name, ip, f"{type(e).__name__}: {e}")

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Every known host this module wants, concurrency at once; then finish()."""
        hosts = [ip for ip in list(ctx.hosts) if self.wants(ctx, ip)]
        async for o in fan_out(hosts, lambda ip: self.host(ctx, ip), self.concurrency,
                               lambda ip, e: self.host_error(ctx, ip, e)):
            yield o
        await self.finish(ctx)
