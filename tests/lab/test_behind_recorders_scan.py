"""Cameras behind recorders, scanned for real (issue 13): on the `recorders` profile, with the operator's
credentials every camera hidden on a recorder's own network is counted once with its real maker and brand, none
twice, and not one packet goes to an address a recorder reported; without credentials each recorder says what it
states (or unknown) instead of nothing."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner import survey
from scanner.evaluate import score
from scanner.inventory.serialise import from_dict
from scanner.lab import topology
from scanner.match.load import SURVEILLANCE_CATEGORIES, load_database
from tests.lab.conftest import REPO, Lab, running_lab

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump (make test installs it)")]
CREDS = str(REPO / "examples" / "lab-credentials.yaml")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab("rec", "--profile", "recorders", "--seed", "3") as lab:
        yield lab


def _scan(lab: Lab, out: Path, *extra: str) -> dict[str, Any]:
    p = lab.exec(sys.executable, "-m", "scanner", "scan", lab.truth()["subnet"], "--no-store", "--out", str(out),
                 *extra, timeout=300)
    doc: dict[str, Any] = json.loads((out / "inventory.json").read_text())
    doc["_log"] = p.stdout + p.stderr
    return doc


def test_with_credentials_every_hidden_camera_is_counted_once_and_never_contacted(lab: Lab, tmp_path: Path) -> None:
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    truth = lab.truth()
    hidden = [t for t in truth["devices"] if t.get("via") and t.get("hidden")]
    assert len(hidden) >= 20, "the recorders profile hides at least 20 cameras"
    pcap = tmp_path / "scan.pcap"
    cap = subprocess.Popen(["ip", "netns", "exec", topology.scanner_ns(lab.instance), "tcpdump", "-i", "any", "-n",
                            "-U", "-w", str(pcap)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        inv = _scan(lab, tmp_path / "o", "--credentials", CREDS)
        time.sleep(1.0)
    finally:
        cap.terminate()
        cap.wait(10)
    devices = inv["devices"]
    sc = score(truth, devices)
    assert (sc.behind, sc.behind_found, sc.duplicates) == (len(hidden), len(hidden), 0), sc.misses
    assert sc.found == sc.surveillance_truth and sc.rate(sc.maker_right) == 1.0, sc.misses
    assert sc.rebrands_right == sc.rebrands, sc.misses
    assert f"{len(hidden)} of the devices are cameras seen only through their recorders" in " ".join(
        inv["_log"].split())
    by_ip = {d["ip"]: d for d in devices if d["via"] and not d["via"]["matched_by"]}
    for t in hidden:   # right maker and brand, through the right recorder, at the address it reported
        d = by_ip[t["ip"]]
        assert (d["vendor"], d["brand"], d["category"]) == (t["vendor"], t["brand"], t["category"]), d
        assert d["via"]["recorder"]["ip"] == t["via"]["recorder"] and d["discovered_by"] == ["recorder"]
    # cameras both reachable and listed by a recorder are one record that says how it matched
    both = [t for t in truth["devices"] if t.get("via") and not t.get("hidden")]
    assert both, "the profile has cameras seen both ways"
    for t in both:
        same = [d for d in devices if d["ip"] == t["ip"] and d["category"] in SURVEILLANCE_CATEGORIES]
        assert len(same) == 1 and same[0]["via"]["matched_by"] in ("serial", "mac", "address+model", "address")
    for ip in {t["ip"] for t in truth["devices"] if t["category"] in ("nvr", "dvr")}:
        d = next(d for d in devices if d["ip"] == ip and not d["via"])
        behind = sum(1 for x in truth["devices"] if (x.get("via") or {}).get("recorder") == ip)
        assert d["behind"]["listed"] == behind, d["behind"]
    # the survey counts every camera once, hidden ones included
    doc = survey.build([survey.Source(from_dict({k: v for k, v in inv.items() if k != "_log"}), None, "lab")],
                       load_database())
    assert sum(c["total"] for c in doc["categories"].values()) + doc["untagged"] == sc.surveillance_truth
    # nothing was sent to any address a recorder reported, and nothing even tried
    reported = {ipaddress.IPv4Address(t["ip"]) for t in hidden}
    sent = [p for p in rdpcap(str(pcap)) if IP in p]
    assert len(sent) > 100, "the capture saw the scan"
    assert not {ipaddress.IPv4Address(p[IP].dst) for p in sent} & reported
    assert not [e for e in inv["scan"]["errors"] if e["ip"] and ipaddress.IPv4Address(e["ip"]) in reported]
    # a recorder's stored camera passwords reach neither the inventory nor the output
    text = (tmp_path / "o" / "inventory.json").read_text() + inv["_log"]
    assert "lab-camera-secret" not in text


def test_without_credentials_recorders_say_what_they_state(lab: Lab, tmp_path: Path) -> None:
    truth = lab.truth()
    inv = _scan(lab, tmp_path / "o")
    recorders = {t["ip"]: t for t in truth["devices"] if t["category"] in ("nvr", "dvr")}
    assert recorders
    for ip, t in recorders.items():
        d = next(d for d in inv["devices"] if d["ip"] == ip)
        assert d["behind"] is not None and d["behind"]["listed"] is None
        assert d["behind"]["stated"] == t["channels_stated"], (d["behind"], t)
    assert not [d for d in inv["devices"] if d["via"]], "nothing is read through a recorder without credentials"
    stated = sum(t["channels_stated"] for t in recorders.values())
    assert (f"{len(recorders)} recorder(s) not read (no credentials for them): cameras behind them unknown; they "
            f"state {stated} channels in all") in " ".join(inv["_log"].split())
