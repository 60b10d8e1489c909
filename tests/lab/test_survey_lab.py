"""The survey return from real lab scans: one lab scanned as two sites whose files tag its ranges; the return's
numbers equal what the lab's truth says, and overrides change exactly the numbers they should (issue 9)."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import openpyxl
import pytest

from scanner import survey
from scanner.match.load import SURVEILLANCE_CATEGORIES
from tests.lab.conftest import REPO, Lab

pytestmark = pytest.mark.lab
CREDS = str(REPO / "examples" / "lab-credentials.yaml")


def _quarters(subnet: str) -> list[str]:
    return [str(n) for n in ipaddress.ip_network(subnet).subnets(new_prefix=26)]


def _site_files(tmp_path: Path, subnet: str) -> tuple[Path, Path, dict[str, tuple[str, str | None]]]:
    """Two site files over the lab's /24: HQ (external and internal quarters), Depot (external and untagged)."""
    q = _quarters(subnet)
    hq, depot = tmp_path / "hq.yaml", tmp_path / "depot.yaml"
    hq.write_text(f"name: HQ\norganisation: Lab Constabulary\nranges:\n  - cidr: {q[0]}\n    survey: external\n"
                  f"  - cidr: {q[1]}\n    survey: internal\n")
    depot.write_text(f"name: Depot\norganisation: Lab Constabulary\nranges:\n  - cidr: {q[2]}\n    survey: external\n"
                     f"  - {q[3]}\n")
    where = {q[0]: ("HQ", "external"), q[1]: ("HQ", "internal"), q[2]: ("Depot", "external"), q[3]: ("Depot", None)}
    return hq, depot, where


def _place(ip: str, where: dict[str, tuple[str, str | None]]) -> tuple[str, str | None]:
    a = ipaddress.ip_address(ip)
    return next(v for k, v in where.items() if a in ipaddress.ip_network(k))


def _expected(truth: list[dict[str, Any]], where: dict[str, tuple[str, str | None]],
              fix: dict[str, dict[str, Any]]) -> dict[str, Counter[str]]:
    """site/category -> Counter of 'total', 'vendor.X', 'brand.X' from the truth (with corrections by MAC)."""
    out: dict[str, Counter[str]] = {}
    for d in truth:
        d = {**d, **fix.get(d["mac"], {})}
        visible = d.get("kind_visible", True) or d["mac"] in fix
        if d["category"] not in SURVEILLANCE_CATEGORIES or not visible:
            continue
        site, tag = _place(d["ip"], where)
        cat = d.get("survey") or survey.survey_category(d["category"], tag)
        for scope in ("all", site):
            c = out.setdefault(f"{scope}/{cat or 'untagged'}", Counter())
            c["total"] += 1
            c[f"vendor.{d['vendor']}"] += 1
            if cat and d["brand"] and d["brand"] != d["vendor"]:   # untagged devices are counted by maker only
                c[f"brand.{d['brand']}"] += 1
    return out


