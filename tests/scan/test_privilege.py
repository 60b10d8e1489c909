"""Privilege by capability: root without CAP_NET_RAW is told once what ARP needs, the rest of the scan
runs, and the inventory says `privileged: false`."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from pathlib import Path

import pytest

from scanner import caps
from scanner.discovery import arp
from scanner.discovery.base import RateLimiter, ScanContext, ScanStats
from scanner.evaluate import score
from scanner.match.load import SURVEILLANCE_CATEGORIES
from scanner.scope import Scope
from tests.inventory.schema import valid_inventory
from tests.lab.conftest import running_lab

NEEDS = "ARP needs CAP_NET_RAW"


def test_root_without_the_capability_is_not_privileged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr(caps, "effective", lambda: (1 << 41) - 1 & ~(1 << caps.CAP_NET_RAW))
    assert not caps.has(caps.CAP_NET_RAW)
    assert caps.has(caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN)
    monkeypatch.setattr(caps, "effective", lambda: 1 << caps.CAP_NET_RAW)
    assert caps.has(caps.CAP_NET_RAW)


def test_a_refused_packet_socket_is_one_plain_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the kernel refuses the socket anyway (an LSM, a user namespace), ARP says so once and stops."""
    def refuse(*_: object, **__: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    net = ipaddress.IPv4Network("198.18.0.0/24")
    monkeypatch.setattr(arp, "local_links", lambda: [("eth0", "198.18.0.1", net), ("eth1", "198.18.0.1", net)])
    monkeypatch.setattr(arp, "_sweep", refuse)
    ctx = ScanContext(scope=Scope.build(["198.18.0.0/24"]), rate=RateLimiter(1_000_000), stats=ScanStats(),
                      privileged=True)

    async def drain() -> list[object]:
        return [o async for o in arp.ArpSweep().run(ctx)]

    assert asyncio.run(drain()) == []
    assert not ctx.privileged
    assert [e["error"] for e in ctx.stats.errors] == [arp.ArpSweep.without_raw]
    assert NEEDS in arp.ArpSweep.without_raw


@pytest.mark.lab
def test_lab_scan_without_cap_net_raw_says_so_once_and_still_finds_the_cameras(tmp_path: Path) -> None:
    with running_lab("priv", "--profile", "small") as lab:
        truth = lab.truth()
        p = lab.exec("setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", sys.executable, "-m", "scanner",
                     "scan", truth["subnet"], "--no-store", "--out", str(tmp_path), timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    assert "PermissionError" not in p.stderr + p.stdout
    assert (p.stderr + p.stdout).count(NEEDS) == 1, p.stderr
    inv = valid_inventory(tmp_path / "inventory.json")
    assert inv["scan"]["privileged"] is False
    assert "arp" not in inv["scan"]["modules"] and "tcp" in inv["scan"]["modules"]
    assert not [e for e in inv["scan"]["errors"] if e["module"] == "arp"]
    sc = score(truth, inv["devices"])
    assert sc.found == sc.surveillance_truth, "\n".join(sc.misses)
    # the cost the message names: a maker is missed only where the MAC was the one clue (no ARP, no MAC)
    by_ip = {d["ip"]: d for d in inv["devices"]}
    unnamed = [t["ip"] for t in truth["devices"] if t["category"] in SURVEILLANCE_CATEGORIES
               and by_ip[t["ip"]]["vendor"] is None]
    assert sc.maker_right == sc.surveillance_truth - len(unnamed), "\n".join(sc.misses)
    assert all(by_ip[ip]["mac"] is None for ip in unnamed)
    assert json.dumps(inv).count(NEEDS) == 1   # in the notes, once
