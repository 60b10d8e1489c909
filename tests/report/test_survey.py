"""The survey return counts what a preparer would count by hand: per survey category by real maker and brand, the
kind before the range tag, unknowns apart and never dropped, overrides marked on exactly the numbers they change,
and every bad override refused before anything is written."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scanner import survey
from scanner.errors import InputError
from scanner.inventory.records import Device, Inventory, ScanInfo, SiteInfo, SiteRange
from scanner.inventory.serialise import to_json
from scanner.match.load import load_database

DB = load_database()
REPO = Path(__file__).resolve().parents[2]


def dev(ip: str, vendor: str | None, category: str, survey_tag: str | None, *, brand: str | None = None,
        mac: str | None = None, serial: str | None = None, ips: tuple[str, ...] = ()) -> Device:
    """A device as a scan records it."""
    return Device(ip=ip, mac=mac, hostnames=(), open_ports=(), vendor=vendor, brand=brand or vendor, model=None,
                  firmware=None, serial=serial, category=category, confidence=0.9, concerns=(), advisories=(),
                  evidence=(), discovered_by=("arp",), survey=survey_tag, ips=ips or (ip,))


def inv(name: str, *devices: Device, started: str = "2026-12-01T10:00:00+00:00") -> Inventory:
    """A complete scan of site name."""
    site = SiteInfo(name, "Test Police", (SiteRange("198.18.0.0/26", "external"), SiteRange("198.18.0.64/26",
                                                                                            "internal")))
    scan = ScanInfo(started=started, finished=started.replace("10:00:00", "10:00:09"), targets=("198.18.0.0/24",),
                    excluded=(), modules=("arp",), privileged=True, tool_version="0.1.0", fingerprints_version="x")
    return Inventory(site, scan, tuple(devices))


HQ = inv("HQ",
         dev("198.18.0.10", "hikvision", "camera", "external", mac="44:19:b6:00:00:10"),
         dev("198.18.0.11", "hikvision", "camera", "external", brand="lts", serial="LTS123"),
         dev("198.18.0.12", "dahua", "anpr", "internal"),                 # kind beats the range tag
         dev("198.18.0.13", "axis", "camera", "internal", mac="ac:cc:8e:00:00:13"),
         dev("198.18.0.14", "dahua", "video", "internal"),                # kind undetermined: counted, as video
         dev("198.18.0.15", None, "camera", "internal"),                  # maker not named: counted as unknown
         dev("198.18.0.16", "axon", "bodyworn", None),                    # kind settles it without a tag
         dev("198.18.0.17", None, "unknown", "external", mac="00:11:22:33:44:17"),  # unidentified host
         dev("198.18.0.18", "hp", "other", "external"),                   # a printer: never counted
         dev("198.18.0.200", "bosch", "camera", None),                    # untagged: reported, not guessed
         dev("198.18.0.201", None, "unknown", None))
DEPOT = inv("Depot",
            dev("198.18.0.10", "honeywell", "camera", "external"),        # same address as an HQ device
            dev("198.18.0.30", "dji", "drone", "internal", mac="60:60:1f:00:00:30"))


def build(*invs: Inventory, overrides: survey.Overrides | None = None, **kw: Any) -> dict[str, Any]:
    """The return of these scans, checked against its published JSON Schema."""
    doc = survey.build([survey.Source(i, None, "test") for i in invs], DB, overrides=overrides,
                       generated="2026-12-07T00:00:00+00:00", **kw)
    jsonschema.validate(doc, survey.json_schema(), format_checker=jsonschema.FormatChecker())
    return doc


def numbers(doc: dict[str, Any]) -> dict[str, int]:
    """Every number of the return (overall and per site) by its path."""
    out: dict[str, int] = {}
    for prefix, scope in [("all", doc), *((s["name"], s) for s in doc["sites"])]:
        for cat, c in scope["categories"].items():
            for m in ("total", "video", "unknown"):
                out[f"{prefix}/{cat}/{m}"] = c[m]
            for m in ("by_vendor", "by_brand", "concern_vendors"):
                for k, n in c[m].items():
                    out[f"{prefix}/{cat}/{m}.{k}"] = n
        out[f"{prefix}/untagged"] = scope["untagged"]
        out[f"{prefix}/unknown_untagged"] = scope["unknown_untagged"]
    return out


def test_counts_by_category_maker_and_brand_with_unknowns_apart() -> None:
    doc = build(HQ)
    assert doc["schema"] == "camscan.survey/1" and list(doc["categories"]) == list(survey.LABELS)
    ext, internal = doc["categories"]["external"], doc["categories"]["internal"]
    assert ext["by_vendor"] == {"hikvision": 2} and ext["by_brand"] == {"lts": 1} and ext["total"] == 2
    assert ext["unknown"] == 1          # the unidentified host in the external range, not in the total
    assert internal["by_vendor"] == {"axis": 1, "dahua": 1, "unknown": 1} and internal["video"] == 1
    assert doc["categories"]["anpr"]["by_vendor"] == {"dahua": 1}
    assert doc["categories"]["bodyworn"]["by_vendor"] == {"axon": 1}
    assert doc["untagged"] == 1 and doc["untagged_by_vendor"] == {"bosch": 1} and doc["unknown_untagged"] == 1
    counted = sum(c["total"] for c in doc["categories"].values()) + doc["untagged"]
    assert counted == sum(1 for d in HQ.devices if d.category not in ("other", "unknown"))
    assert doc["makers"]["hikvision"] == "Hikvision" and doc["makers"]["unknown"] == "Maker not identified"


def test_concern_lists_are_the_preparers_choice() -> None:
    both = build(HQ, DEPOT)
    ext = both["categories"]["external"]
    assert ext["concern_vendors"] == {"hikvision": 2, "honeywell": 1}
    assert "uk-bscc-police-survey-2022" in ext["concern_lists"]["honeywell"]
    fcc = build(HQ, DEPOT, concern_lists=["fcc-covered-list"])["categories"]["external"]
    assert fcc["concern_vendors"] == {"hikvision": 2}      # Honeywell is not on the FCC list
    assert [c["id"] for c in build(HQ, concern_lists=["fcc-covered-list"])["concern_lists"]] == ["fcc-covered-list"]
    with pytest.raises(InputError, match="unknown list"):
        build(HQ, concern_lists=["no-such-list"])


def test_two_sites_merge_and_keep_their_own_breakdown() -> None:
    doc = build(HQ, DEPOT)
    assert [s["name"] for s in doc["sites"]] == ["HQ", "Depot"]
    hq, depot = (s["categories"] for s in doc["sites"])
    for cat in survey.LABELS:
        assert doc["categories"][cat]["total"] == hq[cat]["total"] + depot[cat]["total"]
    assert doc["categories"]["drones"]["by_vendor"] == {"dji": 1} and depot["drones"]["total"] == 1
    assert [p["name"] for p in doc["provenance"]["sites"]] == ["HQ", "Depot"]
    assert doc["provenance"]["fingerprints_version"] == DB.version
    with pytest.raises(InputError, match="given twice"):
        survey._unique_sites([survey.Source(HQ, None, "a"), survey.Source(HQ, None, "b")])


def write_overrides(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "overrides.yaml"
    p.write_text(text)
    return p


GOOD = """
corrections:
  - device: {mac: "AC-CC-8E-00-00-13"}
    set: {survey: external}
    reason: the camera watches the car park from the outside wall
    by: J. Smith
  - device: {serial: LTS123}
    set: {kind: camera, maker: hikvision, brand: null}
    reason: relabelled in the asset register
    by: J. Smith
  - device: {ip: 198.18.0.17}
    site: HQ
    set: {kind: nvr, maker: nuuo}
    reason: NUUO NVRmini in the comms room (asset tag 4411)
    by: A. Jones
