"""The scan: plan (validate everything before sending), sweep in two phases, merge, identify, report."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from scanner import __version__, caps
from scanner.discovery import registry
from scanner.discovery.base import TRACK, HostModule, Module, Progress, RateLimiter, ScanContext, ScanStats
from scanner.errors import InputError
from scanner.inventory.build import HostFacts, build, site_info
from scanner.inventory.records import Inventory, ScanError, ScanInfo
from scanner.inventory.resolve import identify
from scanner.match.engine import Engine
from scanner.match.load import SURVEILLANCE_CATEGORIES
from scanner.models import Observation
from scanner.scope import Scope
from scanner.sites import Credentials, Site

DEFAULT_RATE: Final = 2000.0
# nmap's own scanning replaces the native host discovery (ARP sweep, TCP connect probes).
NMAP_REPLACES: Final = frozenset({"arp", "tcp"})
# Once a stop is asked for, work in flight gets this long before it is cancelled (issue 10: within 2 s).
STOP_GRACE_S: Final = 1.5

Log = Callable[[str], None]
_log = logging.getLogger("camscan.scan")


def _say(log: Log | None, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """A progress line: to log when a caller gave one, else to the camscan.scan logger with its fields."""
    if log is not None:
        log(msg)
    else:
        _log.log(level, msg, extra={"fields": fields})


@dataclass(slots=True)
class ScanRequest:
    """What the operator asked for (already parsed from the CLI and the site file)."""

    targets: list[str]
    excludes: list[str] = field(default_factory=list)
    site: Site | None = None
    modules: list[str] | None = None
    rate: float = DEFAULT_RATE
    interface: str | None = None
    credentials: Credentials | None = None
    engine: str = "native"
    allow_large: bool = False
    allow_public: bool = False
    allow_link_local: bool = False
    timeout: float = 2.0
    concern_lists: list[str] | None = None


@dataclass(slots=True)
class Plan:
    """A validated scan: scope, module classes to run, interface, and notes for the operator."""

    scope: Scope
    modules: list[type[Module]]
    interface: str | None
    interface_ip: str | None
    privileged: bool
    notes: list[str]


def _route_for(ip: str) -> tuple[str | None, str | None, bool]:
    """(device, source address, is-local) the kernel would use for ip; asks the routing table, sends nothing."""
    try:
        out = subprocess.run(["ip", "-j", "route", "get", ip], capture_output=True, text=True, timeout=5)
        routes = json.loads(out.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None, None, False
    if not routes:
        return None, None, False
    r = routes[0]
    return r.get("dev"), r.get("prefsrc"), r.get("type") == "local"


def _local_interfaces() -> list[ipaddress.IPv4Interface]:
    """Every IPv4 address of this network namespace's own interfaces, with its link's prefix."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, timeout=5)
        data = json.loads(out.stdout or "[]")
        return [ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}") for link in data
                for a in link.get("addr_info", []) if a.get("family") == "inet"]
    except (OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired):
        return []


