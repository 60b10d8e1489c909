"""nmap as the scanning engine (`--engine nmap`) and nmap XML as an observation source (`import-nmap`).

Engine: python-nmap runs `nmap -sn -n` (host discovery) over the scope, then `nmap -sV -n -Pn -p
<ports> --script http-server-header,http-title,banner` on the live hosts (shared/docs/protocols.md
section 9). `-n` is not optional: name resolution would send DNS queries outside the scope.
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
import ipaddress
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from defusedxml import ElementTree as SafeET

from scanner.discovery.base import DecodeError, Module, ScanContext
from scanner.discovery.tcp import DEFAULT_PORTS
from scanner.macaddr import normalise_mac
from scanner.models import Observation

MAX_XML_BYTES = 64 * 1024 * 1024
MAX_VALUE_CHARS = 1024
SCRIPTS = "http-server-header,http-title,banner"
#: nmap's banner script waits this long for a silent service (script-arg banner.timeout).
BANNER_TIMEOUT = "2s"
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

def discovery_args(excludes: Sequence[str]) -> str:
    """nmap arguments of the host-discovery pass."""
    ex = f" --exclude {','.join(excludes)}" if excludes else ""
    return f"-sn -n -T4{ex}"


def service_args() -> str:
    """nmap arguments of the service pass (ports are passed separately)."""
    return f"-sV -n -Pn -T4 --script {SCRIPTS} --script-args banner.timeout={BANNER_TIMEOUT}"


def nmap_available() -> bool:
    """True when both python-nmap and the nmap program are present."""
    try:
        import nmap
        nmap.PortScanner()
    except Exception:
        return False
    return True


class NmapEngine(Module):
    """Host discovery and service scan by nmap; fills ctx.hosts and yields the parsed observations."""

    name: ClassVar[str] = "nmap"
    signals: ClassVar[frozenset[str]] = frozenset({
        "mac", "hostname", "http.server", "http.title", "http.www_authenticate", "rtsp.server",
        "rtsp.www_authenticate", "ssh.banner", "telnet.banner", "tcp.port"})
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False   # nmap falls back to connect scans when not root
    phase: ClassVar[int] = 1

    def __init__(self, ports: Sequence[int] = DEFAULT_PORTS) -> None:
        self.ports = tuple(dict.fromkeys(ports))

    def _scan(self, ctx: ScanContext) -> tuple[str, str]:
        """Blocking: both nmap passes; returns (discovery XML, service XML)."""
        import nmap
        targets = " ".join(str(n) for n in ctx.scope.targets)
        excludes = [str(n) for n in ctx.scope.excludes]
        nm = nmap.PortScanner()
        nm.scan(hosts=targets, arguments=discovery_args(excludes), sudo=False)
        first: str = nm.get_nmap_last_output()
        if isinstance(first, bytes):
            first = first.decode("utf-8", errors="replace")
        live = [h.ip for h in parse_nmap_xml(first) if ctx.scope.allows(h.ip)]
        if not live:
            return first, ""
        nm.scan(hosts=" ".join(live), ports=",".join(str(p) for p in self.ports), arguments=service_args(),
                sudo=False)
        second: str = nm.get_nmap_last_output()
        if isinstance(second, bytes):
            second = second.decode("utf-8", errors="replace")
        return first, second

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        """Run nmap in a worker thread, then yield observations of in-scope hosts."""
        try:
            first, second = await asyncio.to_thread(self._scan, ctx)
        except Exception as e:  # python-nmap raises PortScannerError for a missing/failed nmap
            ctx.stats.error(self.name, None, f"nmap failed: {type(e).__name__}: {e}")
            return
        seen: set[tuple[str | None, str, str, int | None]] = set()
        for xml in (first, second):
            if not xml:
                continue
            try:
                hosts = parse_nmap_xml(xml)
            except DecodeError as e:
                ctx.stats.error(self.name, None, str(e))
                continue
            for h in hosts:
                if not ctx.scope.allows(h.ip):
                    ctx.stats.error(self.name, h.ip, "nmap reported a host outside the scope; ignored")
                    continue
                info = ctx.host(h.ip)
                if h.mac:
                    info.mac = info.mac or h.mac
                info.open_ports.update(p.port for p in h.ports if p.protocol == "tcp")
                for o in host_observations(h):
                    key = (o.ip, o.signal, o.value, o.port)
                    if key not in seen:
                        seen.add(key)
                        yield o


MODULE = NmapEngine
