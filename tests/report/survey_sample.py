"""Sample inputs for the HTML report tests: an inventory built by the real engine (plus hostile hand-made
records) and a hand-written survey return of contract camscan.survey/1."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from scanner.inventory.build import HostFacts, build, site_info
from scanner.inventory.records import Device, Evidence, Inventory, ScanError, ScanInfo
from scanner.match.engine import get_engine
from scanner.models import Observation as O

# every one must come out as the same text, never as markup or script
HOSTILE_SCRIPT: Final = "<script>window.__pwned=1;alert(1)</script>"
HOSTILE_CLOSE: Final = '</script><img src=x onerror="window.__pwned=2"><script>window.__pwned=3</script>'
HOSTILE_FORMULA: Final = '=HYPERLINK("http://evil.example/","x")&"<b>"'
HOSTILE_ATTR: Final = "\" onmouseover=\"window.__pwned=4\" x='"
HOSTILE: Final = (HOSTILE_SCRIPT, HOSTILE_CLOSE, HOSTILE_FORMULA, HOSTILE_ATTR)

SCAN: Final = ScanInfo(started="2026-12-07T01:00:00+00:00", finished="2026-12-07T01:04:10+00:00",
                       targets=("198.18.0.0/24", "198.18.1.0/25"), excluded=("198.18.0.1",),
                       modules=("arp", "http", "onvif", "snmp", "tcp", "wsd"), privileged=True,
                       tool_version="0.1.0", fingerprints_version="2026.12.01",
                       errors=(ScanError("snmp", "198.18.0.30", "timeout after 2 s"),
                               ScanError("http", "198.18.0.66", HOSTILE_CLOSE)))


def _observations() -> list[O]:
    ip = "198.18.0.{}".format
    return [
        # an LTS camera: Hikvision-made kit sold under the LTS brand (on every concern list through Hikvision)
        O("mac", "c4:2f:90:00:00:01", ip=ip(10), source="arp"),
        O("http.server", "App-webs/", ip=ip(10), port=80, source="http"),
        O("onvif.manufacturer", "LTS", ip=ip(10), source="onvif"),
        O("onvif.model", "CMIP7442W-28M", ip=ip(10), source="onvif"),
        O("onvif.firmware", "V5.5.82 build 190910", ip=ip(10), source="onvif"),
        # a Hikvision camera in the range of a published advisory
        O("mac", "c4:2f:90:00:00:02", ip=ip(11), source="arp"),
        O("onvif.manufacturer", "HIKVISION", ip=ip(11), source="onvif"),
        O("onvif.model", "DS-2CD2032F-I", ip=ip(11), source="onvif"),
        O("onvif.firmware", "V5.3.0 build 150513", ip=ip(11), source="onvif"),
        # a Dahua recorder
        O("mac", "3c:ef:8c:08:4e:1e", ip=ip(20), source="arp"),
        O("snmp.sysdescr", "DH-NVR4108HS-8P-4KS2", ip=ip(20), source="snmp"),
        # an office printer (other)
        O("snmp.sysdescr", "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153", ip=ip(30), source="snmp"),
        O("http.server", "HP HTTP Server; HP LaserJet", ip=ip(30), port=80, source="http"),
        # a Hikvision web server and nothing else: a video device of undetermined kind
        O("http.server", "App-webs/", ip=ip(40), port=80, source="http"),
        # a Hikvision video device in the range tagged external
        O("http.server", "App-webs/", ip="198.18.1.9", port=80, source="http"),
    ]


def hostile_device(ip: str = "198.18.0.66") -> Device:
    """A surveillance device whose every device-controlled string (and evidence value) is hostile."""
    ev = tuple(Evidence(f"hostile.{i}", "http.server", s, "hikvision", None, 0.5, "camera")
               for i, s in enumerate(HOSTILE))
    return Device(ip=ip, mac="00:00:5e:00:53:66", hostnames=(HOSTILE_SCRIPT,), open_ports=(80,), vendor="hikvision",
                  brand=HOSTILE_ATTR, model=HOSTILE_CLOSE, firmware=HOSTILE_FORMULA, serial=HOSTILE_SCRIPT,
                  category="camera", confidence=0.5, concerns=(), advisories=(), evidence=ev,
                  discovered_by=("http",), survey="internal")


def sample_inventory(*, hostile: bool = True, complete: bool = True) -> Inventory:
    """Real-engine devices of every kind the report shows (rebrand, concern, advisory, other, unknown, video)."""
    hosts = {"198.18.0.99": HostFacts("00:11:22:33:44:55")}   # live, said nothing identifiable
    site = site_info("HQ <Central>", "Test & Police", [("198.18.0.0/24", "internal", None),
                                                       ("198.18.1.0/25", "external", 7)])
    scan = SCAN if complete else replace(SCAN, complete=False)
    inv = build(_observations(), get_engine(), scan, site, hosts=hosts)
    if hostile:
        inv = Inventory(inv.site, inv.scan, (*inv.devices, hostile_device()))
    return inv


def sample_survey() -> dict[str, Any]:
    """A hand-written survey return (camscan.survey/1): two sites, an override and an added device, hostile text."""
    def cat(by_vendor: dict[str, int], *, by_brand: dict[str, int] | None = None, video: int = 0, unknown: int = 0,
            overridden: list[str] | None = None) -> dict[str, Any]:
        concern = {s: n for s, n in by_vendor.items() if s in ("hikvision", "dahua", "dji")}
        return {"by_vendor": by_vendor, "by_brand": by_brand or {}, "concern_vendors": concern,
                "concern_lists": {s: ["uk-bscc-police-survey-2022"] + (["fcc-covered-list"] if s != "dji" else [])
                                  for s in concern},
                "video": video, "unknown": unknown, "total": sum(by_vendor.values()), "overridden": overridden or []}

    lists = [{"id": "fcc-covered-list", "name": "US FCC Covered List", "source": "https://www.fcc.gov/supplychain/coveredlist",
              "date": "2021-03-12"},
             {"id": "uk-bscc-police-survey-2022", "name": "UK BSCC 2022 police survey",
              "source": "https://www.gov.uk/government/publications/police-survey-2022-responses-and-key-findings",
              "date": "2023-02-15"}]
    a = {"external": cat({"hikvision": 2, "axis": 1}, by_brand={"lts": 1}),
         "internal": cat({"dahua": 1, "hanwha": 1, "unknown": 1}, video=1, unknown=2),
         "anpr": cat({}), "bodyworn": cat({}),
         "drones": cat({"dji": 1}, overridden=["total", "by_vendor.dji", "concern_vendors.dji"])}
    b = {"external": cat({"hikvision": 1}, by_brand={"annke": 1}),
         "internal": cat({"hikvision": 3, "axis": 2}, unknown=1,
                         overridden=["by_vendor.hikvision", "total", "concern_vendors.hikvision"]),
         "anpr": cat({"dahua": 2}), "bodyworn": cat({}), "drones": cat({})}
    whole = {"external": cat({"hikvision": 3, "axis": 1}, by_brand={"lts": 1, "annke": 1}),
             "internal": cat({"hikvision": 3, "axis": 2, "dahua": 1, "hanwha": 1, "unknown": 1}, video=1, unknown=3,
                             overridden=["by_vendor.hikvision", "total", "concern_vendors.hikvision"]),
             "anpr": cat({"dahua": 2}), "bodyworn": cat({}),
             "drones": cat({"dji": 1}, overridden=["total", "by_vendor.dji", "concern_vendors.dji"])}
    devices: list[dict[str, Any]] = []

    def dev(site: str, ip: str | None, vendor: str | None, kind: str, survey: str | None, *, brand: str | None = None,
            model: str | None = None, origin: str = "scan", override: dict[str, str] | None = None) -> None:
        concerns = [x for x in ("fcc-covered-list", "uk-bscc-police-survey-2022")
                    if vendor in ("hikvision", "dahua") or (vendor == "dji" and x.startswith("uk"))]
        devices.append({"site": site, "ip": ip, "mac": None, "serial": None, "vendor": vendor, "brand": brand or vendor,
                        "model": model, "kind": kind, "survey": survey, "concerns": concerns, "origin": origin,
                        "override": override})

    dev("HQ", "198.18.1.9", "hikvision", "camera", "external", model="DS-2CD2042WD-I")
    dev("HQ", "198.18.1.10", "hikvision", "camera", "external", brand="lts", model="CMIP7442W-28M")
    dev("HQ", "198.18.1.11", "axis", "camera", "external", model="P1375")
    dev("HQ", "198.18.0.20", "dahua", "nvr", "internal", model="DH-NVR4108HS-8P-4KS2")
    dev("HQ", "198.18.0.21", "hanwha", "camera", "internal", model=HOSTILE_CLOSE)
    dev("HQ", "198.18.0.40", None, "video", "internal", model=HOSTILE_SCRIPT)
    dev("HQ", "198.18.3.7", "hikvision", "camera", None)
    dev("HQ", "198.18.3.8", None, "video", None)
    dev("HQ", None, "dji", "drone", "drones", model="Matrice 30", origin="added",
        override={"reason": "a drone in the store cupboard, not networked", "by": "PC 1234 Smith"})
    dev("Depot", "198.18.2.5", "hikvision", "camera", "external", brand="annke", model="C800")
    for i in range(3):
        ov = {"reason": "kind corrected: a camera, seen only by its web server", "by": "A. Jones"} if i == 0 else None
        dev("Depot", f"198.18.2.{20 + i}", "hikvision", "camera", "internal", origin="override" if ov else "scan",
            override=ov)
    dev("Depot", "198.18.2.30", "axis", "camera", "internal")
    dev("Depot", "198.18.2.31", "axis", "camera", "internal", model=HOSTILE_FORMULA)
    dev("Depot", "198.18.2.40", "dahua", "anpr", "anpr", model="ITC237-PW6M")
    dev("Depot", "198.18.2.41", "dahua", "anpr", "anpr", model="ITC237-PW6M")
    provenance_sites = [
        {"name": "HQ", "scan_id": "20261207T010000Z-hq", "started": "2026-12-07T01:00:00+00:00",
         "finished": "2026-12-07T01:04:10+00:00", "targets": ["198.18.0.0/24", "198.18.1.0/25"],
         "tool_version": "0.1.0", "fingerprints_version": "2026.12.01", "complete": True, "source": "store"},
        {"name": "Depot", "scan_id": "20261207T020000Z-depot", "started": "2026-12-07T02:00:00+00:00",
         "finished": "2026-12-07T02:03:00+00:00", "targets": ["198.18.2.0/24"], "tool_version": "0.1.0",
         "fingerprints_version": "2026.12.01", "complete": True, "source": "depot/inventory.json"}]
    return {
        "schema": "camscan.survey/1",
        "organisation": "Example Constabulary <Test & Co>",
        "generated": "2026-12-07T04:00:00+00:00",
        "concern_lists": lists,
        "makers": {"hikvision": "Hikvision", "dahua": "Dahua", "axis": "Axis Communications", "hanwha": "Hanwha Vision",
                   "dji": "DJI", "lts": "LTS", "annke": "ANNKE"},
        "categories": whole,
        "untagged": 2,
        "untagged_by_vendor": {"hikvision": 1, "unknown": 1},
        "sites": [{"name": "HQ", "scan_id": "20261207T010000Z-hq", "scanned": "2026-12-07T01:04:10+00:00",
                   "categories": a, "untagged": 2},
                  {"name": "Depot", "scan_id": "20261207T020000Z-depot", "scanned": "2026-12-07T02:03:00+00:00",
                   "categories": b, "untagged": 0}],
        "devices": devices,
        "overrides": [
            {"kind": "add", "key": {}, "set": {"vendor": "dji", "kind": "drone", "survey": "drones"}, "count": 1,
             "reason": "a drone in the store cupboard, not networked", "by": "PC 1234 Smith", "site": "HQ"},
            {"kind": "correct", "key": {"ip": "198.18.2.20"}, "set": {"kind": "camera"}, "count": 1,
             "reason": "kind corrected: a camera, seen only by its web server", "by": "A. Jones", "site": "Depot"}],
        "provenance": {"tool_version": "0.1.0", "fingerprints_version": "2026.12.01",
                       "generated": "2026-12-07T04:00:00+00:00", "sites": provenance_sites, "concern_lists": lists,
                       "overrides": {"file": "overrides.yaml", "sha256": "0" * 64, "entries": 2}},
    }
