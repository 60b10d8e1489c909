"""Lab profiles: which personas a site holds, how many of each, where they sit and which cameras an
NVR records; plus the deterministic choices of `lab mutate`."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scanner.errors import InputError
from scanner.lab.model import HiddenCamera, Persona

SURVEILLANCE_SMALL = (
    "hikvision-camera", "hikvision-nvr", "hikvision-anpr", "ezviz-camera", "lts-camera",
    "dahua-camera", "dahua-nvr", "dahua-anpr", "amcrest-camera", "lorex-nvr", "honeywell-camera",
    "huawei-camera", "uniview-camera", "axis-camera", "hanwha-camera", "bosch-camera",
    "milesight-camera", "tiandy-camera", "bodyworn-dock", "dji-dock",
)
IT_SMALL = ("huawei-router", "printer", "managed-switch", "windows-pc", "linux-nginx", "embedded-generic")
HOSTILE = (
    "hostile-xml-bomb", "hostile-huge-http", "hostile-drip", "hostile-malformed-sadp",
    "hostile-malformed-dhip", "hostile-bad-utf8", "hostile-wsd-outside",
    "hostile-wsd-unknown-encoding", "hostile-wsd-broken-xaddrs", "hostile-wsd-flood",
    "hostile-ssdp-unknown-encoding", "hostile-ssdp-broken-location", "hostile-http-odd-charset",
    "hostile-http-bad-length", "hostile-injection", "hostile-reset", "hostile-slow",
)

# A police site: most cameras are Hikvision or Dahua (and their rebrands), a few premium makers
# (Axis, Hanwha, Bosch), ANPR at the gates, body-worn docks in the kit room; the rest is office IT.
SITE_MIX: tuple[tuple[str, int], ...] = (
    ("hikvision-camera", 31), ("hikvision-nvr", 3), ("hikvision-anpr", 2), ("ezviz-camera", 3),
    ("lts-camera", 3),
    ("dahua-camera", 22), ("dahua-nvr", 2), ("dahua-anpr", 2), ("amcrest-camera", 3), ("lorex-nvr", 1),
    ("honeywell-camera", 3),
    ("huawei-camera", 2), ("uniview-camera", 4), ("axis-camera", 6), ("hanwha-camera", 3),
    ("bosch-camera", 3), ("milesight-camera", 2), ("tiandy-camera", 2), ("bodyworn-dock", 2),
    ("dji-dock", 1),
    ("windows-pc", 80), ("printer", 14), ("managed-switch", 12), ("linux-nginx", 18),
    ("embedded-generic", 19), ("huawei-router", 3),
)

# Which persona's lab-host cameras an NVR persona records over the site LAN, and how many channels it has.
NVR_CHANNELS: Mapping[str, tuple[str, ...]] = {
    "hikvision-nvr": ("hikvision-camera", "lts-camera"),
    "dahua-nvr": ("dahua-camera", "honeywell-camera"),
    "lorex-nvr": ("amcrest-camera", "dahua-camera"),
    "lts-nvr": ("lts-camera", "hikvision-camera"),
}
MAX_CHANNELS = 8

# Cameras a recorder hides on its internal PoE network (issue 13): per recorder persona, one recipe per
# recorder of that persona in index order (recorders past the last recipe hide none). Used by `recorders` only.
Recipe = tuple[tuple[str, int], ...]
RECORDERS_HIDDEN: tuple[tuple[str, tuple[Recipe, ...]], ...] = (
    ("hikvision-nvr", (
        (("hikvision-camera", 3), ("lts-camera", 1), ("hikvision-anpr", 1)),
        (("hikvision-camera", 2), ("ezviz-camera", 1), ("axis-camera", 1)),
    )),
    ("dahua-nvr", ((("dahua-camera", 2), ("amcrest-camera", 1), ("hikvision-camera", 1), ("dahua-anpr", 1)),)),
    ("lorex-nvr", ((("dahua-camera", 1), ("amcrest-camera", 1), ("honeywell-camera", 1), ("uniview-camera", 1)),)),
    ("lts-nvr", ((("lts-camera", 3), ("hikvision-camera", 1)),)),
)
# A /24 with five recorders hiding 22 cameras; three cameras of the LAN are recorded too (and seen directly),
# two are on no recorder; a little office IT around them.
RECORDERS_MIX: tuple[tuple[str, int], ...] = (
    ("hikvision-nvr", 2), ("dahua-nvr", 1), ("lorex-nvr", 1), ("lts-nvr", 1),
    ("hikvision-camera", 2), ("amcrest-camera", 1), ("axis-camera", 1), ("hanwha-camera", 1),
    ("windows-pc", 3), ("printer", 1), ("managed-switch", 1), ("linux-nginx", 1),
)
HIDDEN_SPACE = ipaddress.IPv4Network("198.19.0.0/16")   # recorders' internal networks: 198.19.<k>.0/24
OUTSIDE_BLOCK = ipaddress.IPv4Network("198.19.200.0/24")  # holds services.context.OUTSIDE_IP: never used here


@dataclass(frozen=True, slots=True)
class Profile:
    """A named site recipe: default subnet and how many hosts of each persona."""

    name: str
    subnet: str
    mix: tuple[tuple[str, int], ...]
    hidden: tuple[tuple[str, tuple[Recipe, ...]], ...] = ()   # recorders' hidden cameras (RECORDERS_HIDDEN)

    @property
    def size(self) -> int:
        """Number of hosts the profile brings up."""
        return sum(n for _, n in self.mix)


def _scaled(mix: Sequence[tuple[str, int]], total: int) -> tuple[tuple[str, int], ...]:
    have = sum(n for _, n in mix)
    out = [(p, max(1, round(n * total / have))) for p, n in mix]
    diff = total - sum(n for _, n in out)
    return tuple((p, n + diff) if p == "windows-pc" else (p, n) for p, n in out)


PROFILES: Mapping[str, Profile] = {
    "small": Profile("small", "198.18.0.0/24", tuple((p, 1) for p in SURVEILLANCE_SMALL + IT_SMALL)),
    "hostile": Profile("hostile", "198.18.0.0/24",
                       tuple((p, 1) for p in SURVEILLANCE_SMALL + IT_SMALL + HOSTILE)),
    "site": Profile("site", "198.18.0.0/24", SITE_MIX),
    "sparse16": Profile("sparse16", "198.18.0.0/16", _scaled(SITE_MIX, 300)),
    "recorders": Profile("recorders", "198.18.0.0/24", RECORDERS_MIX, RECORDERS_HIDDEN),
}


@dataclass(frozen=True, slots=True)
class PlannedHost:
    """One host of a plan: its index (namespace number), address, MAC and identity."""

    index: int
    ip: str
    mac: str
    persona: str
    serial: str
    firmware: str
    hostname: str
    channels: tuple[str, ...] = ()
    hidden: tuple[HiddenCamera, ...] = ()


def get_profile(name: str) -> Profile:
    """The profile called NAME, or InputError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown lab profile {name!r} (known: {', '.join(PROFILES)})") from None


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def make_mac(oui: str, seed: int, index: int | str, taken: set[str]) -> str:
    """A MAC with the persona's OUI and a tail derived from (seed, index), unique within TAKEN."""
    salt = 0
    while True:
        tail = _digest("mac", seed, index, salt)[:3]
        mac = (oui.lower() + ":" + ":".join(f"{b:02x}" for b in tail))
        if mac not in taken:
            taken.add(mac)
            return mac
        salt += 1


