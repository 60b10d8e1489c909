"""Group observations into devices: by IP, joined across addresses by MAC (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from scanner.macaddr import normalise_mac
from scanner.models import Observation


@dataclass(slots=True)
class DeviceGroup:
    """The observations that belong to one device, and the addresses it was seen at."""

    ips: set[str] = field(default_factory=set)
    macs: set[str] = field(default_factory=set)
    observations: list[Observation] = field(default_factory=list)


def ip_key(ip: str) -> tuple[int, ...]:
    """Sort key: IPv4 addresses in numeric order, anything else after them."""
    try:
        return (int(ipaddress.IPv4Address(ip)),)
    except ValueError:
        return (1 << 33,)


def group_observations(observations: Iterable[Observation]) -> list[DeviceGroup]:
    """One group per device: observations sharing an IP, or an IP whose MAC another IP shares, join."""
    by_ip: dict[str, DeviceGroup] = {}
    by_mac: dict[str, DeviceGroup] = {}
    orphans: list[Observation] = []
    for ob in observations:
        mac = normalise_mac(ob.mac) if ob.mac else None
        if ob.signal == "mac" and mac is None:
            mac = normalise_mac(ob.value)
        if ob.ip is None:
            if mac is not None and mac in by_mac:
                by_mac[mac].observations.append(ob)
            else:
                orphans.append(ob)
            continue
        g = by_ip.get(ob.ip)
        if g is None and mac is not None and mac in by_mac:
            g = by_mac[mac]
        if g is None:
            g = DeviceGroup()
        g.ips.add(ob.ip)
        by_ip[ob.ip] = g
        if (mac is not None and ob.signal == "mac") or (mac is not None and ob.source in ("arp", "nmap")):
            other = by_mac.get(mac)
            if other is not None and other is not g:
                # same MAC seen at two addresses: one device with two IPs
                other.ips |= g.ips
                other.observations += g.observations
                other.macs |= g.macs
                for ip in g.ips:
                    by_ip[ip] = other
                g = other
            g.macs.add(mac)
            by_mac[mac] = g
        g.observations.append(ob)
    for ob in orphans:
        mac = normalise_mac(ob.mac) if ob.mac else None
        if mac is not None and mac in by_mac:
            by_mac[mac].observations.append(ob)
    seen: set[int] = set()
    out: list[DeviceGroup] = []
    for g in by_ip.values():
        if id(g) not in seen:
            seen.add(id(g))
            out.append(g)
    out.sort(key=lambda g: min(ip_key(i) for i in g.ips))
    return out
