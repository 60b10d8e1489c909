"""nmap as the scanning engine (`--engine nmap`) and nmap XML as an observation source (`import-nmap`).

Engine: one nmap run finds the live hosts and their open ports over the scope (`nmap -n -sS -p <camera ports>
--min-rate/--max-rate <NMAP_SHARE of --rate> --exclude <excludes, link network/broadcast> <targets>`: ARP on
the scanner's link, ICMP and TCP SYN/ACK pings beyond it); its XML is read as nmap writes it, so each host goes
to camscan's per-host modules (HTTP, RTSP, ONVIF, SNMP, directed WS-Discovery) as soon as nmap reports it. Then
`nmap -n -Pn -sS -p 22,23 --script banner` reads the SSH/telnet greetings of the hosts with those ports
open. `-n` is not optional: name resolution would send DNS queries outside the scope. No `-sV`: measured on the
lab `site` profile while building this engine (commit ab3bb94), nmap's service probes wait seconds on every
port that does not speak first (web, RTSP and vendor ports all wait for the client): `-sV` with the http/banner
scripts on every live host had not finished after 15 min, and even `--version-intensity 0` on ports 22, 23,
37777 of 65 hosts took 20 s, naming nothing that camscan's own modules and the banner script did not read
literally. The engine as it is: bench/results/scan_speed.site.engine-nmap.md.
A stop (the rate limiter halted) or a cancelled scan ends nmap.
Parser: `observations_from_nmap_xml` turns nmap's XML output (nmap.dtd: host/address, hostnames,
ports/port/service, script) into per-host observations, from either path.

What is faithful: the MAC address; PTR/user host names; script outputs that quote the device
(`http-server-header` = the literal Server header, `http-title` = the <title>, `banner` = the
first bytes a service sends, `Server:` and `WWW-Authenticate:` lines inside `fingerprint-strings`,
nmap's quote of the raw replies of a service it could not fully name). nmap's own service labels
(product/version/extrainfo) are not the device's words, so they are used only when no literal
output exists, joined as "product version (extrainfo)" (fingerprint rules can match them so).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import shutil
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from defusedxml import ElementTree as SafeET

from scanner.discovery.arp import local_links
from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.discovery.tcp import BANNER_PORTS as TCP_BANNER_PORTS
from scanner.discovery.tcp import DEFAULT_PORTS
from scanner.macaddr import normalise_mac
from scanner.models import Observation

_log = logging.getLogger("camscan.discovery.nmap")

MAX_XML_BYTES = 64 * 1024 * 1024
MAX_VALUE_CHARS = 1024
#: nmap service names -> the vocabulary signal a literal server banner of that service becomes.
SERVICE_SIGNALS: dict[str, str] = {
    "http": "http.server", "https": "http.server", "http-alt": "http.server",
    "http-proxy": "http.server", "ssl/http": "http.server", "rtsp": "rtsp.server",
    "ssh": "ssh.banner", "telnet": "telnet.banner",
}
_NO_TITLE_PREFIXES = ("Site doesn't have a title", "Did not follow redirect")
#: A Server header quoted in nmap's fingerprint-strings output (the raw reply to a probe).
_FP_SERVER = re.compile(r"^\s*Server:[ \t]*(\S.*?)\s*$", re.MULTILINE | re.IGNORECASE)
_FP_AUTH = re.compile(r"^\s*WWW-Authenticate:[ \t]*(\S.*?)\s*$", re.MULTILINE | re.IGNORECASE)
_AUTH_SIGNALS = {"http.server": "http.www_authenticate", "rtsp.server": "rtsp.www_authenticate"}


class NmapDecodeError(DecodeError):
    """An nmap XML report could not be read."""


@dataclass(frozen=True, slots=True)
class NmapPort:
    """One open port as nmap reported it."""

    port: int
    protocol: str
    service: str
    tunnel: str
    product: str
    version: str
    extrainfo: str
    scripts: tuple[tuple[str, str], ...]     # (script id, output)


@dataclass(frozen=True, slots=True)
class NmapHost:
    """One host that nmap reported up."""

    ip: str
    mac: str | None
    hostnames: tuple[str, ...]
    ports: tuple[NmapPort, ...]


def _clean(s: str | None) -> str:
    return (s or "").strip()[:MAX_VALUE_CHARS]


def parse_nmap_xml(xml_text: str | bytes, skipped: list[str] | None = None) -> list[NmapHost]:
    """Hosts with state "up" and a valid IPv4 address from nmap XML; raises NmapDecodeError only.

    An up host whose ipv4 address is not one is left out and, if `skipped` is given, named there by its
    position in the file (never by the address text, which is not a device's address).
    """
    if len(xml_text) > MAX_XML_BYTES:
        raise NmapDecodeError(f"nmap XML larger than {MAX_XML_BYTES} bytes")
    try:
        root = SafeET.fromstring(xml_text)
    except Exception as e:  # ParseError, DefusedXmlException, LookupError (encoding="x-..."), RecursionError
        raise NmapDecodeError(f"not valid nmap XML: {type(e).__name__}: {str(e)[:200]}") from None
    if root.tag != "nmaprun":
        raise NmapDecodeError(f"root element is <{str(root.tag)[:80]}>, not <nmaprun>")
    hosts: list[NmapHost] = []
    for n_host, h in enumerate(root.iter("host"), 1):
        status = h.find("status")
        if status is not None and status.get("state") != "up":
            continue
        ip = mac = None
        for a in h.findall("address"):
            kind = a.get("addrtype", "ipv4")
            if kind == "ipv4" and ip is None and _ipv4(a.get("addr") or ""):
                ip = a.get("addr")      # addr="not-an-ip" never reaches the inventory
            elif kind == "mac" and mac is None:
                mac = normalise_mac(a.get("addr") or "")
        if not ip:
            if skipped is not None and any(a.get("addrtype", "ipv4") == "ipv4" for a in h.findall("address")):
                skipped.append(f"host {n_host} of the report: its ipv4 address is not an IPv4 address; skipped")
            continue
        names = tuple(dict.fromkeys(_clean(n.get("name")) for n in h.iter("hostname") if n.get("name")))
        ports: list[NmapPort] = []
        for p in h.iter("port"):
            st = p.find("state")
            if st is None or st.get("state") != "open":
                continue
            portid_text = p.get("portid", "")
            if not re.fullmatch(r"[0-9]{1,5}", portid_text) or not 0 < (portid := int(portid_text)) < 65536:
                continue
            svc = p.find("service")
            sv = svc.attrib if svc is not None else {}
            scripts = tuple((_clean(s.get("id")), _clean(s.get("output"))) for s in p.findall("script"))
            ports.append(NmapPort(portid, p.get("protocol", "tcp"), _clean(sv.get("name")),
                                  _clean(sv.get("tunnel")), _clean(sv.get("product")),
                                  _clean(sv.get("version")), _clean(sv.get("extrainfo")), scripts))
        hosts.append(NmapHost(ip, mac, names, tuple(ports)))
    return hosts


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def _label(p: NmapPort) -> str:
    s = " ".join(x for x in (p.product, p.version) if x)
    return f"{s} ({p.extrainfo})" if s and p.extrainfo else s


def _service_signal(p: NmapPort) -> str | None:
    name = p.service.lower()
    if p.tunnel == "ssl" and name.startswith("http"):
        return "http.server"
    return SERVICE_SIGNALS.get(name)


def host_observations(h: NmapHost, at: float | None = None) -> list[Observation]:
    """The observations one nmap host gives (see the module docstring for what is used)."""
    at = time.time() if at is None else at
    out: list[Observation] = []

    def add(signal: str, value: str, port: int | None = None, source: str = "nmap") -> None:
        if value:
            out.append(Observation(signal, value, ip=h.ip, mac=h.mac, port=port, source=source, at=at))

    if h.mac:
        add("mac", h.mac)
    for n in h.hostnames:
        add("hostname", n)
    for p in h.ports:
        if p.protocol != "tcp":
            continue
        add("tcp.port", str(p.port), p.port)
        scripts = dict(p.scripts)
        signal = _service_signal(p)
        literal = False
        if "http-server-header" in scripts:
            add("http.server", _first_line(scripts["http-server-header"]), p.port)
            literal = True
        elif signal in ("http.server", "rtsp.server"):
            m = _FP_SERVER.search(scripts.get("fingerprint-strings", ""))
            if m:
                add(signal, m.group(1), p.port)
                literal = True
        if signal in _AUTH_SIGNALS:
            for challenge in dict.fromkeys(_FP_AUTH.findall(scripts.get("fingerprint-strings", ""))):
                add(_AUTH_SIGNALS[signal], challenge, p.port)
        title = scripts.get("http-title", "")
        if title and not title.startswith(_NO_TITLE_PREFIXES):
            add("http.title", _first_line(title), p.port)
        banner = scripts.get("banner", "")
        if banner and signal in ("ssh.banner", "telnet.banner"):
            add(signal, _first_line(banner), p.port)
            literal = True
        if signal and not literal and _label(p):
            add(signal, _label(p), p.port)
    return out


def observations_from_nmap_xml(xml_text: str | bytes, skipped: list[str] | None = None
                               ) -> dict[str, list[Observation]]:
    """ip -> observations for every up host in an nmap XML report (skipped: see parse_nmap_xml); raises
    NmapDecodeError only."""
    at = time.time()
    out: dict[str, list[Observation]] = {}
    for h in parse_nmap_xml(xml_text, skipped):
        out.setdefault(h.ip, []).extend(host_observations(h, at))
    return out


# ---- engine ----------------------------------------------------------------------------------

#: Ports whose first words (SSH identification, telnet greeting) nmap's banner script reads; camscan's own
#: per-host modules read every other open port (HTTP, RTSP, ONVIF), so nmap's service probes add nothing there.
BANNER_PORTS: tuple[int, ...] = tuple(sorted(TCP_BANNER_PORTS))
#: Those services speak first and at once; a silent one costs this long (script-arg banner.timeout).
BANNER_TIMEOUT = "1s"
#: TCP SYN host-discovery probes for addresses off the scanner's link, next to ICMP echo/timestamp and an ACK
#: to 80 (nmap's defaults); on the link nmap asks by ARP instead.
PING_PORTS: tuple[int, ...] = (80, 443, 554, 8000, 8080, 37777)
MAX_RETRIES = 2
HALT_POLL_S = 0.05     # how often a running nmap is checked against the scan's stop
KILL_GRACE_S = 0.5     # after SIGTERM, before SIGKILL
MAX_STDERR_BYTES = 4096
_HOST_START = re.compile(rb"<host[\s>]")
_HOST_END = b"</host>"


class NmapRunError(RuntimeError):
    """nmap could not be started or exited with an error."""


def _scan_type(privileged: bool, root: bool) -> list[str]:
    if not privileged:
        return ["-sT", "--unprivileged"]   # connect scan, no ARP: what an unprivileged process can do
    return ["-sS"] if root else ["-sS", "--privileged"]   # CAP_NET_RAW without uid 0


def _pps(rate: float) -> str:
    return str(max(1, round(rate)))


def sweep_args(targets: Sequence[str], excludes: Sequence[str], ports: Sequence[int], rate: float,
               privileged: bool = True, root: bool = True) -> list[str]:
    """nmap arguments of the one pass that finds the live hosts and their open ports (XML on stdout).

    Host discovery and the port scan are one run; nmap sends at `rate` probes per second (its share of the scan's
    --rate), never faster; no version detection (see the module docstring)."""
    pps = _pps(rate)
    args = ["-n", "-T4", *_scan_type(privileged, root), "-PE", "-PP", "-PS" + ",".join(map(str, PING_PORTS)),
            "-PA80", "-p", ",".join(map(str, ports)), "--min-rate", pps, "--max-rate", pps,
            "--max-retries", str(MAX_RETRIES), "-oX", "-"]
    if excludes:
        args += ["--exclude", ",".join(excludes)]
    return [*args, *targets]


def banner_args(hosts: Sequence[str], rate: float, privileged: bool = True, root: bool = True) -> list[str]:
    """nmap arguments of the banner pass over hosts already found live (XML on stdout)."""
    return ["-n", "-Pn", "-T4", *_scan_type(privileged, root), "-p", ",".join(map(str, BANNER_PORTS)),
            "--script", "banner", "--script-args", f"banner.timeout={BANNER_TIMEOUT}", "--max-rate",
            _pps(rate), "--max-retries", str(MAX_RETRIES), "-oX", "-", *hosts]


def split_hosts(buf: bytes) -> tuple[list[bytes], bytes]:
    """The complete <host> elements in buf (nmap -oX output so far), and the rest to keep for more output."""
    out: list[bytes] = []
    pos = 0
    while (m := _HOST_START.search(buf, pos)) is not None:
        end = buf.find(_HOST_END, m.start())
        if end < 0:
            return out, buf[m.start():]
        out.append(buf[m.start():end + len(_HOST_END)])
        pos = end + len(_HOST_END)
    return out, buf[max(pos, len(buf) - len(b"<host")):]   # a tail that may be the start of "<host "


def nmap_available() -> bool:
    """True when the nmap program is on the PATH."""
    return shutil.which("nmap") is not None


def _multicast_link(ctx: ScanContext) -> ipaddress.IPv4Network | None:
    """The subnet of the interface link-level discovery goes out of (ctx.interface_ip), if it is known."""
    if ctx.interface_ip is None:
        return None
    return next((net for _, ip, net in local_links() if ip == ctx.interface_ip), None)


async def _stopped(ctx: ScanContext) -> None:
    """Once the scan is stopping (nmap already ended), wait to be cancelled, as a module waiting for a send slot
    does: the sweep then knows the work was cut short."""
    if ctx.rate.halted:
        await asyncio.Event().wait()


#: nmap's share of --rate while it runs (it paces itself with --min-rate/--max-rate); the rest goes to camscan's
#: own per-host probes of the hosts nmap has already reported, so that together they never exceed --rate.
NMAP_SHARE = 0.75


class NmapEngine(Module):
    """Host discovery and port scan by nmap (then a banner pass on SSH/telnet ports); each host goes to the
    per-host modules as soon as nmap reports it."""

    name: ClassVar[str] = "nmap"
    signals: ClassVar[frozenset[str]] = frozenset({
        "mac", "hostname", "http.server", "http.title", "http.www_authenticate", "rtsp.server",
        "rtsp.www_authenticate", "ssh.banner", "telnet.banner", "tcp.port"})
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False   # nmap falls back to connect scans when not privileged
    phase: ClassVar[int] = 1

    def __init__(self, ports: Sequence[int] = DEFAULT_PORTS, program: str = "nmap") -> None:
        self.ports = tuple(dict.fromkeys(ports))
        self.program = program

    async def _nmap(self, ctx: ScanContext, args: list[str]) -> AsyncGenerator[NmapHost, None]:
        """Run nmap; yield each up host as nmap reports it. nmap is ended when the scan stops (no new probe),
        when this generator is closed or cancelled, and on any error; raises NmapRunError or NmapDecodeError."""
        _log.debug("nmap %s", " ".join(args), extra={"fields": {"module": self.name, "event": "nmap_run"}})
        ctx.stats.count("nmap.runs")
        try:
            # a session of its own: a Ctrl-C at the terminal reaches camscan only, which stops the scan and ends
            # nmap itself (nmap killed by the same signal would look like a failed run)
            proc = await asyncio.create_subprocess_exec(self.program, *args, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as e:
            raise NmapRunError(f"cannot run {self.program}: {e}") from None
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout, proc.stderr
        err_text = bytearray()

        async def read_err() -> None:
            while chunk := await err.read(4096):
                err_text.extend(chunk[:max(0, MAX_STDERR_BYTES - len(err_text))])

        err_task = asyncio.ensure_future(read_err())
        buf, total = b"", 0
        try:
            while not ctx.rate.halted:
                try:
                    chunk = await asyncio.wait_for(out.read(65536), HALT_POLL_S)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_XML_BYTES:
                    raise NmapDecodeError(f"nmap XML larger than {MAX_XML_BYTES} bytes")
                done, buf = split_hosts(buf + chunk)
                for block in done:
                    for h in parse_nmap_xml(b"<nmaprun>" + block + b"</nmaprun>"):
                        yield h
            else:
                return   # stopping: the finally clause ends nmap
            await err_task
            if await proc.wait() != 0:
                tail = err_text.decode("utf-8", "replace").strip()[-500:]
                raise NmapRunError(f"nmap exited with status {proc.returncode}: {tail}")
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
            err_task.cancel()

    def _host(self, ctx: ScanContext, h: NmapHost, link: ipaddress.IPv4Network | None,
              seen: set[tuple[str | None, str, str, int | None]]) -> list[Observation]:
        """Record one reported host in ctx (MAC, open ports, on the multicast link); its new observations."""
        if not ctx.scope.allows(h.ip):
            ctx.stats.error(self.name, h.ip, "nmap reported a host outside the scope; ignored")
            return []
        info = ctx.host(h.ip)
        if h.mac:
            info.mac = info.mac or h.mac
            if link is not None and ipaddress.IPv4Address(h.ip) in link:
                ctx.link_hosts.add(h.ip)   # nmap had its MAC by ARP on the link multicast discovery used
        info.open_ports.update(p.port for p in h.ports if p.protocol == "tcp")
        out: list[Observation] = []
        for o in host_observations(h):
            key = (o.ip, o.signal, o.value, o.port)
            if key not in seen:
                seen.add(key)
                out.append(o)
        return out

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Sweep the scope with nmap, handing each host on as it is reported; then read SSH/telnet banners."""
        if shutil.which(self.program) is None:
            ctx.stats.error(self.name, None, f"nmap failed: {self.program} is not installed (--engine nmap needs it)")
            return
        scope = ctx.scope
        targets = [str(n) for n in scope.targets]
        edges = [str(a) for a in sorted(scope.edges) if scope.allows(str(a))]   # network/broadcast of a link
        excludes = [str(n) for n in scope.excludes] + edges
        root = os.geteuid() == 0
        link = _multicast_link(ctx)
        seen: set[tuple[str | None, str, str, int | None]] = set()
        banner_hosts: list[str] = []
        t0 = time.monotonic()
        # nmap paces itself at its share of --rate; camscan's own probes (the per-host modules on the hosts it has
        # reported) get the rest meanwhile
        with ctx.rate.lend(NMAP_SHARE) as rate:
            ctx.stats.counters["nmap.rate"] = round(rate, 1)
            try:
                async with contextlib.aclosing(self._nmap(ctx, sweep_args(targets, excludes, self.ports, rate,
                                                                          ctx.privileged, root))) as hosts:
                    async for h in hosts:
                        for o in self._host(ctx, h, link, seen):
                            yield o
                        if scope.allows(h.ip):
                            ctx.stats.count("nmap.hosts")
                            if ctx.hosts[h.ip].open_ports & set(BANNER_PORTS):
                                banner_hosts.append(h.ip)
                            ctx.ports_probed(h.ip)
                await _stopped(ctx)
                ctx.stats.counters["seconds.nmap.sweep"] = round(time.monotonic() - t0, 3)
                if banner_hosts:
                    t0 = time.monotonic()
                    async with contextlib.aclosing(self._nmap(ctx, banner_args(banner_hosts, rate, ctx.privileged,
                                                                               root))) as hosts:
                        async for h in hosts:
                            for o in self._host(ctx, h, link, seen):
                                yield o
                    await _stopped(ctx)
                    ctx.stats.counters["seconds.nmap.banners"] = round(time.monotonic() - t0, 3)
            except (NmapRunError, DecodeError) as e:
                ctx.stats.error(self.name, None, f"nmap failed: {e}")


MODULE = NmapEngine