def scanner_mac(seed: int) -> str:
    """The scanner's MAC: locally administered (02:...), derived from the seed."""
    return "02:ca:5c:" + ":".join(f"{b:02x}" for b in _digest("scanner", seed)[:3])


def make_serial(persona: Persona, seed: int, index: int | str) -> str:
    """A deterministic serial number; a persona may give `serial_prefix` and `serial_alphabet` in its spec."""
    given = persona.spec.get("serial_alphabet")
    alphabet = given if isinstance(given, str) and given else "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    d = _digest("serial", seed, index)
    body = "".join(alphabet[b % len(alphabet)] for b in d[:12])
    prefix = persona.spec.get("serial_prefix")
    return f"{prefix}{body}" if isinstance(prefix, str) else body


def make_hostname(persona: Persona, mac: str) -> str:
    """A hostname as devices name themselves: brand (or kind) plus the MAC tail."""
    stem = persona.brand or persona.name.split("-")[0]
    return f"{stem}-{mac.replace(':', '')[6:]}".lower()


def reflashed(firmware: str, persona: Persona, rng: random.Random) -> str:
    """A different firmware version for a host: one of the persona's `firmware_alternatives` if it
    lists some, else the version number bumped (last part of the first dotted number, e.g.
    V5.5.82 -> V5.5.83; the last number of the string if there is no dotted one)."""
    alts = [str(a) for a in persona.spec.get("firmware_alternatives", ()) or () if str(a) != firmware]
    if alts:
        return rng.choice(alts)
    dotted = re.search(r"\d+(?:\.\d+)+", firmware)
    if dotted:
        last = list(re.finditer(r"\d+", dotted.group()))[-1]
        start, end = dotted.start() + last.start(), dotted.start() + last.end()
    else:
        numbers = list(re.finditer(r"\d+", firmware))
        if not numbers:
            return firmware + ".1"
        start, end = numbers[-1].start(), numbers[-1].end()
    old = firmware[start:end]
    return firmware[:start] + str(int(old) + 1).zfill(len(old)) + firmware[end:]


