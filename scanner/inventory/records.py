"""The inventory as typed, frozen records: what a scan found, device by device (schema camscan.inventory/1).

Built in one place (scanner.inventory.build), serialised in one place (scanner.inventory.serialise);
the store and every report read these records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from scanner.models import AdvisoryHit, Channel, Conflict, Evidence

__all__ = ["SCHEMA", "AdvisoryHit", "Behind", "Channel", "Conflict", "Device", "Evidence", "Inventory", "ScanError",
           "ScanInfo", "SiteInfo", "SiteRange", "Via"]

SCHEMA: Final = "camscan.inventory/1"


@dataclass(frozen=True, slots=True)
class Via:
    """How a camera was seen through a recorder: which recorder, which of its channels, what the recorder said
    of it, and, when the camera also answered the scan itself, how the two were matched (else None)."""

    recorder: str                          # the recorder's address in this scan
    recorder_mac: str | None
    recorder_serial: str | None
    channel: str                           # the channel token or number as the recorder lists it
    source: str | None                     # onvif | isapi | dahua: which of the recorder's lists
    reported: Channel                      # what the recorder reported of the camera (never a credential)
    matched_by: str | None = None          # serial | mac | address+model: also seen directly; None: only via it

    def to_dict(self) -> dict[str, Any]:
        """JSON form (a device's `via`)."""
        return {"recorder": {"ip": self.recorder, "mac": self.recorder_mac, "serial": self.recorder_serial},
                "channel": self.channel, "source": self.source, "matched_by": self.matched_by,
                "reported": self.reported.to_dict()}


@dataclass(frozen=True, slots=True)
class Behind:
    """What a recorder says of the cameras behind it: how many it listed (with credentials; None without),
    how many it states without credentials (SADP/DHIP channel counts; None when it states none)."""

    listed: int | None
    stated: int | None
    stated_by: str | None = None           # e.g. "sadp DigitalChannelNum+AnalogChannelNum"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (a recorder's `behind`)."""
        return {"listed": self.listed, "stated": self.stated, "stated_by": self.stated_by}


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
    via: Via | None = None                # a camera a recorder reported (see Via)
    behind: Behind | None = None          # a recorder: the cameras behind it


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
