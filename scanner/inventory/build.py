"""Build the typed inventory from a scan's observations (pure): group them into devices, identify each,
and attach what the scan knows of its host (open ports, a recorder's channels) and of its site range."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from scanner.inventory.merge import DeviceGroup, group_observations, ip_key
from scanner.inventory.records import Behind, Channel, Device, Inventory, ScanInfo, SiteInfo, SiteRange, Via
from scanner.inventory.resolve import identify
from scanner.macaddr import normalise_mac
from scanner.match.composite import CompositeError, parse_dhip, parse_sadp
from scanner.match.engine import Engine
from scanner.match.load import SURVEILLANCE_CATEGORIES
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
    groups = group_observations(observations)
    for g in groups:
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
    devices = behind_recorders(devices, engine, {ip: g for g in groups for ip in g.ips}, lists)
    devices.sort(key=_order)
    return Inventory(site=site, scan=scan, devices=tuple(devices))


def _order(d: Device) -> tuple[tuple[int, ...], int, tuple[int, ...], str]:
    """Address order, each camera seen only through a recorder listed right after its recorder."""
    if d.via is not None and d.via.matched_by is None:
        token = d.via.channel
        return ip_key(d.via.recorder), 1, (int(token),) if token.isdigit() and len(token) < 9 else (0,), token
    return ip_key(d.ip), 0, (), ""


#: Kinds of device whose channels are cameras behind them (a multi-sensor camera's video sources are not).
RECORDER_KINDS: Final = frozenset({"nvr", "dvr", "encoder"})


def stated_channels(observations: Iterable[Observation]) -> tuple[int | None, str | None]:
    """The channel count a device states without credentials (SADP AnalogChannelNum+DigitalChannelNum, DHIP
    VideoInputChannels+RemoteVideoInputChannels) and which fields said so; (None, None) when it states none."""
    for o in observations:
        try:
            if o.signal == "sadp.reply":
                f, keys = parse_sadp(o.value), ("AnalogChannelNum", "DigitalChannelNum")
                label = "sadp AnalogChannelNum+DigitalChannelNum"
            elif o.signal == "dhip.reply":
                f = parse_dhip(o.value)
                keys = ("deviceInfo.VideoInputChannels", "deviceInfo.RemoteVideoInputChannels")
                label = "dhip VideoInputChannels+RemoteVideoInputChannels"
            else:
                continue
        except CompositeError:
            continue
        counts = [int(f[k]) for k in keys if f.get(k, "").isascii() and f.get(k, "").isdigit()
                  and len(f[k]) <= 4]
        if counts:
            return sum(counts), label
    return None, None


def same_camera(ch: Channel, d: Device) -> str | None:
    """How a recorder's channel and a directly seen device are one camera: serial, mac, address+model, or address
    when the recorder says nothing but the address; None when they are not shown to be one."""
    if ch.serial and d.serial and ch.serial.strip().upper() == d.serial.strip().upper():
        return "serial"
    mac = normalise_mac(ch.mac or "")
    if mac and d.mac and mac == d.mac:
        return "mac"
    if ch.ip and (ch.ip == d.ip or ch.ip in d.ips):
        if ch.model and d.model and ch.model.strip().upper() == d.model.strip().upper():
            return "address+model"
        if not ch.identified:     # the recorder gives nothing but the address it pulls the stream from
            return "address"
    return None


def _channel_observations(ch: Channel, at: str) -> list[Observation]:
    """What the recorder relays of a camera, as the device information it is (the camera's ONVIF identity or its
    maker's protocol fields); source 'recorder'. The camera itself is never contacted."""
    pairs = [("onvif.manufacturer", ch.maker), ("onvif.model", ch.model), ("onvif.firmware", ch.firmware),
             ("onvif.serial", ch.serial), ("mac", normalise_mac(ch.mac or ""))]
    if ch.protocol and ch.protocol.strip().upper() == "HIKVISION" and not ch.maker:
        # ISAPI proxyProtocol HIKVISION: the camera speaks Hikvision's own SDK protocol, which only
        # Hikvision-made devices (OEM brands included) speak (Hikvision ISAPI, InputProxy channel)
        pairs.append(("onvif.manufacturer", "HIKVISION"))
    return [Observation(sig, v, ip=at, source="recorder") for sig, v in pairs if v]


def behind_recorders(devices: list[Device], engine: Engine, groups: Mapping[str, DeviceGroup],
                     lists: list[str] | None) -> list[Device]:
    """The cameras behind each recorder as devices of their own: a channel that is a directly seen device is
    merged into it (its `via` says how they matched); any other becomes a device identified from what the
    recorder reports (`via`, discovered_by 'recorder', address as reported, never contacted); a bare video
    source (no address, maker, model, serial or MAC) is no camera. Recorders get `behind`: how many channels
    they listed and how many they state without credentials."""
    out = list(devices)
    recorders: list[int] = []
    for i, d in enumerate(devices):
        listed_cameras = any(ch.ip or ch.identified for ch in d.channels)
        if d.category in RECORDER_KINDS or listed_cameras:
            recorders.append(i)
            stated, stated_by = stated_channels(groups[d.ip].observations) if d.ip in groups else (None, None)
            out[i] = replace(d, behind=Behind(len(d.channels) if d.channels else None, stated, stated_by))
    extra: list[Device] = []
    index: dict[str, list[int]] = {}    # serial, MAC and addresses -> devices: candidates for same_camera
    for j, d in enumerate(devices):
        keys = {f"s:{d.serial.strip().upper()}" if d.serial else "", f"m:{d.mac}" if d.mac else "",
                *(f"a:{a}" for a in (d.ip, *d.ips))} - {""}
        for k in keys:
            index.setdefault(k, []).append(j)
    for i in recorders:
        r = out[i]
        for ch in r.channels:
            if not (ch.ip or ch.identified):
                continue    # a bare video source: recorders list one per input, connected or not
            via = Via(r.ip, r.mac, r.serial, ch.token, ch.source, ch)
            mac = normalise_mac(ch.mac or "")
            near = sorted({j for k in (f"s:{ch.serial.strip().upper()}" if ch.serial else "",
                                       f"m:{mac}" if mac else "", f"a:{ch.ip}" if ch.ip else "")
                           for j in index.get(k, ())})
            hit = next(((j, how) for j in near if j != i and out[j].via is None
                        and (how := same_camera(ch, out[j]))), None)
            if hit is not None:
                out[hit[0]] = replace(out[hit[0]], via=replace(via, matched_by=hit[1]))
                continue
            obs = _channel_observations(ch, ch.ip or r.ip)
            ident = identify(engine, obs, lists)
            extra.append(Device(
                ip=ch.ip or r.ip, mac=ident.mac, hostnames=(), open_ports=(), vendor=ident.vendor,
                brand=ident.brand, model=ident.model, firmware=ident.firmware, serial=ident.serial,
                # a recorder's video channel is a surveillance device even when nothing names its kind
                category=ident.category if ident.category in SURVEILLANCE_CATEGORIES else "video",
                confidence=ident.confidence, concerns=ident.concerns, advisories=ident.advisories,
                evidence=ident.evidence, discovered_by=("recorder",), survey=r.survey, conflicts=ident.conflicts,
                ips=(ch.ip or r.ip,), via=via))
    return out + extra


def site_info(name: str | None, organisation: str | None,
              ranges: Iterable[tuple[str, str | None, int | None]]) -> SiteInfo:
    """SiteInfo from a site's name, organisation and (cidr, survey, vlan) ranges."""
    return SiteInfo(name, organisation, tuple(SiteRange(c, s, v) for c, s, v in ranges))


def count_once(inventories: Sequence[Sequence[Device]]) -> list[list[Device]]:
    """Each scan's devices without the cameras it saw only through a recorder that another scan (another site)
    saw directly with the same serial or MAC: one camera, one count, where it answered. Addresses are not
    compared across scans (two sites' private networks reuse them: a Hikvision camera's factory 192.168.1.64)."""
    direct = [d for devs in inventories for d in devs if d.via is None or d.via.matched_by is not None]
    out = []
    for devs in inventories:
        out.append([d for d in devs if d.via is None or d.via.matched_by is not None
                    or not any(same_camera(d.via.reported, x) in ("serial", "mac") for x in direct)])
    return out
