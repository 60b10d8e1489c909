"""The inventory as typed, frozen records: what a scan found, device by device (schema camscan.inventory/1).

Built in one place (scanner.inventory.build), serialised in one place (scanner.inventory.serialise);
the store and every report read these records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from scanner.models import AdvisoryHit, Channel, Conflict, Evidence

__all__ = ["SCHEMA", "AdvisoryHit", "Channel", "Conflict", "Device", "Evidence", "Inventory", "ScanError", "ScanInfo",
           "SiteInfo", "SiteRange"]

SCHEMA: Final = "camscan.inventory/1"


@dataclass(frozen=True, slots=True)
class Device:
    """One device of the site: its addresses, what it is and who made it, and why camscan says so."""

    ip: str
    mac: str | None
    hostnames: tuple[str, ...]
    open_ports: tuple[int, ...]
    vendor: str | None
    brand: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    category: str
    confidence: float
    concerns: tuple[str, ...]
    advisories: tuple[AdvisoryHit, ...]
    evidence: tuple[Evidence, ...]
    discovered_by: tuple[str, ...]
    channels: tuple[Channel, ...] = ()
    survey: str | None = None             # the survey category of the site range it sits in
    conflicts: tuple[Conflict, ...] = ()
    ips: tuple[str, ...] = ()             # every address it answered at (ip is the lowest)


@dataclass(frozen=True, slots=True)
class SiteRange:
    """One authorised range of the site file and the survey category of the camera systems in it."""

    cidr: str
    survey: str | None = None
    vlan: int | None = None


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """Who the scan was for (empty for an ad-hoc scan)."""

    name: str | None = None
    organisation: str | None = None
    ranges: tuple[SiteRange, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanError:
    """A per-host (or per-module) failure; the sweep went on."""

    module: str
    ip: str | None
    error: str


@dataclass(frozen=True, slots=True)
class ScanInfo:
    """When, where and how the scan ran."""

    started: str                           # ISO 8601 UTC
    finished: str
    targets: tuple[str, ...]
    excluded: tuple[str, ...]
    modules: tuple[str, ...]
    privileged: bool
    tool_version: str
    fingerprints_version: str
    stats: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    errors: tuple[ScanError, ...] = ()
    complete: bool = True                  # False: stopped part-way (SIGINT/SIGTERM); holds what it found by then


@dataclass(frozen=True, slots=True)
class Inventory:
    """A whole scan's result."""

    site: SiteInfo
    scan: ScanInfo
    devices: tuple[Device, ...]
    schema: str = SCHEMA