def _address_of(iface: str) -> str | None:
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", iface], capture_output=True, text=True,
                             timeout=5)
        data = json.loads(out.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    for link in data:
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                return str(a["local"])
    return None


def is_privileged() -> bool:
    """True when raw sockets are available: CAP_NET_RAW in the effective set (not uid 0)."""
    return caps.has(caps.CAP_NET_RAW)


def default_modules(engine: str) -> list[str]:
    """Every registered module, with nmap replacing ARP/TCP when --engine nmap."""
    names = [n for n in registry.MODULES if n != "nmap"]
    if engine == "nmap":
        names = ["nmap"] + [n for n in names if n not in NMAP_REPLACES]
    return names


def plan(req: ScanRequest) -> Plan:
    """Validate the request and choose modules; InputError before anything is sent."""
    own_ifaces = _local_interfaces()
    # network/broadcast addresses are those of this machine's links, not of each range (issue 10)
    links = [i.network for i in own_ifaces if not i.ip.is_loopback]

    def build(excludes: list[str]) -> Scope:
        return Scope.build(req.targets, excludes, allow_large=req.allow_large, allow_public=req.allow_public,
                           allow_link_local=req.allow_link_local, links=links)

    scope = build(req.excludes)
    own = sorted((str(i.ip) for i in own_ifaces if scope.allows(str(i.ip)) and not i.ip.is_loopback),
                 key=ipaddress.IPv4Address)
    if own:
        # the scanner's own address is not a device of the site: never probe or count it
        scope = build([*req.excludes, *own])
    if scope.size() == 0:
        raise InputError("every target address is excluded")
    if req.engine not in ("native", "nmap"):
        raise InputError(f"--engine must be native or nmap, not {req.engine!r}")
    if not 0 < req.rate < float("inf"):   # NaN fails every comparison: it is refused too, never "no limit"
        raise InputError(f"--rate must be a finite number of probes per second above 0, not {req.rate:g}")
    names = req.modules if req.modules is not None else default_modules(req.engine)
    unknown = [n for n in names if n not in registry.MODULES]
    if unknown:
        raise InputError(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(registry.MODULES)}")
    notes: list[str] = [f"own address {a} excluded" for a in own]
    privileged = is_privileged()
    classes: list[type[Module]] = []
    for n in names:
        try:
            cls = registry.load(n)
        except (ImportError, AttributeError) as e:
            notes.append(f"module {n} is unavailable ({e}); the rest of the scan runs without it")
            continue
        if cls.needs_raw and not privileged:
            notes.append(getattr(cls, "without_raw", "") or f"module {n} needs CAP_NET_RAW (raw sockets); "
                         "skipped, the rest of the scan still runs")
            continue
        classes.append(cls)
    iface = req.interface
    iface_ip: str | None = None
    if iface is not None:
        iface_ip = _address_of(iface)
        if iface_ip is None:
            raise InputError(f"interface {iface!r} does not exist or has no IPv4 address")
    else:
        for i, addr in enumerate(scope.hosts()):
            iface, iface_ip, local = _route_for(addr)
            if not local or i >= 16:
                break
        if iface is None:
            notes.append("no route to the targets: link-level discovery (multicast) may find nothing")
    return Plan(scope, classes, iface, iface_ip, privileged, notes)


def _keep(ob: Observation, name: str, ctx: ScanContext, sink: list[Observation]) -> bool:
    """Keep one observation of module name (its address becomes a live host); False: out of scope, dropped."""
    if ob.ip is not None and not ctx.scope.allows(ob.ip):
        ctx.stats.out_of_scope(name, ob.ip, "observation from an address outside the scan scope was dropped")
        return False
    if ob.ip is not None:
        if ob.ip not in ctx.hosts:
            _log.debug("host %s found by %s", ob.ip, name,
                       extra={"fields": {"ip": ob.ip, "module": name, "event": "host_found"}})
        ctx.host(ob.ip)
        ctx.observed.setdefault(ob.ip, []).append(ob)
    sink.append(ob)
    ctx.last_result_at = time.monotonic()
    return True


def _module_done(name: str, n: int, secs: float, ctx: ScanContext, log: Log | None, on_done: Log | None,
                 progress: Progress | None) -> None:
    ctx.stats.count(f"observations.{name}", n)
    ctx.stats.counters[f"seconds.{name}"] = secs
    if progress is not None:
        progress.module_done(name)
    _say(log, f"{name}: {n} observations in {secs:.1f}s", module=name, observations=n, seconds=secs)
    if on_done is not None:
        on_done(name)


async def _drain(mod: Module, ctx: ScanContext, sink: list[Observation], log: Log | None, on_done: Log | None,
                 progress: Progress | None = None) -> None:
    name = type(mod).name
    n = 0
    t0 = time.monotonic()
    if progress is not None:
        TRACK.set((progress, name))   # this task's context: fan_out reports the module's hosts to progress
    try:
        async for ob in mod.run(ctx):
            n += _keep(ob, name, ctx, sink)
    except asyncio.CancelledError:
        raise
    except Exception as e:   # a module failure is data; the other modules go on
        ctx.stats.error(name, None, f"module failed: {type(e).__name__}: {e}")
    _module_done(name, n, round(time.monotonic() - t0, 3), ctx, log, on_done, progress)


async def _ordered(m: Module, done: dict[str, asyncio.Event], ctx: ScanContext, obs: list[Observation],
                   log: Log | None, on_done: Log | None, progress: Progress | None = None) -> None:
    """Run one module once the modules it must follow (Module.after) have finished."""
    for dep in type(m).after:
        if dep in done:
            await done[dep].wait()
    try:
        await _drain(m, ctx, obs, log, on_done, progress)
    finally:
        done[type(m).name].set()


class StopRequest:
    """A request to stop a scan part-way; safe to make from a signal handler or another thread."""

    def __init__(self) -> None:
        self.reason: str | None = None   # what asked (e.g. "SIGINT"); the first one is kept
        self.cut = False                 # set by the sweep when the stop actually left work undone
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def set(self, reason: str) -> None:
        """Ask the scan under way (or about to start) to stop."""
        if self.reason is None:
            self.reason = reason
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):   # the loop has closed: the sweep is over anyway
                loop.call_soon_threadsafe(event.set)

    def _bind(self) -> asyncio.Event:
        """The event the running sweep waits on (already set if the stop came first)."""
        event = asyncio.Event()
        self._event, self._loop = event, asyncio.get_running_loop()
        if self.reason is not None:
            event.set()
        return event