additions:
  - site: Depot
    kind: drone
    survey: drones
    maker: dji
    model: Matrice 300 RTK
    count: 3
    reason: kept in the equipment store, never networked
    by: A. Jones
"""


def test_overrides_change_exactly_the_numbers_they_mark(tmp_path: Path) -> None:
    ov = survey.load_overrides(write_overrides(tmp_path, GOOD), DB)
    before, after = build(HQ, DEPOT), build(HQ, DEPOT, overrides=ov)
    b, a = numbers(before), numbers(after)
    changed = {k for k in set(a) | set(b) if a.get(k, 0) != b.get(k, 0)}
    assert changed == {
        "all/internal/total", "all/internal/by_vendor.axis", "HQ/internal/total", "HQ/internal/by_vendor.axis",
        "all/external/total", "all/external/by_vendor.axis", "HQ/external/total", "HQ/external/by_vendor.axis",
        "all/external/by_brand.lts", "HQ/external/by_brand.lts",
        "all/external/unknown", "HQ/external/unknown",
        "all/external/by_vendor.nuuo", "HQ/external/by_vendor.nuuo",
        "all/external/concern_vendors.nuuo", "HQ/external/concern_vendors.nuuo",
        "all/drones/total", "all/drones/by_vendor.dji", "all/drones/concern_vendors.dji",
        "Depot/drones/total", "Depot/drones/by_vendor.dji", "Depot/drones/concern_vendors.dji"}
    assert a["all/drones/by_vendor.dji"] == 4 and a["all/external/total"] == b["all/external/total"] + 2
    marked = {f"{p}/{cat}/{m}" for p, scope in [("all", after), *((s["name"], s) for s in after["sites"])]
              for cat, c in scope["categories"].items() for m in c["overridden"]}
    assert changed <= marked                     # every changed number is marked
    # a number an override touched without changing its value is marked too (Hikvision: one device
    # lost its LTS brand but stays a Hikvision camera); nothing else is
    assert marked - changed == {"all/external/by_vendor.hikvision", "HQ/external/by_vendor.hikvision",
                                "all/external/concern_vendors.hikvision", "HQ/external/concern_vendors.hikvision"}
    by = after["categories"]["external"]["overridden_by"]    # which entries changed each number
    assert by["by_vendor.axis"] == [0] and by["by_brand.lts"] == [1] and by["by_vendor.nuuo"] == [2]
    assert by["total"] == [0, 1, 2] and after["categories"]["drones"]["overridden_by"]["total"] == [3]
    assert after["sites"][0]["categories"]["internal"]["overridden_by"] == {"by_vendor.axis": [0], "total": [0]}
    assert [d["origin"] for d in after["devices"]].count("override") == 3
    added = [d for d in after["devices"] if d["origin"] == "added"]
    assert added == [{"site": "Depot", "ip": None, "via": None, "mac": None, "serial": None, "vendor": "dji",
                      "brand": None,
                      "model": "Matrice 300 RTK", "kind": "drone", "survey": "drones", "counted": True, "count": 3,
                      "concerns": [c.id for c in DB.concerns if "dji" in c.makers], "origin": "added",
                      "override": {"reason": "kept in the equipment store, never networked", "by": "A. Jones"}}]
    assert after["provenance"]["overrides"]["entries"] == 4 and len(after["overrides"]) == 4


@pytest.mark.parametrize(("text", "message"), [
    ("corrections:\n  - device: {mac: '00:00:00:00:00:01'}\n    set: {kind: camera}\n    reason: r\n    by: b\n",
     r"line 2: corrections\[0\].device: no device with mac 00:00:00:00:00:01"),
    ("corrections:\n  - device: {ip: 198.18.0.10}\n    set: {kind: camera}\n    reason: r\n    by: b\n",
     r"ip 198.18.0.10 matches 2 devices \(sites: Depot, HQ\); name the site"),
    ("corrections:\n  - device: {ip: 198.18.0.10}\n    site: Nowhere\n    set: {kind: camera}\n    reason: r\n"
     "    by: b\n", r"corrections\[0\].site: no site 'Nowhere'"),
    ("corrections:\n  - device: {ip: 198.18.0.13}\n    set: {kind: cctv}\n    reason: r\n    by: b\n",
     r"line 3: corrections\[0\].set.kind: 'cctv' must be one of camera, nvr, dvr"),
    ("corrections:\n  - device: {ip: 198.18.0.13}\n    set: {survey: outside}\n    reason: r\n    by: b\n",
     r"corrections\[0\].set.survey: 'outside' must be one of external, internal, anpr, bodyworn, drones"),
    ("corrections:\n  - device: {ip: 198.18.0.13}\n    set: {kind: camera}\n    by: b\n",
     r"corrections\[0\]: 'reason' is required"),
    ("corrections:\n  - device: {ip: 198.18.0.13}\n    set: {kind: camera}\n    reason: '  '\n    by: b\n",
     r"corrections\[0\].reason: must not be blank"),
    ("corrections:\n  - device: {ip: 198.18.0.13, mac: 'ac:cc:8e:00:00:13'}\n    set: {kind: camera}\n"
     "    reason: r\n    by: b\n", r"must name the device by exactly one of mac, serial or ip"),
    ("corrections:\n  - device: {ip: 198.18.0.13}\n    set: {}\n    reason: r\n    by: b\n",
     r"must set at least one of kind, maker, brand, survey"),
    ("corrections:\n  - device: {ip: 198.18.0.13}\n    set: {maker: acme}\n    reason: r\n    by: b\n",
     r"'acme' is not a maker in the fingerprint database"),
    ("corrections:\n  - device: {ip: 198.18.0.13}\n    site: HQ\n    set: {kind: nvr}\n    reason: r\n    by: b\n"
     "  - device: {mac: 'ac:cc:8e:00:00:13'}\n    set: {kind: camera}\n    reason: r\n    by: b\n",
     r"corrections\[1\]: the device is already corrected by corrections\[0\]"),
    ("additions:\n  - kind: drone\n    survey: drones\n    count: 0\n    reason: r\n    by: b\n",
     r"additions\[0\].count: must be at least 1"),
    ("additions:\n  - kind: drone\n    survey: drones\n    count: 2\n    reason: r\n    by: b\n    colour: red\n",
     r"additions\[0\].colour: unknown key"),
    ("additions:\n  - site: Elsewhere\n    kind: drone\n    survey: drones\n    count: 2\n    reason: r\n    by: b\n",
     r"additions\[0\].site: no site 'Elsewhere'"),
])
def test_bad_overrides_are_refused_with_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write_overrides(tmp_path, text)
    with pytest.raises(InputError, match=message) as e:
        build(HQ, DEPOT, overrides=survey.load_overrides(path, DB))
    assert str(path) in str(e.value)


def test_the_command_refuses_a_bad_override_before_writing_anything(tmp_path: Path) -> None:
    files = []
    for i in (HQ, DEPOT):
        f = tmp_path / f"{i.site.name}.json"
        f.write_text(to_json(i))
        files += ["--inventory", str(f)]
    bad = write_overrides(tmp_path, "corrections:\n  - device: {serial: NOPE}\n    set: {kind: camera}\n"
                                    "    reason: r\n    by: b\n")
    out = tmp_path / "return"
    p = subprocess.run([sys.executable, "-m", "scanner", "survey", *files, "--overrides", str(bad), "-o", str(out),
                        "--format", "json,csv,md"], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 2 and "no device with serial NOPE" in p.stderr and not out.exists()
    good = write_overrides(tmp_path, GOOD)
    p = subprocess.run([sys.executable, "-m", "scanner", "survey", *files, "--overrides", str(good), "-o", str(out),
                        "--format", "json,csv,md"], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 0, p.stderr
    doc = json.loads((out / "survey.json").read_text())
    assert doc == {**build(HQ, DEPOT, overrides=survey.load_overrides(good, DB)),
                   "generated": doc["generated"], "provenance": doc["provenance"]}
    assert doc["provenance"]["sites"][0]["source"].endswith("HQ.json")
    rows = list(csv.DictReader(io.StringIO((out / "survey.csv").read_text())))
    for r in rows:    # the CSV holds every number of the JSON, overridden ones flagged
        if r["scope"] == "all" and r["measure"] == "total":
            c = doc["categories"][r["category"]]
            assert int(r["count"]) == c["total"] and (r["overridden"] == "yes") == ("total" in c["overridden"])
    md = (out / "survey.md").read_text()
    assert "## Drones" in md and "Yes** (DJI" in md and "4 †" in md


def test_the_csv_neutralises_formulas_from_untrusted_names(tmp_path: Path) -> None:
    evil = inv('=HYPERLINK("http://x.example","y")', dev("198.18.0.10", "hikvision", "camera", "external"))
    text = survey.to_csv(build(evil))
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    assert "'=HYPERLINK(\"http://x.example\",\"y\")" in cells


def test_incomplete_inventory_files_are_refused(tmp_path: Path) -> None:
    from dataclasses import replace
    stopped = replace(HQ, scan=replace(HQ.scan, complete=False))
    f = tmp_path / "stopped.json"
    f.write_text(to_json(stopped))
    with pytest.raises(InputError, match="stopped part-way"):
        survey.sources_from_files([f])
    with pytest.raises(InputError, match="not JSON"):
        (tmp_path / "x.json").write_text("{")
        survey.sources_from_files([tmp_path / "x.json"])


def _record(store: Any, site: str, i: Inventory, complete: bool = True) -> str:
    from scanner.inventory.serialise import to_dict

    doc = to_dict(i)
    scan_id: str = store.begin_scan(site, i.scan.started)
    store.add_devices(scan_id, doc["devices"])
    if complete:
        store.finish_scan(scan_id, site, doc)
    else:
        store.release(scan_id, site)
    return scan_id


def test_the_store_gives_each_sites_latest_complete_scan(tmp_path: Path) -> None:
    from dataclasses import replace

    from scanner.store import open_store

    newer = replace(HQ, devices=HQ.devices[:3], scan=replace(HQ.scan, started="2026-12-02T10:00:00+00:00"))
    with open_store(str(tmp_path / "s.db")) as store:
        _record(store, "HQ", HQ)
        latest = _record(store, "HQ", newer)
        _record(store, "HQ", HQ, complete=False)       # a stopped scan is never counted
        _record(store, "Depot", DEPOT)
        sources = survey.sources_from_store(store, ["HQ"])
        assert [(s.site, s.scan_id) for s in sources] == [("HQ", latest)]
        assert len(sources[0].inventory.devices) == 3
        assert {s.site for s in survey.sources_from_store(store)} == {"HQ", "Depot"}
        with pytest.raises(InputError, match="site 'Nowhere' has no complete scan"):
            survey.sources_from_store(store, ["Nowhere"])
    doc = build(*(s.inventory for s in sources))
    assert doc["categories"]["external"]["total"] == 2 and doc["categories"]["anpr"]["total"] == 1


def test_cameras_behind_recorders_count_and_unread_recorders_are_listed() -> None:
    from dataclasses import replace

    from scanner.inventory.records import Behind, Channel, Via

    nvr = replace(dev("198.18.0.20", "dahua", "nvr", "internal"), behind=Behind(1, 8, "dhip"))
    hidden = replace(dev("10.1.1.2", "dahua", "camera", "internal"),
                     via=Via("198.18.0.20", None, None, "1", "dahua", Channel("1", "10.1.1.2")))
    unread = replace(dev("198.18.0.21", "hikvision", "nvr", "external"), behind=Behind(None, 16, "sadp"))
    doc = build(inv("HQ", nvr, hidden, unread))
    assert doc["categories"]["internal"]["by_vendor"] == {"dahua": 2}      # the NVR and the camera behind it
    assert [d["via"] for d in doc["devices"] if d["via"]] == [{"recorder": "198.18.0.20", "channel": "1"}]
    assert doc["recorders_not_read"] == [{"site": "HQ", "ip": "198.18.0.21", "vendor": "hikvision",
                                          "model": None, "stated": 16}]
    assert "cameras behind: 16 channels stated by the recorder" in survey.to_markdown(doc)


def test_a_camera_listed_by_one_sites_recorder_and_seen_at_another_site_counts_once() -> None:
    from dataclasses import replace

    from scanner.inventory.records import Channel, Via

    def behind(ip: str, serial: str | None, model: str) -> Device:
        d = replace(dev(ip, "hikvision", "camera", "external", serial=serial), model=model)
        return replace(d, via=Via("198.18.0.20", None, None, "1", "isapi", Channel("1", ip, model=model,
                                                                                     serial=serial)))

    a = inv("A", dev("198.18.0.20", "hikvision", "nvr", "internal"),
            behind("198.18.0.40", "DS-2CD2143G0-I20200101AAWR1", "DS-2CD2143G0-I"),   # also answers at site B
            behind("192.168.1.64", None, "DS-2CD2143G0-I"))     # a factory address, the same as B's camera below
    b = inv("B", replace(dev("198.18.0.40", "hikvision", "camera", "external", serial="DS-2CD2143G0-I20200101AAWR1"),
                         model="DS-2CD2143G0-I"),
            replace(dev("192.168.1.64", "hikvision", "camera", "external"), model="DS-2CD2143G0-I"))
    doc = build(a, b)
    a_cats, b_cats = (s["categories"] for s in doc["sites"])
    assert a_cats["external"]["total"] == 1 and b_cats["external"]["total"] == 2   # the serial match counts at B
    assert doc["categories"]["external"]["total"] == 3 and doc["categories"]["internal"]["total"] == 1
