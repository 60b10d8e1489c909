"""camscan's main job on the lab: scan from the lab's scanner namespace and compare with the truth."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scanner.evaluate import score
from scanner.match.load import SURVEILLANCE_CATEGORIES
from tests.inventory.schema import valid_inventory
from tests.lab.conftest import REPO, running_lab

pytestmark = pytest.mark.lab
CREDS = str(REPO / "examples" / "lab-credentials.yaml")


def _scan(lab, out: Path, *extra: str) -> dict:  # type: ignore[no-untyped-def]
    subnet = lab.truth()["subnet"]
    p = lab.exec(sys.executable, "-m", "scanner", "scan", subnet, "--out", str(out), "--format", "json,csv,md",
                 *extra, timeout=300)
    assert "Surveillance devices by maker" in p.stdout
    inv: dict = valid_inventory(out / "inventory.json")
    assert (out / "inventory.csv").exists() and (out / "inventory.md").exists()
    return inv


def test_small_site_every_device_found_and_named(tmp_path: Path) -> None:
    with running_lab("scan", "--profile", "small") as lab:
        truth = lab.truth()
        inv = _scan(lab, tmp_path, "--credentials", CREDS)
    assert inv["schema"] == "camscan.inventory/1"
    assert set(inv["scan"]) >= {"started", "finished", "targets", "excluded", "modules", "privileged",
                                "tool_version", "fingerprints_version", "stats", "errors"}
    sc = score(truth, inv["devices"])
    report = "\n".join(sc.misses)
    assert sc.found == sc.surveillance_truth, report
    assert sc.maker_right == sc.surveillance_truth, report
    assert sc.model_rate() >= 0.95, report
    assert sc.category_rate() >= 0.95, report
    assert sc.rebrands > 0 and sc.rebrands_right == sc.rebrands, report
    assert sc.false_surveillance == 0, report
    # credentials were given: recorders list the cameras behind them
    by_ip = {d["ip"]: d for d in inv["devices"]}
    nvrs = [t for t in truth["devices"] if t["category"] == "nvr"]
    assert nvrs
    for t in nvrs:
        assert by_ip[t["ip"]]["channels"], f"{t['persona']} at {t['ip']} lists no channels"
    # the password never reaches the inventory
    assert "camscan-lab" not in (tmp_path / "inventory.json").read_text()


def _verdicts(truth: dict, inv: dict) -> dict[str, tuple[int, ...]]:  # type: ignore[type-arg]
    """Per non-hostile persona: found, maker, model, category, rebrand right, false surveillance (0/1 each)."""
    out = {}
    for t in truth["devices"]:
        if t["hostile"]:
            continue
        sc = score({"devices": [t]}, inv["devices"])
        out[t["persona"]] = (sc.found, sc.maker_right, sc.model_right, sc.category_right, sc.rebrands_right,
                             sc.false_surveillance)
    return out


def test_hostile_hosts_become_errors_and_the_sweep_goes_on(tmp_path: Path) -> None:
    with running_lab("calm", "--profile", "small") as lab:
        calm = _verdicts(lab.truth(), _scan(lab, tmp_path / "small"))
    with running_lab("hostile", "--profile", "hostile") as lab:
        truth = lab.truth()
        inv = _scan(lab, tmp_path / "hostile")
    sc = score(truth, inv["devices"])
    assert sc.found == sc.surveillance_truth, "\n".join(sc.misses)
    assert sc.false_surveillance == 0, "\n".join(sc.misses)
    # every other device is found and identified exactly as on `small`, without the hostile hosts
    assert _verdicts(truth, inv) == calm, "\n".join(sc.misses)
    hostile = {t["persona"]: t["ip"] for t in truth["devices"] if t["hostile"]}
    assert hostile
    for d in inv["devices"]:
        if d["ip"] in hostile.values():
            assert d["category"] not in SURVEILLANCE_CATEGORIES
    subnet_prefix = truth["subnet"].rsplit(".", 1)[0]
    assert all(d["ip"].startswith(subnet_prefix) for d in inv["devices"]), "a device outside the targets"
    errors = inv["scan"]["errors"]
    assert errors, "hostile replies must be recorded as errors"
    # an XML declaration naming an unknown encoding costs that one reply, recorded against its sender
    for persona, module in (("hostile-wsd-unknown-encoding", "wsd"), ("hostile-ssdp-unknown-encoding", "ssdp"),
                            ("hostile-reset", "rtsp")):
        assert any(e["ip"] == hostile[persona] and e["module"] == module for e in errors), persona
    # a host streaming thousands of ProbeMatches does not turn into thousands of error entries
    assert len(errors) < 500
    assert (tmp_path / "hostile" / "inventory.json").stat().st_size < 2_000_000


def test_site_profile_meets_the_accuracy_bar(tmp_path: Path) -> None:
    """A realistic /24 (about 250 hosts, 100 surveillance devices): every device found and named."""
    with running_lab("site", "--profile", "site") as lab:
        truth = lab.truth()
        inv = _scan(lab, tmp_path, "--credentials", CREDS)
    sc = score(truth, inv["devices"])
    report = "\n".join(sc.misses)
    assert sc.surveillance_truth >= 90
    assert sc.found == sc.surveillance_truth, report
    assert sc.maker_right == sc.surveillance_truth, report
    assert sc.model_rate() >= 0.95, report
    assert sc.category_rate() >= 0.95, report
    assert sc.rebrands_right == sc.rebrands, report
    assert sc.false_surveillance == 0, report


def test_sparse16_every_device_found_across_the_slash16(tmp_path: Path) -> None:
    """About 300 hosts spread over 65,536 addresses: a /16 sweep at a high rate finds and names every one."""
    with running_lab("sp16", "--profile", "sparse16") as lab:
        truth = lab.truth()
        inv = _scan(lab, tmp_path, "--rate", "10000", "--no-store")
    sc = score(truth, inv["devices"])
    report = "\n".join(sc.misses)
    stats = inv["scan"]["stats"]
    assert stats["addresses"] >= 65_000 and stats["arp.requests"] >= 65_000   # the whole /16 was asked
    assert len(inv["devices"]) == len(truth["devices"]), report               # every live host, nothing more
    assert sc.found == sc.surveillance_truth, report
    assert sc.maker_right == sc.surveillance_truth, report
    assert sc.false_surveillance == 0, report