def _got(doc: dict[str, Any]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for name, scope in [("all", doc), *((s["name"], s) for s in doc["sites"])]:
        for cat, c in scope["categories"].items():
            if c["total"]:
                out[f"{name}/{cat}"] = Counter({"total": c["total"], **{f"vendor.{k}": n for k, n in
                                                                         c["by_vendor"].items()},
                                                **{f"brand.{k}": n for k, n in c["by_brand"].items()}})
        if scope["untagged"]:
            out[f"{name}/untagged"] = Counter({"total": scope["untagged"], **{
                f"vendor.{k}": n for k, n in scope["untagged_by_vendor"].items()}})
    return out


def test_survey_of_a_lab_scanned_as_two_sites_matches_the_truth(lab_small: Lab, tmp_path: Path) -> None:
    truth_doc = lab_small.truth()
    truth = truth_doc["devices"]
    hq, depot, where = _site_files(tmp_path, truth_doc["subnet"])
    db = str(tmp_path / "survey.db")
    for site in (hq, depot):
        p = lab_small.exec(sys.executable, "-m", "scanner", "scan", "--site", str(site), "--db", db,
                           "--credentials", CREDS, "--out", str(tmp_path / site.stem), timeout=300)
        assert "recorded as scan" in p.stdout, p.stdout + p.stderr
    out = tmp_path / "return"
    lab_small.camscan("survey", "--db", db, "--site", "HQ", "--site", "Depot", "-o", str(out), "--format", "json,md")
    doc = json.loads((out / "survey.json").read_text())
    jsonschema.validate(doc, survey.json_schema())
    assert doc["organisation"] == "Lab Constabulary" and [s["name"] for s in doc["sites"]] == ["HQ", "Depot"]
    assert _got(doc) == _expected(truth, where, {})
    # unidentified hosts are counted in their range's category, never dropped: the lab's kind-invisible docks
    # (they show nothing but a MAC) are among them
    invs = {s: json.loads((tmp_path / f.stem / "inventory.json").read_text())
            for s, f in (("HQ", hq), ("Depot", depot))}
    for s in doc["sites"]:
        unknown = Counter(d["survey"] for d in invs[s["name"]]["devices"] if d["category"] == "unknown")
        assert {c: s["categories"][c]["unknown"] for c in survey.LABELS if s["categories"][c]["unknown"]} == \
            {c: n for c, n in unknown.items() if c}
        assert s["unknown_untagged"] == unknown.get(None, 0)
    hidden = [d for d in truth if not d.get("kind_visible", True)]
    assert hidden, "the small profile has kind-invisible docks"

    # the preparer corrects the docks and one camera's category, and adds drones no scan can see
    ext_cam = next(d for d in truth if d["category"] == "camera" and d.get("kind_visible", True)
                   and _place(d["ip"], where) == ("HQ", "external"))
    fix: dict[str, dict[str, Any]] = {ext_cam["mac"]: {"survey": "internal"}}
    entries = [f"  - device: {{mac: '{ext_cam['mac']}'}}\n    set: {{survey: internal}}\n"
               "    reason: mounted indoors\n    by: test"]
    for d in hidden:
        kind = "drone" if d["category"] == "drone" else "bodyworn"
        fix[d["mac"]] = {"category": kind, "vendor": d["vendor"], "brand": d["vendor"]}
        entries.append(f"  - device: {{mac: '{d['mac']}'}}\n    set: {{kind: {kind}, maker: {d['vendor']}}}\n"
                       "    reason: asset register\n    by: test")
    ov = tmp_path / "overrides.yaml"
    ov.write_text("corrections:\n" + "\n".join(entries) + "\nadditions:\n  - site: Depot\n    kind: drone\n"
                  "    survey: drones\n    maker: dji\n    count: 2\n    reason: in the cupboard\n    by: test\n")
    out2 = tmp_path / "return2"
    lab_small.camscan("survey", "--db", db, "-o", str(out2), "--overrides", str(ov),
                      "--format", "json,xlsx,csv,md,html")
    after = json.loads((out2 / "survey.json").read_text())
    want = _expected(truth, where, fix)
    for scope in ("all", "Depot"):
        want.setdefault(f"{scope}/drones", Counter()).update({"total": 2, "vendor.dji": 2})
    assert _got(after) == want
    changed = {k for k in set(_got(after)) | set(_got(doc)) if _got(after).get(k) != _got(doc).get(k)}
    marked = {f"{n}/{c}" for n, scope in [("all", after), *((s["name"], s) for s in after["sites"])]
              for c, v in scope["categories"].items() if v["overridden"]}
    assert {k for k in changed if not k.endswith("/untagged")} <= marked
    assert all((out2 / f"survey.{f}").stat().st_size > 0 for f in survey.FORMATS)
    wb = openpyxl.load_workbook(out2 / "survey.xlsx")
    assert len(wb.sheetnames) >= 2


def test_several_sites_in_one_command_are_several_scans(lab_small: Lab, tmp_path: Path) -> None:
    truth_doc = lab_small.truth()
    hq, depot, where = _site_files(tmp_path, truth_doc["subnet"])
    db, out = str(tmp_path / "s.db"), tmp_path / "out"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad\nranges: [not-a-range]\n")
    # a bad site file among them: refused before the first site is scanned, nothing written or recorded
    p = lab_small.exec(sys.executable, "-m", "scanner", "scan", "--site", str(hq), "--site", str(bad), "--db", db,
                       "-o", str(out), check=False, timeout=120)
    assert p.returncode == 2 and "bad.yaml" in p.stderr and not out.exists(), p.stderr
    p = lab_small.exec(sys.executable, "-m", "scanner", "scan", "--site", str(hq), "--site", str(depot),
                       "--db", db, "-o", str(out), "--credentials", CREDS, "--json", timeout=600)
    docs = json.loads(p.stdout)
    assert [d["site"] for d in docs] == ["HQ", "Depot"] and all(d["complete"] for d in docs)
    assert sorted(x.name for x in out.iterdir()) == ["Depot", "HQ"]
    for name in ("HQ", "Depot"):
        inv = json.loads((out / name / "inventory.json").read_text())
        assert inv["site"]["name"] == name
        mine = [ipaddress.ip_network(c) for c, (s, _) in where.items() if s == name]
        assert list(ipaddress.collapse_addresses(ipaddress.ip_network(t) for t in inv["scan"]["targets"])) == \
            list(ipaddress.collapse_addresses(mine))     # its own ranges, nothing else
    history = json.loads(lab_small.camscan("history", "--db", db, "--format", "json").stdout)["scans"]
    assert sorted(s["site"] for s in history) == ["Depot", "HQ"]
    ret = tmp_path / "ret"
    lab_small.camscan("survey", "--db", db, "-o", str(ret), "--format", "json")
    assert _got(json.loads((ret / "survey.json").read_text())) == _expected(truth_doc["devices"], where, {})