def address_pool(net: ipaddress.IPv4Network, scanner_ip: str) -> list[str]:
    """Host addresses of NET available to lab hosts (not network, broadcast or the scanner)."""
    return [str(a) for a in net.hosts() if str(a) != scanner_ip]


def choose_addresses(net: ipaddress.IPv4Network, scanner_ip: str, count: int, rng: random.Random,
                     taken: set[str]) -> list[str]:
    """COUNT free addresses of NET picked at random (sorted), avoiding TAKEN and the scanner."""
    if net.num_addresses <= 4096:
        free = [a for a in address_pool(net, scanner_ip) if a not in taken]
        if len(free) < count:
            raise InputError(f"lab subnet {net} has only {len(free)} free addresses")
        picked = sorted(rng.sample(range(len(free)), count))
        return [free[i] for i in picked]
    # a large subnet: draw addresses instead of listing them all; skip .0 and .255, which some
    # stacks mishandle
    out: list[str] = []
    base, size = int(net.network_address), net.num_addresses
    while len(out) < count:
        a = ipaddress.IPv4Address(base + rng.randrange(1, size - 1))
        s = str(a)
        if s == scanner_ip or s in taken or s.endswith(".0") or s.endswith(".255"):
            continue
        taken.add(s)
        out.append(s)
    return sorted(out, key=lambda s: int(ipaddress.IPv4Address(s)))


def assign_channels(hosts: Sequence[PlannedHost]) -> list[PlannedHost]:
    """Give every NVR without channels the addresses of cameras of its kind that no other NVR records, up to
    its 8 channels less those its hidden cameras take (NVRs that already have channels keep them)."""
    used = {ip for h in hosts for ip in h.channels}
    by_persona: dict[str, list[str]] = {}
    for h in hosts:
        by_persona.setdefault(h.persona, []).append(h.ip)
    out: list[PlannedHost] = []
    for h in hosts:
        if h.persona in NVR_CHANNELS and not h.channels:
            pool = [ip for p in NVR_CHANNELS[h.persona] for ip in by_persona.get(p, []) if ip not in used]
            mine = tuple(pool[:max(0, MAX_CHANNELS - len(h.hidden))])
            used.update(mine)
            h = dataclasses.replace(h, channels=mine)
        out.append(h)
    return out


def plan(profile: Profile, seed: int, net: ipaddress.IPv4Network, scanner_ip: str,
         personas: Mapping[str, Persona]) -> list[PlannedHost]:
    """The hosts of PROFILE for this seed: deterministic addresses, MACs, serials and NVR channels."""
    missing = sorted({p for p, _ in profile.mix} - set(personas))
    if missing:
        raise InputError(f"profile {profile.name} needs personas that are not defined: {', '.join(missing)}")
    rng = random.Random(seed)
    names = [p for p, n in profile.mix for _ in range(n)]
    rng.shuffle(names)
    ips = choose_addresses(net, scanner_ip, len(names), rng, set())
    macs: set[str] = set()
    hosts: list[PlannedHost] = []
    for i, (name, ip) in enumerate(zip(names, ips, strict=True), start=1):
        hosts.append(new_host(personas[name], seed, i, ip, macs))
    if profile.hidden:
        hosts = hide_cameras(hosts, profile.hidden, seed, net, personas, macs)
    return assign_channels(hosts)


