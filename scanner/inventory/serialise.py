"""The one place an inventory becomes JSON (schema camscan.inventory/1) and JSON becomes an inventory again.

The schema may grow fields but keeps every field it has; scanner/schemas/inventory-1.json is its JSON
Schema, and from_dict accepts any document that validates against it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from scanner.errors import InputError
from scanner.inventory.records import (
    SCHEMA,
    AdvisoryHit,
    Behind,
    Channel,
    Conflict,
    Device,
    Evidence,
    Inventory,
    ScanError,
    ScanInfo,
    SiteInfo,
    SiteRange,
    Via,
)

#: Device fields in the order inventory.json writes them (the first sixteen are the original 1.0 set).
DEVICE_KEYS: Final = ("ip", "mac", "hostnames", "open_ports", "vendor", "brand", "model", "firmware", "serial",
                      "category", "confidence", "concerns", "advisories", "evidence", "discovered_by", "channels",
                      "survey", "conflicts", "ips", "via", "behind")


def device_to_dict(d: Device) -> dict[str, Any]:
    """One device entry of inventory.json (exactly DEVICE_KEYS, in that order)."""
    return {
        "ip": d.ip, "mac": d.mac, "hostnames": list(d.hostnames), "open_ports": list(d.open_ports),
        "vendor": d.vendor, "brand": d.brand, "model": d.model, "firmware": d.firmware, "serial": d.serial,
        "category": d.category, "confidence": d.confidence, "concerns": list(d.concerns),
        "advisories": [a.to_dict() for a in d.advisories], "evidence": [e.to_dict() for e in d.evidence],
        "discovered_by": list(d.discovered_by), "channels": [c.to_dict() for c in d.channels],
        "survey": d.survey, "conflicts": [c.to_dict() for c in d.conflicts], "ips": list(d.ips or (d.ip,)),
        "via": d.via.to_dict() if d.via else None, "behind": d.behind.to_dict() if d.behind else None,
    }


def to_dict(inv: Inventory) -> dict[str, Any]:
    """The whole inventory.json document."""
    return {
        "schema": inv.schema,
        "site": {"name": inv.site.name, "organisation": inv.site.organisation,
                 "ranges": [{"cidr": r.cidr, "survey": r.survey, "vlan": r.vlan} for r in inv.site.ranges]},
        "scan": {
            "started": inv.scan.started, "finished": inv.scan.finished, "targets": list(inv.scan.targets),
            "excluded": list(inv.scan.excluded), "modules": list(inv.scan.modules),
            "privileged": inv.scan.privileged, "tool_version": inv.scan.tool_version,
            "fingerprints_version": inv.scan.fingerprints_version, "stats": dict(inv.scan.stats),
            "errors": [{"module": e.module, "ip": e.ip, "error": e.error} for e in inv.scan.errors],
            "complete": inv.scan.complete,
        },
        "devices": [device_to_dict(d) for d in inv.devices],
    }


def to_json(inv: Inventory) -> str:
    """inventory.json text (UTF-8, indented, newline-terminated)."""
    return json.dumps(to_dict(inv), indent=2, ensure_ascii=False) + "\n"


@lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The JSON Schema of camscan.inventory/1 (shipped with the package)."""
    text = resources.files("scanner").joinpath("schemas/inventory-1.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _evidence(e: dict[str, Any]) -> Evidence:
    return Evidence(e["rule"], e["signal"], e["value"], e.get("vendor"), e.get("brand"), float(e["confidence"]),
                    e.get("category"), tuple(sorted((e.get("fields") or {}).items())), e.get("field"))


def device_from_dict(d: dict[str, Any]) -> Device:
    """A Device from its inventory.json record (as the store keeps it)."""
    return Device(
        ip=d["ip"], mac=d.get("mac"), hostnames=tuple(d.get("hostnames", ())),
        open_ports=tuple(int(p) for p in d.get("open_ports", ())),
        vendor=d.get("vendor"), brand=d.get("brand"), model=d.get("model"), firmware=d.get("firmware"),
        serial=d.get("serial"), category=d["category"], confidence=float(d.get("confidence", 0.0)),
        concerns=tuple(d.get("concerns", ())),
        advisories=tuple(AdvisoryHit(a["id"], a.get("title", ""), a.get("severity", "unknown"),
                                     a.get("status", "possible"), a.get("source", ""))
                         for a in d.get("advisories", ())),
        evidence=tuple(_evidence(e) for e in d.get("evidence", ())),
        discovered_by=tuple(d.get("discovered_by", ())),
        channels=tuple(_channel(c) for c in d.get("channels", ())),
        survey=d.get("survey"),
        conflicts=tuple(Conflict(c["vendor"], float(c["confidence"]), tuple(c.get("rules", ())))
                        for c in d.get("conflicts", ())),
        ips=tuple(d.get("ips") or (d["ip"],)), via=_via(d.get("via")), behind=_behind(d.get("behind")))


def _channel(c: dict[str, Any]) -> Channel:
    return Channel(str(c.get("token") or ""), c.get("ip"), c.get("maker"), c.get("model"), c.get("firmware"),
                   c.get("serial"), c.get("mac"), c.get("name"), c.get("protocol"), c.get("source"))


def _via(v: dict[str, Any] | None) -> Via | None:
    if not v:
        return None
    r = v.get("recorder") or {}
    return Via(r.get("ip") or "", r.get("mac"), r.get("serial"), str(v.get("channel") or ""), v.get("source"),
               _channel(v.get("reported") or {}), v.get("matched_by"))


def _behind(b: dict[str, Any] | None) -> Behind | None:
    return Behind(b.get("listed"), b.get("stated"), b.get("stated_by")) if b else None


def from_dict(doc: Any, where: str = "inventory") -> Inventory:
    """An Inventory from an inventory.json document; InputError naming `where` if it is not one."""
    import jsonschema

    try:
        jsonschema.validate(doc, json_schema(), format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError as e:
        path = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise InputError(f"{where}: not a camscan inventory: {path}: {e.message}") from None
    site, scan = doc["site"], doc["scan"]
    return Inventory(
        site=SiteInfo(site.get("name"), site.get("organisation"),
                      tuple(SiteRange(r["cidr"], r.get("survey"), r.get("vlan")) for r in site.get("ranges", ()))),
        scan=ScanInfo(started=scan["started"], finished=scan["finished"], targets=tuple(scan["targets"]),
                      excluded=tuple(scan.get("excluded", ())), modules=tuple(scan.get("modules", ())),
                      privileged=bool(scan.get("privileged")), tool_version=scan.get("tool_version", ""),
                      fingerprints_version=scan.get("fingerprints_version", ""), stats=dict(scan.get("stats", {})),
                      errors=tuple(ScanError(e.get("module", ""), e.get("ip"), e.get("error", ""))
                                   for e in scan.get("errors", ())),
                      complete=bool(scan.get("complete", True))),
        devices=tuple(device_from_dict(d) for d in doc["devices"]), schema=doc.get("schema", SCHEMA))
