"""Build the typed inventory from a scan's observations (pure): group them into devices, identify each,
and attach what the scan knows of its host (open ports, a recorder's channels) and of its site range."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scanner.inventory.merge import DeviceGroup, group_observations, ip_key
from scanner.inventory.records import Channel, Device, Inventory, ScanInfo, SiteInfo, SiteRange
from scanner.inventory.resolve import identify
from scanner.match.engine import Engine
from scanner.models import Identification, Observation


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What the scan learnt about one address besides observations (from ScanContext.hosts)."""

    mac: str | None = None
    open_ports: frozenset[int] = frozenset()
    channels: tuple[Channel, ...] = ()


@dataclass(slots=True)
class _Surveys:
    nets: list[tuple[ipaddress.IPv4Network, str]] = field(default_factory=list)

    def of(self, ip: str) -> str | None:
        try:
            a = ipaddress.IPv4Address(ip)
        except ValueError:
            return None
        best: tuple[int, str] | None = None
        for net, survey in self.nets:   # the most specific tagged range wins
            if a in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, survey)
        return best[1] if best else None


def _surveys(site: SiteInfo) -> _Surveys:
    out = _Surveys()
    for r in site.ranges:
        if r.survey:
            try:
                out.nets.append((ipaddress.IPv4Network(r.cidr, strict=False), r.survey))
            except ValueError:
                continue
    return out


def device(group: DeviceGroup, ident: Identification, *, survey: str | None = None,
           facts: Iterable[HostFacts] = ()) -> Device:
    """One inventory device from its observations' group, its identification and its hosts' facts."""
    facts = list(facts)
    ips = tuple(sorted(group.ips, key=ip_key))
    ports = {int(o.value) for o in group.observations
             if o.signal == "tcp.port" and o.value.isascii() and o.value.isdigit() and len(o.value) <= 5}
    for f in facts:
        ports |= f.open_ports
    return Device(
        ip=ips[0] if ips else "",
        mac=ident.mac,
        hostnames=tuple(sorted({o.value for o in group.observations if o.signal == "hostname"})),
        open_ports=tuple(sorted(p for p in ports if 0 < p < 65536)),
        vendor=ident.vendor, brand=ident.brand, model=ident.model, firmware=ident.firmware, serial=ident.serial,
        category=ident.category, confidence=ident.confidence, concerns=ident.concerns,
        advisories=ident.advisories, evidence=ident.evidence,
        discovered_by=tuple(sorted({o.source for o in group.observations if o.source})),
        channels=tuple(ch for f in facts for ch in f.channels),
        survey=survey, conflicts=ident.conflicts, ips=ips)


def build(observations: Iterable[Observation], engine: Engine, scan: ScanInfo, site: SiteInfo | None = None, *,
          hosts: Mapping[str, HostFacts] | None = None,
          concern_lists: Iterable[str] | None = None) -> Inventory:
    """The inventory of a scan: every device its observations show, plus live hosts that said nothing
    identifiable (named by their MAC at most), in address order."""
    site = site or SiteInfo()
    hosts = hosts or {}
    lists = None if concern_lists is None else list(concern_lists)
    surveys = _surveys(site)
    devices: list[Device] = []
    seen: set[str] = set()
    for g in group_observations(observations):
        ident = identify(engine, g.observations, lists)
        first = min(g.ips, key=ip_key) if g.ips else ""
        devices.append(device(g, ident, survey=surveys.of(first), facts=[hosts[ip] for ip in g.ips if ip in hosts]))
        seen |= g.ips
    for ip, h in hosts.items():
        if ip in seen:
            continue
        extra = [Observation("mac", h.mac, ip=ip, source="arp")] if h.mac else []
        g = DeviceGroup(ips={ip}, observations=extra)
        devices.append(device(g, identify(engine, extra, lists), survey=surveys.of(ip), facts=[h]))
    devices.sort(key=lambda d: ip_key(d.ip))
    return Inventory(site=site, scan=scan, devices=tuple(devices))


def site_info(name: str | None, organisation: str | None,
              ranges: Iterable[tuple[str, str | None, int | None]]) -> SiteInfo:
    """SiteInfo from a site's name, organisation and (cidr, survey, vlan) ranges."""
    return SiteInfo(name, organisation, tuple(SiteRange(c, s, v) for c, s, v in ranges))