async def _finish_phase(tasks: list[asyncio.Task[None]], stopping: asyncio.Event | None, stop: StopRequest | None,
                        rate: RateLimiter, log: Log | None) -> None:
    """Wait for a phase's modules; on a stop, halt sending, give work in flight STOP_GRACE_S, cancel the rest."""
    everything: asyncio.Future[Any] = asyncio.gather(*tasks)
    if stopping is None or stop is None:
        await everything
        return
    waiter: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([everything, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if everything.done():
        everything.result()
        return
    rate.halt()
    _say(log, f"{stop.reason}: stopping; no new probes, {STOP_GRACE_S:g}s for those in flight",
         logging.WARNING, stopped_by=stop.reason)
    await asyncio.wait(tasks, timeout=STOP_GRACE_S)
    if not everything.done():
        stop.cut = True
        everything.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await everything


class _Settled:
    """ScanContext.settled from the fingerprint engine (asked for, off the event loop, the first time it is
    needed: it may still be compiling). Only what host discovery said of the host counts, with what the caller
    adds (the per-host modules running alongside would make the answer depend on which reply came first): it
    names a maker, and either a non-surveillance category, or a surveillance kind (not `video`) with the model
    and serial number (what a vendor API path could still add)."""

    def __init__(self, engine: Engine | Callable[[], Engine], ctx: ScanContext, discovery: frozenset[str]) -> None:
        self.source, self.ctx, self.discovery = engine, ctx, discovery
        self.engine: asyncio.Future[Engine] | None = None

    async def __call__(self, ip: str, more: list[Observation]) -> bool:
        if self.engine is None:
            src = self.source
            self.engine = asyncio.ensure_future(
                asyncio.to_thread(src) if not isinstance(src, Engine) else asyncio.sleep(0, src))
        try:
            eng = await asyncio.shield(self.engine)   # one caller cancelled does not cancel it for the others
            said = [o for o in self.ctx.observed.get(ip, ()) if o.source in self.discovery]
            ident = identify(eng, [*said, *more])
        except Exception:   # no engine (it failed to build: run() reports that) or a bad value: not settled
            return False
        if ident.vendor is None:
            return False
        if ident.category == "other":
            return True
        return (ident.category in SURVEILLANCE_CATEGORIES and ident.category != "video"
                and ident.model is not None and ident.serial is not None)


async def sweep(p: Plan, req: ScanRequest, log: Log | None = None, on_done: Log | None = None,
                stop: StopRequest | None = None, progress: Progress | None = None,
                engine: Engine | Callable[[], Engine] | None = None) -> tuple[ScanContext, list[Observation]]:
    """Run host discovery (phase 1) and per-host probing (phase 2), each host probed as soon as its ports are
    known (see _Pipeline); return all observations.

    log None: progress lines go to the camscan.scan logger. With stop: once it is set, no new probe is sent,
    work in flight gets STOP_GRACE_S, and the sweep returns what it has (stop.cut tells whether anything was
    left undone). With progress: its figures follow the sweep. With engine: modules may skip work on a host
    the evidence already settles (ScanContext.settled).
    """
    creds: dict[str, Any] = {}
    comms: tuple[str, ...] = ()
    if req.credentials is not None:
        c = req.credentials
        if c.default is not None:
            creds["default"] = {"username": c.default.username, "password": c.default.password}
        creds["hosts"] = {ip: {"username": lg.username, "password": lg.password} for ip, lg in c.hosts.items()}
        comms = c.snmp_communities
    ctx = ScanContext(scope=p.scope, rate=RateLimiter(req.rate), stats=ScanStats(), interface=p.interface,
                      interface_ip=p.interface_ip, credentials=creds, snmp_communities=comms,
                      timeout=req.timeout, privileged=p.privileged)
    if engine is not None:
        ctx.settled = _Settled(engine, ctx, frozenset(m.name for m in p.modules if m.phase == 1))
    if progress is not None:
        progress.ctx = ctx
    obs: list[Observation] = []
    stopping = stop._bind() if stop is not None else None
    ctx.t0 = time.monotonic()
    try:
        await _phases(p, ctx, obs, log, on_done, stop, stopping, progress)
    finally:
        _timings(ctx)
    return ctx, obs


def _timings(ctx: ScanContext) -> None:
    """seconds.first_host and seconds.last_result (from the sweep's start) into the stats."""
    t0 = ctx.t0
    if t0 is None:
        return
    for key, at in (("first_host", ctx.first_host_at), ("last_result", ctx.last_result_at)):
        if at is not None:
            ctx.stats.counters[f"seconds.{key}"] = round(at - t0, 3)


#: Host-discovery modules a host's per-host probing does not wait for: the ARP sweep (its replies make hosts at
#: once), the TCP probes and nmap (each host is handed on as soon as its own ports are known).
STREAMING: Final = frozenset({"arp", "tcp", "nmap"})


class _Pipeline:
    """Phase 2 without a barrier: each host goes to the per-host modules (HostModule) once its TCP ports are known
    and the link-level discovery (multicast windows) is over; modules a module must follow on a host
    (host_after) finish with that host first. Every probe still takes its slot from the one rate limiter."""

    def __init__(self, mods: list[HostModule], ctx: ScanContext, sink: list[Observation], log: Log | None,
                 on_done: Log | None, progress: Progress | None) -> None:
        self.mods, self.ctx, self.sink, self.log, self.on_done, self.progress = mods, ctx, sink, log, on_done, progress
        self.sems = {m.name: asyncio.Semaphore(max(1, m.concurrency)) for m in mods}
        self.counts = {m.name: 0 for m in mods}
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.dispatched: set[str] = set()
        self.ready: list[str] = []   # hosts whose ports became known before the link discovery was over
        self.open = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.started: float | None = None

    def _found(self, ip: str) -> None:
        if self.progress is not None and ip not in self.dispatched:
            self.progress.waiting.add(ip)

    def _ports(self, ip: str) -> None:
        if self.open:
            self.dispatch(ip)
        else:
            self.ready.append(ip)

    def dispatch(self, ip: str) -> None:
        """Start the per-host modules on ip (once; never out of scope, never once the scan is stopping)."""
        if ip in self.dispatched or not self.ctx.scope.allows(ip):
            return
        self.dispatched.add(ip)
        if self.progress is not None:
            self.progress.waiting.discard(ip)
        if self.ctx.rate.halted:
            return
        t = asyncio.ensure_future(self._host(ip))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _host(self, ip: str) -> None:
        events = {m.name: asyncio.Event() for m in self.mods}

        async def one(m: HostModule) -> None:
            try:
                for dep in m.host_after:
                    if dep in events:
                        await events[dep].wait()
                if not m.wants(self.ctx, ip):
                    return
                if self.progress is not None:
                    self.progress._listing(m.name, [ip])
                async with self.sems[m.name]:
                    self.first.setdefault(m.name, time.monotonic())
                    try:
                        out = await m.host(self.ctx, ip)
                    except Exception as e:   # a broken host is data, never the end of the sweep
                        m.host_error(self.ctx, ip, e)
                        out = []
                for ob in out:
                    self.counts[m.name] += _keep(ob, m.name, self.ctx, self.sink)
                self.last[m.name] = time.monotonic()
            finally:
                events[m.name].set()
                if self.progress is not None:
                    self.progress._finished(m.name, ip)

        await asyncio.gather(*(one(m) for m in self.mods))

    async def run(self, gate: list[asyncio.Event], discovery: list[asyncio.Event]) -> None:
        """Hand hosts on as they become ready until discovery is over and every host is done; then finish."""
        ctx = self.ctx
        for ip in ctx.hosts:
            self._found(ip)
        self.ready.extend(ctx.ports_known)   # known before this task ran
        ctx.on_host.append(self._found)
        ctx.on_ports.append(self._ports)
        try:
            for e in gate:
                await e.wait()
            self.open, self.started = True, time.monotonic()
            names = [m.name for m in self.mods]
            _say(self.log, f"phase 2: {', '.join(names)} per host, as each host's ports are known "
                 f"({len(ctx.hosts)} live hosts so far)", phase=2, modules=names, live_hosts=len(ctx.hosts))
            if self.progress is not None:
                self.progress.start_phase(2, names)
                for n in names:
                    self.progress._listing(n, [])
            for ip in self.ready:
                self.dispatch(ip)
            for e in discovery:
                await e.wait()
            for ip in list(ctx.hosts):   # found without TCP (no tcp module, or after it): after discovery
                self.dispatch(ip)
            while self.tasks:
                await asyncio.wait(list(self.tasks))
        finally:
            ctx.on_host.remove(self._found)
            ctx.on_ports.remove(self._ports)
            for t in list(self.tasks):
                t.cancel()
        for m in self.mods:
            try:
                await m.finish(ctx)
            except Exception as e:   # a module failure is data
                ctx.stats.error(m.name, None, f"module failed: {type(e).__name__}: {e}")
            secs = self.last.get(m.name, 0.0) - self.first.get(m.name, 0.0)
            _module_done(m.name, self.counts[m.name], round(max(secs, 0.0), 3), ctx, self.log, self.on_done,
                         self.progress)
        if self.started is not None:
            ctx.stats.counters["seconds.phase2"] = round(time.monotonic() - self.started, 3)


async def _phases(p: Plan, ctx: ScanContext, obs: list[Observation], log: Log | None, on_done: Log | None,
                  stop: StopRequest | None, stopping: asyncio.Event | None, progress: Progress | None) -> None:
    """Host discovery with the per-host pipeline alongside, then any phase-2 module that is not per host."""
    if stop is not None and stop.reason is not None:
        ctx.rate.halt()
        stop.cut = True
        return
    first = [cls() for cls in p.modules if cls.phase == 1]
    per_host: list[HostModule] = [m for cls in p.modules if cls.phase != 1 and isinstance(m := cls(), HostModule)]
    later = [cls() for cls in p.modules if cls.phase != 1 and not issubclass(cls, HostModule)]
    done = {type(m).name: asyncio.Event() for m in first}
    ctx.finished = done
    tasks: list[asyncio.Task[None]] = []
    if first:
        names = [type(m).name for m in first]
        _say(log, f"phase 1: {', '.join(names)} over {p.scope.size()} addresses", phase=1, modules=names,
             addresses=p.scope.size())
        if progress is not None:
            progress.start_phase(1, names)
        t1 = time.monotonic()

        async def timed() -> None:
            for e in done.values():
                await e.wait()
            ctx.stats.counters["seconds.phase1"] = round(time.monotonic() - t1, 3)

        tasks = [asyncio.ensure_future(_ordered(m, done, ctx, obs, log, on_done, progress)) for m in first]
        tasks.append(asyncio.ensure_future(timed()))
    if per_host:
        pipe = _Pipeline(per_host, ctx, obs, log, on_done, progress)
        gate = [e for n, e in done.items() if n not in STREAMING]
        tasks.append(asyncio.ensure_future(pipe.run(gate, list(done.values()))))
    if tasks:
        await _finish_phase(tasks, stopping, stop, ctx.rate, log)
    if not later:
        return
    if stop is not None and stop.reason is not None:
        ctx.rate.halt()
        stop.cut = True
        return
    names = [type(m).name for m in later]
    _say(log, f"phase 2: {', '.join(names)} on {len(ctx.hosts)} live hosts", phase=2, modules=names,
         live_hosts=len(ctx.hosts))
    if progress is not None and not per_host:
        progress.start_phase(2, names)
    t2 = time.monotonic()
    mark = {type(m).name: asyncio.Event() for m in later}
    try:
        await _finish_phase([asyncio.ensure_future(_ordered(m, mark, ctx, obs, log, on_done, progress))
                             for m in later], stopping, stop, ctx.rate, log)
    finally:
        ctx.stats.counters["seconds.phase2"] = round(
            float(ctx.stats.counters.get("seconds.phase2", 0.0)) + time.monotonic() - t2, 3)


def inventory(p: Plan, req: ScanRequest, ctx: ScanContext, obs: list[Observation], engine: Engine,
              started: datetime, finished: datetime, complete: bool = True) -> Inventory:
    """The scan's inventory (schema camscan.inventory/1); complete False for a scan stopped part-way."""
    hosts = {ip: HostFacts(h.mac, frozenset(h.open_ports), tuple(h.channels))
             for ip, h in ctx.hosts.items() if p.scope.allows(ip)}
    site = req.site
    info = ScanInfo(
        started=started.isoformat(timespec="seconds"), finished=finished.isoformat(timespec="seconds"),
        targets=tuple(str(n) for n in p.scope.targets), excluded=tuple(str(n) for n in p.scope.excludes),
        modules=tuple(m.name for m in p.modules), privileged=p.privileged and ctx.privileged,
        tool_version=__version__,
        fingerprints_version=engine.db.version,
        stats={"addresses": p.scope.size(), "live_hosts": len(ctx.hosts), "observations": len(obs),
               "seconds": round((finished - started).total_seconds(), 3), "engine": req.engine,
               "probes": ctx.rate.granted,
               "notes": p.notes, **ctx.stats.counters},
        errors=tuple(ScanError(e["module"], e["ip"], e["error"]) for e in ctx.stats.errors), complete=complete)
    inv = build(obs, engine, info, site_info(site.name, site.organisation,
                                             [(r.cidr, r.survey, r.vlan) for r in site.ranges]) if site else None,
                hosts=hosts, concern_lists=req.concern_lists)
    return dataclasses.replace(inv, scan=dataclasses.replace(info, stats={**info.stats,
                                                                           "devices": len(inv.devices)}))


def run(req: ScanRequest, engine: Engine | Callable[[], Engine], log: Log | None = None,
        scan_plan: Plan | None = None, on_done: Log | None = None, stop: StopRequest | None = None,
        progress: Progress | None = None) -> Inventory:
    """Plan (if not given), sweep and build the inventory; on_done(module) after each module finishes.
    engine may be a callable giving it (asked for once the sweep is over: it may still be compiling).

    log None: progress lines go to the camscan.scan logger (notes as warnings). A stop (see sweep) that left
    work undone gives an inventory of what was found, marked incomplete.
    """
    p = scan_plan or plan(req)
    for n in p.notes:   # the scanner's own address left out is expected; anything else costs findings
        _say(log, n, logging.INFO if n.startswith("own address") else logging.WARNING, note=True)
    started = datetime.now(UTC)
    ctx, obs = asyncio.run(sweep(p, req, log, on_done, stop, progress, engine))
    finished = datetime.now(UTC)
    if not isinstance(engine, Engine):
        engine = engine()
    if stop is None or not stop.cut:
        return inventory(p, req, ctx, obs, engine, started, finished)
    _say(log, f"scan stopped by {stop.reason}: the inventory holds what was found and is marked incomplete",
         logging.WARNING, stopped_by=stop.reason)
    inv = inventory(p, req, ctx, obs, engine, started, finished, complete=False)
    return dataclasses.replace(inv, scan=dataclasses.replace(inv.scan, stats={**inv.scan.stats,
                                                                             "stopped_by": stop.reason}))
