"""A hand-written camscan.survey/1 dict (two sites, overrides, hostile strings) for the XLSX survey tests."""

from __future__ import annotations

import copy
from typing import Any

EMPTY: dict[str, Any] = {"by_vendor": {}, "by_brand": {}, "concern_vendors": {}, "concern_lists": {}, "video": 0,
                         "unknown": 0, "total": 0, "overridden": []}


def _cat(**kw: Any) -> dict[str, Any]:
    out = copy.deepcopy(EMPTY)
    out.update(kw)
    return out


LISTS = [{"id": "fcc-covered-list", "name": "FCC Covered List", "source": "https://www.fcc.gov/supplychain/coveredlist",
          "date": "2024-01-01"},
         {"id": "ndaa-fy2019-889", "name": "NDAA FY2019 section 889", "source": "https://www.congress.gov/",
          "date": "2018-08-13"}]

HQ = {"external": _cat(by_vendor={"hikvision": 3, "axis": 1}, by_brand={"annke": 1},
                       concern_vendors={"hikvision": 3}, concern_lists={"hikvision": ["fcc-covered-list",
                                                                                      "ndaa-fy2019-889"]},
                       video=1, unknown=2, total=4, overridden=["by_vendor.axis", "total"]),
      "internal": _cat(by_vendor={"dahua": 2, "unknown": 1}, concern_vendors={"dahua": 2},
                       concern_lists={"dahua": ["fcc-covered-list"]}, video=1, total=3),
      "anpr": _cat(), "bodyworn": _cat(),
      "drones": _cat(by_vendor={"dji": 2}, total=2, overridden=["by_vendor.dji", "total"])}
ROAD = {"external": _cat(by_vendor={"hikvision": 1}, concern_vendors={"hikvision": 1},
                         concern_lists={"hikvision": ["fcc-covered-list", "ndaa-fy2019-889"]}, total=1, unknown=1),
        "internal": _cat(), "anpr": _cat(by_vendor={"=evil": 1}, total=1), "bodyworn": _cat(), "drones": _cat()}


def survey() -> dict[str, Any]:
    """The return for sites HQ and Road: HQ's external Axis camera corrected by an override, two drones added."""
    total = {c: _cat(**{k: copy.deepcopy(v) for k, v in HQ[c].items()}) for c in HQ}
    for c, r in ROAD.items():
        t = total[c]
        for f in ("by_vendor", "by_brand", "concern_vendors"):
            for k, n in r[f].items():
                t[f][k] = t[f].get(k, 0) + n
        for k, ids in r["concern_lists"].items():
            t["concern_lists"][k] = sorted(set(t["concern_lists"].get(k, [])) | set(ids))
        for f in ("video", "unknown", "total"):
            t[f] += r[f]
    dev = {"mac": None, "serial": None, "brand": None, "model": None, "concerns": [], "origin": "scan",
           "override": None}
    devices = [
        {**dev, "site": "HQ", "ip": "198.18.0.10", "vendor": "hikvision", "brand": "annke",
         "model": "=cmd|' /C calc'!A0", "kind": "camera", "survey": "external",
         "concerns": ["fcc-covered-list", "ndaa-fy2019-889"]},
        {**dev, "site": "HQ", "ip": "198.18.0.11", "vendor": "axis", "kind": "camera", "survey": "external",
         "origin": "override", "override": {"reason": "Axis per asset register", "by": "PC 123"}},
        {**dev, "site": "HQ", "ip": None, "vendor": "dji", "kind": "drone", "survey": "drones", "origin": "added",
         "override": {"reason": "two Mavic 3 in the store", "by": "Sgt Jones"}},
        {**dev, "site": "HQ", "ip": None, "vendor": "dji", "kind": "drone", "survey": "drones", "origin": "added",
         "override": {"reason": "two Mavic 3 in the store", "by": "Sgt Jones"}},
        {**dev, "site": "Road", "ip": "198.18.1.5", "vendor": "=evil", "model": "@SUM(1)\x00\x1b", "kind": "anpr",
         "survey": "anpr"},
    ]
    return {
        "schema": "camscan.survey/1", "organisation": "Test Police", "generated": "2026-12-07T04:00:00+00:00",
        "concern_lists": LISTS,
        "makers": {"hikvision": "Hikvision", "dahua": "Dahua", "axis": "Axis Communications", "dji": "DJI",
                   "annke": "Annke", "unknown": "(maker not named)", "=evil": "=HYPERLINK(\"x\")"},
        "categories": total, "untagged": 2, "untagged_by_vendor": {"hikvision": 1, "unknown": 1},
        "sites": [{"name": "HQ", "scan_id": 7, "scanned": "2026-12-07T01:00:00+00:00", "categories": HQ,
                   "untagged": 2},
                  {"name": "Road", "scan_id": 9, "scanned": "2026-12-07T02:00:00+00:00", "categories": ROAD,
                   "untagged": 0}],
        "devices": devices,
        "overrides": [
            {"kind": "correct", "key": {"ip": "198.18.0.11"}, "set": {"vendor": "axis"}, "count": 1,
             "reason": "Axis per asset register", "by": "PC 123", "site": "HQ"},
            {"kind": "add", "key": {}, "set": {"kind": "drone", "vendor": "dji", "survey": "drones"}, "count": 2,
             "reason": "two Mavic 3 in the store", "by": "Sgt Jones", "site": "HQ"}],
        "provenance": {
            "tool_version": "0.1.0", "fingerprints_version": "abc", "generated": "2026-12-07T04:00:00+00:00",
            "sites": [{"name": "HQ", "scan_id": 7, "started": "2026-12-07T01:00:00+00:00",
                       "finished": "2026-12-07T01:00:05+00:00", "targets": ["198.18.0.0/24"],
                       "tool_version": "0.1.0", "fingerprints_version": "abc", "complete": True, "source": "store"},
                      {"name": "Road", "scan_id": 9, "started": "2026-12-07T02:00:00+00:00",
                       "finished": "2026-12-07T02:00:05+00:00", "targets": ["198.18.1.0/24"],
                       "tool_version": "0.1.0", "fingerprints_version": "abc", "complete": True, "source": "store"}],
            "concern_lists": LISTS,
            "overrides": {"file": "overrides.yaml", "sha256": "0" * 64, "entries": 2}},
    }
