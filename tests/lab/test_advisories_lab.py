"""A lab scan reports published advisories: the Hikvision camera (V5.5.82 build 190910, before the CVE-2021-36260
fix of build 210628; its firmware comes in the SADP reply) and, with the lab's credentials, the Axis camera (AXIS
OS 10.12, inside CVE-2023-21413's 10.5 - 11.5) come out `affected` with the advisory's source; without credentials
the Axis firmware is unknown, so `possible`; once the Hikvision camera is reflashed to V5.7.3 build 220112 (after
the fix) the scan reports no CVE-2021-36260 for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.match.engine import get_engine
from tests.inventory.schema import valid_inventory
from tests.lab.conftest import REPO, Lab, running_lab

pytestmark = pytest.mark.lab
CREDS = str(REPO / "examples" / "lab-credentials.yaml")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab("adv", "--profile", "small", "--seed", "7") as lab:
        yield lab


def scan(lab: Lab, out: Path, *args: str) -> dict[str, dict[str, Any]]:
    """`camscan scan ARGS` from the lab's scanner namespace: the inventory's devices by address."""
    p = lab.exec(sys.executable, "-m", "scanner", "scan", *args, "--no-store", "-q", "--out", str(out),
                 "--format", "json", timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    inv = valid_inventory(out / "inventory.json")
    return {d["ip"]: d for d in inv["devices"]}


def test_lab_devices_inside_a_published_range_are_affected(lab: Lab, tmp_path: Path) -> None:
    db = get_engine().db
    source = {a.id: a.source for a in db.advisories}
    truth = {t["persona"]: t for t in lab.truth()["devices"]}
    hik, axis, lts = truth["hikvision-camera"], truth["axis-camera"], truth["lts-camera"]
    assert hik["firmware"] == "V5.5.82 build 190910" and axis["firmware"] == "10.12.114"
    subnet = lab.truth()["subnet"]
    plain = scan(lab, tmp_path / "plain", subnet)
    assert plain[axis["ip"]]["firmware"] is None
    assert {a["id"]: a["status"] for a in plain[axis["ip"]]["advisories"]} == {"CVE-2023-21413": "possible"}
    assert {a["id"]: a["status"] for a in plain[hik["ip"]]["advisories"]} == {"CVE-2021-36260": "affected"}
    devices = scan(lab, tmp_path / "before", subnet, "--credentials", CREDS)

    def advisories(ip: str) -> dict[str, dict[str, Any]]:
        return {a["id"]: a for a in devices[ip]["advisories"]}

    got = advisories(hik["ip"])["CVE-2021-36260"]
    assert (got["status"], got["source"], got["severity"]) == ("affected", source["CVE-2021-36260"], "critical")
    assert devices[hik["ip"]]["model"] == "DS-2CD2143G0-I"
    got = advisories(axis["ip"])["CVE-2023-21413"]
    assert (got["status"], got["source"]) == ("affected", source["CVE-2023-21413"])
    # the same Hikvision firmware on an LTS model number is outside the advisory's model family
    assert devices[lts["ip"]]["firmware"] and "CVE-2021-36260" not in advisories(lts["ip"])
    # every 'affected' hit in the whole lab names a source from the database
    for d in devices.values():
        for a in d["advisories"]:
            assert a["status"] in ("affected", "possible") and a["source"] == source[a["id"]]

    # reflash everything: the Hikvision camera gets its other firmware, V5.7.3 build 220112 (after the fix)
    lab.camscan("lab", "mutate", "--reflash", str(len(truth)))
    now = {t["persona"]: t for t in lab.truth()["devices"]}["hikvision-camera"]
    assert now["firmware"] == "V5.7.3 build 220112" and now["ip"] == hik["ip"]
    after = scan(lab, tmp_path / "after", hik["ip"], "--credentials", CREDS)
    assert after[hik["ip"]]["firmware"].replace("build", " build").split() == ["V5.7.3", "build", "220112"]
    assert "CVE-2021-36260" not in {a["id"] for a in after[hik["ip"]]["advisories"]}
