"""Records shared by the lab's parts: a persona (what a kind of device is and answers), a lab host, and the
cameras a recorder hides on its own PoE network (issue 13)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Persona:
    """A kind of device, loaded from scanner/lab/personas/*.yaml; `spec` keeps the per-service data."""

    name: str                      # persona id, e.g. "hikvision-camera"
    vendor: str | None             # real maker slug (fingerprint DB slug), None if not surveillance kit
    brand: str | None              # slug of the name on the box
    model: str
    firmware: str
    category: str                  # fingerprint DB category; "other" for non-surveillance hosts
    oui: str                       # "AA:BB:CC": MAC prefix given to the host
    services: tuple[str, ...]      # e.g. ("http", "https", "rtsp", "onvif", "wsd", "sadp", "snmp")
    hostile: bool = False
    kind_visible: bool = True      # False: nothing on the network shows what kind of device it is
    spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def stated_channels(self) -> int | None:
        """The IP-channel count a recorder states without credentials (its capacity, as real firmware
        says it): SADP DigitalChannelNum, else DHIP RemoteVideoInputChannels; None if it states none."""
        fields = self.spec.get("sadp", {}).get("fields", {}) if isinstance(self.spec.get("sadp"), dict) else {}
        info = self.spec.get("dhip", {}).get("device_info", {}) if isinstance(self.spec.get("dhip"), dict) else {}
        for value in (fields.get("DigitalChannelNum") if isinstance(fields, dict) else None,
                      info.get("RemoteVideoInputChannels") if isinstance(info, dict) else None):
            if value is not None and str(value).strip().isdigit():
                return int(str(value).strip())
        return None


@dataclass(frozen=True, slots=True)
class HiddenCamera:
    """A camera on a recorder's internal PoE network: no namespace, never answers anything; it exists only
    in what its recorder says (ONVIF receivers/sources, ISAPI InputProxy list, Dahua RemoteDevice table)."""

    channel: int                   # the recorder's channel number (1-based; Dahua RemoteDevice slot = channel - 1)
    ip: str                        # internal address, in the recorder's own 198.19.<k>.0/24 (never routed)
    mac: str                       # camera persona's OUI + per-camera tail
    serial: str                    # in the camera maker's serial grammar
    model: str
    firmware: str
    maker: str                     # how the camera names its maker (ONVIF Manufacturer): "HIKVISION", "LTS"...
    protocol: str                  # how the recorder talks to it: "private" (the recorder maker's own) or "onvif"
    rtsp_path: str                 # the camera's main-stream path (ONVIF receiver MediaUri)
    persona: str                   # camera persona the facts come from
    vendor: str                    # truth: real maker slug
    brand: str                     # truth: brand slug (name on the box)
    category: str                  # truth: camera, anpr...


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of a recorder as its services list it: a hidden camera or a lab host on the site LAN."""

    number: int
    ip: str
    hidden: HiddenCamera | None    # None: the camera is the lab host at `ip`


def recorder_channels(hidden: Sequence[HiddenCamera], channels: Sequence[str]) -> list[Channel]:
    """A recorder's channels in order: the hidden (PoE-port) cameras on their own channel numbers, then the
    lab-host cameras added over the LAN on the numbers after them (1, 2... when there are no hidden ones)."""
    out = [Channel(c.channel, c.ip, c) for c in sorted(hidden, key=lambda c: c.channel)]
    start = max((c.channel for c in hidden), default=0)
    out += [Channel(start + i, ip, None) for i, ip in enumerate(channels, start=1)]
    return out


@dataclass(frozen=True, slots=True)
class LabHost:
    """One simulated host: its namespace, addresses and identity in this run of the lab."""

    netns: str                     # "camscan-h<N>"
    ip: str
    mac: str                       # "aa:bb:cc:dd:ee:ff" (persona OUI + per-host tail)
    prefixlen: int
    persona: Persona
    serial: str
    firmware: str                  # may differ from persona.firmware after `lab mutate --reflash`
    hostname: str
    channels: tuple[str, ...] = () # NVR: IPs of the lab-host cameras it records over the site LAN
    credentials: tuple[str, str] = ("admin", "camscan-lab")  # the lab operator's own credentials
    hidden: tuple[HiddenCamera, ...] = ()  # NVR: cameras only on its internal PoE network (no lab host)

    def recorder_channels(self) -> list[Channel]:
        """Every channel this host records (hidden cameras first), as its services list them."""
        return recorder_channels(self.hidden, self.channels)