def internal_networks(net: ipaddress.IPv4Network, count: int) -> list[ipaddress.IPv4Network]:
    """COUNT recorder-internal /24s in 198.19.0.0/16 (198.19.1.0/24 up), clear of the lab subnet NET and of
    the block of the lab's outside address: nothing of the lab is ever routed to them."""
    out: list[ipaddress.IPv4Network] = []
    for k in range(1, 255):
        cand = ipaddress.IPv4Network(f"198.19.{k}.0/24")
        if cand.overlaps(net) or cand == OUTSIDE_BLOCK:
            continue
        out.append(cand)
        if len(out) == count:
            return out
    raise InputError(f"no room in {HIDDEN_SPACE} for {count} recorder networks beside lab subnet {net}")


def hidden_camera(camera: Persona, recorder: Persona, seed: int, recorder_index: int, channel: int, ip: str,
                  macs: set[str]) -> HiddenCamera:
    """Camera CAMERA on channel CHANNEL of recorder number RECORDER_INDEX (a RECORDER persona) at internal IP."""
    key = f"hidden:{recorder_index}:{channel}"
    identity = camera.spec.get("identity", {})
    maker = str(identity.get("manufacturer", camera.brand or "")) if isinstance(identity, dict) else ""
    rtsp = camera.spec.get("rtsp", {})
    path = str(rtsp.get("path", "/")) if isinstance(rtsp, dict) else "/"
    # a recorder speaks its own maker's protocol to cameras of the same maker (OEM rebrands included)
    protocol = "private" if camera.vendor is not None and camera.vendor == recorder.vendor else "onvif"
    assert camera.vendor is not None and camera.brand is not None
    return HiddenCamera(channel=channel, ip=ip, mac=make_mac(camera.oui, seed, key, macs),
                        serial=make_serial(camera, seed, key), model=camera.model, firmware=camera.firmware,
                        maker=maker, protocol=protocol, rtsp_path=path, persona=camera.name,
                        vendor=camera.vendor, brand=camera.brand, category=camera.category)


def hide_cameras(hosts: Sequence[PlannedHost], recipes: Sequence[tuple[str, Sequence[Recipe]]], seed: int,
                 net: ipaddress.IPv4Network, personas: Mapping[str, Persona], macs: set[str]) -> list[PlannedHost]:
    """Give recorders their hidden cameras: the k-th recorder of a persona takes that persona's k-th recipe,
    on channels 1..n (its PoE ports), addressed .2, .3... in its own internal /24 (.1 is the recorder's side,
    as on real PoE recorders, e.g. Hikvision's 192.168.254.0/24)."""
    by_persona = dict(recipes)
    ordinal: dict[str, int] = {}
    chosen: list[tuple[int, Recipe]] = []
    for i, h in enumerate(hosts):
        k = ordinal.get(h.persona, 0)
        ordinal[h.persona] = k + 1
        mine = by_persona.get(h.persona, ())
        if k < len(mine):
            chosen.append((i, mine[k]))
    for recipe in (r for _, r in chosen):
        missing = sorted({p for p, _ in recipe} - set(personas))
        if missing:
            raise InputError(f"hidden cameras need personas that are not defined: {', '.join(missing)}")
    out = list(hosts)
    for (i, recipe), inner in zip(chosen, internal_networks(net, len(chosen)), strict=True):
        h = out[i]
        names = [p for p, n in recipe for _ in range(n)]
        if len(names) > MAX_CHANNELS:
            raise InputError(f"{h.persona} at {h.ip} cannot hide {len(names)} cameras on {MAX_CHANNELS} channels")
        hidden = tuple(hidden_camera(personas[name], personas[h.persona], seed, h.index, ch,
                                     str(inner.network_address + ch + 1), macs)
                       for ch, name in enumerate(names, start=1))
        out[i] = dataclasses.replace(h, hidden=hidden)
    return out


def new_host(persona: Persona, seed: int, index: int, ip: str, macs: set[str]) -> PlannedHost:
    """A fresh host of PERSONA numbered INDEX at IP."""
    mac = make_mac(persona.oui, seed, index, macs)
    return PlannedHost(index, ip, mac, persona.name, make_serial(persona, seed, index),
                       persona.firmware, make_hostname(persona, mac))
