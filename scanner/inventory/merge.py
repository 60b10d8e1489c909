"""Group observations into devices (by MAC, then IP) and identify each with the engine (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner.inventory.resolve import identification_to_dict, identify
from scanner.macaddr import normalise_mac
from scanner.match.engine import Engine
from scanner.models import Identification, Observation


@dataclass(slots=True)
class DeviceGroup:
    """The observations that belong to one device, and the addresses it was seen at."""

    ips: set[str] = field(default_factory=set)
    macs: set[str] = field(default_factory=set)
    observations: list[Observation] = field(default_factory=list)


def _ip_key(ip: str) -> tuple[int, ...]:
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
    out.sort(key=lambda g: min(_ip_key(i) for i in g.ips))
    return out


DEVICE_KEYS = ("ip", "mac", "hostnames", "open_ports", "vendor", "brand", "model", "firmware", "serial",
               "category", "confidence", "concerns", "advisories", "evidence", "discovered_by", "channels")


def device_record(group: DeviceGroup, ident: Identification, *, open_ports: Iterable[int] = (),
                  channels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The inventory.json device entry (schema camscan.inventory/1: exactly DEVICE_KEYS)."""
    ips = sorted(group.ips, key=_ip_key)
    ident_d = identification_to_dict(ident)
    hostnames = sorted({o.value for o in group.observations if o.signal == "hostname"})
    return {
        "ip": ips[0] if ips else None,
        "mac": ident.mac,
        "hostnames": hostnames,
        "open_ports": sorted(set(open_ports)),
        "vendor": ident.vendor,
        "brand": ident.brand,
        "model": ident.model,
        "firmware": ident.firmware,
        "serial": ident.serial,
        "category": ident.category,
        "confidence": ident.confidence,
        "concerns": ident_d["concerns"],
        "advisories": ident_d["advisories"],
        "evidence": ident_d["evidence"],
        "discovered_by": sorted({o.source for o in group.observations if o.source}),
        "channels": channels or [],
    }


def build_devices(observations: Iterable[Observation], engine: Engine, *,
                  open_ports: Mapping[str, Iterable[int]] | None = None,
                  channels: Mapping[str, list[dict[str, Any]]] | None = None,
                  concern_lists: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Group, identify and render every device seen."""
    lists = None if concern_lists is None else list(concern_lists)
    out: list[dict[str, Any]] = []
    for g in group_observations(observations):
        ident = identify(engine, g.observations, lists)
        ports: set[int] = set()
        chans: list[dict[str, Any]] = []
        for ip in g.ips:
            ports |= set((open_ports or {}).get(ip, ()))
            chans += list((channels or {}).get(ip, []))
        out.append(device_record(g, ident, open_ports=ports, channels=chans))
    return out
