"""Records that flow through camscan: observations in, evidence and identified devices out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class Observation:
    """One thing seen on the wire: a signal from scanner.signals.SIGNALS and its value."""

    signal: str
    value: str
    ip: str | None = None
    mac: str | None = None
    port: int | None = None
    source: str | None = None      # discovery module name, e.g. "wsd", "http"
    at: float | None = None        # unix time

    def to_dict(self) -> dict[str, Any]:
        """JSON form: signal and value, plus the optional fields that are set."""
        d: dict[str, Any] = {"signal": self.signal, "value": self.value}
        for k in ("ip", "mac", "port", "source", "at"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


class Evidence(NamedTuple):
    """One rule that fired on one observation, with what it concluded (immutable; a tuple because the
    engine makes one per match and a frozen dataclass costs three times as much to build)."""

    rule_id: str
    signal: str
    value: str
    vendor: str | None
    brand: str | None
    confidence: float
    category: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    field: str | None = None       # composite field the rule matched, if any

    def to_dict(self) -> dict[str, Any]:
        """JSON form used in inventories and `camscan identify` output."""
        d: dict[str, Any] = {
            "rule": self.rule_id,
            "signal": self.signal,
            "value": self.value,
            "vendor": self.vendor,
            "brand": self.brand,
            "confidence": round(self.confidence, 3),
        }
        if self.field:
            d["field"] = self.field
        if self.category:
            d["category"] = self.category
        if self.fields:
            d["fields"] = dict(self.fields)
        return d


@dataclass(frozen=True, slots=True)
class AdvisoryHit:
    """A published vulnerability that fits a device: `affected` (firmware in range) or `possible`."""

    id: str
    title: str
    severity: str
    status: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form (inventory and `camscan identify`)."""
        return {"id": self.id, "title": self.title, "severity": self.severity, "status": self.status,
                "source": self.source}


@dataclass(frozen=True, slots=True)
class Conflict:
    """Another maker the evidence also points at, with no OEM link to explain it."""

    vendor: str
    confidence: float
    rules: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (inventory and `camscan identify`)."""
        return {"vendor": self.vendor, "confidence": self.confidence, "rules": list(self.rules)}


@dataclass(frozen=True, slots=True)
class Channel:
    """A camera a recorder reports behind it, as the recorder tells it (ONVIF receiver or video source, Hikvision
    ISAPI input-proxy channel, Dahua RemoteDevice slot); `source` says which. Never a credential."""

    token: str
    ip: str | None = None
    maker: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    mac: str | None = None
    name: str | None = None
    protocol: str | None = None     # how the recorder talks to it (HIKVISION, ONVIF, Private...)
    source: str | None = None       # onvif | isapi | dahua

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the inventory's channels list)."""
        return {"token": self.token, "ip": self.ip, "maker": self.maker, "model": self.model,
                "firmware": self.firmware, "serial": self.serial, "mac": self.mac, "name": self.name,
                "protocol": self.protocol, "source": self.source}

    @property
    def identified(self) -> bool:
        """True when the recorder says something about the camera besides its token and address."""
        return any((self.maker, self.model, self.serial, self.mac))


@dataclass(frozen=True, slots=True)
class Identification:
    """What the engine concludes about one device from all of its observations."""

    vendor: str | None
    brand: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    mac: str | None
    category: str
    confidence: float
    concerns: tuple[str, ...] = ()
    advisories: tuple[AdvisoryHit, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    oui_org: str | None = None
