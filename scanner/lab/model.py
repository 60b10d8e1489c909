"""Records shared by the lab's parts: a persona (what a kind of device is and answers) and a lab host."""

from __future__ import annotations

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
    channels: tuple[str, ...] = () # NVR: IPs of the cameras behind its PoE ports (lab hosts)
    credentials: tuple[str, str] = ("admin", "camscan-lab")  # the lab operator's own credentials
