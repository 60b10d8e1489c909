"""The scan history store, on SQLite and on a real PostgreSQL server: recording, reading, diffs, kills, locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scanner.inventory.build import build, site_info
from scanner.inventory.records import ScanInfo
from scanner.inventory.serialise import json_schema, to_dict
from scanner.match.engine import get_engine
from scanner.models import Observation as O
from scanner.store import DEVICE_BATCH, StoreBusy, StoreError, open_store

REPO = Path(__file__).resolve().parents[2]


def inventory(devices: list[tuple[str, str, list[tuple[str, str]]]], started: str = "2026-12-07T01:00:00+00:00",
              site: str = "HQ") -> dict[str, Any]:
    """An inventory document of devices given as (ip, mac, [(signal, value)...])."""
    obs = []
    for ip, mac, sigs in devices:
        obs.append(O("mac", mac, ip=ip, source="arp"))
        obs += [O(s, v, ip=ip, source="test") for s, v in sigs]
    info = ScanInfo(started=started, finished=started.replace("01:00:00", "01:00:09"), targets=("198.18.0.0/24",),
                    excluded=(), modules=("arp",), privileged=True, tool_version="0.1.0", fingerprints_version="x")
    doc = to_dict(build(obs, get_engine(), info, site_info(site, "Test", [("198.18.0.0/24", "internal", None)])))
    jsonschema.validate(doc, json_schema(), format_checker=jsonschema.FormatChecker())
    return doc


CAM = ("http.server", "App-webs/")
DAHUA_NVR = ("snmp.sysdescr", "DH-NVR4108HS-8P-4KS2")


def record(url: str, doc: dict[str, Any], site: str = "HQ") -> str:
    store = open_store(url)
    try:
        sid = store.begin_scan(site, doc["scan"]["started"])
        store.add_devices(sid, doc["devices"])
        store.finish_scan(sid, site, doc)
        return sid
    finally:
        store.close()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env={**os.environ, **(env or {})})


def test_a_recorded_scan_is_listed_and_shown_as_it_was_written(store_url: str) -> None:
    doc = inventory([("198.18.0.10", "44:19:b6:00:00:10", [CAM]), ("198.18.0.11", "3c:ef:8c:00:00:11", [DAHUA_NVR]),
                     ("198.18.0.12", "00:11:22:33:44:55", [])])
    sid = record(store_url, doc)
    h = cli("history", "--db", store_url, "--format", "json")
    assert h.returncode == 0, h.stderr
    listed = json.loads(h.stdout)
    assert listed["schema"] == "camscan.history/1"
    assert listed["scans"] == [{"id": sid, "site": "HQ", "started": doc["scan"]["started"],
                                "finished": doc["scan"]["finished"], "complete": True, "devices": 3,
                                "surveillance": 2}]
    shown = cli("show", sid, "--db", store_url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == doc
    md = cli("show", sid, "--db", store_url, "--format", "md")
    assert "198.18.0.11" in md.stdout and "dahua" in md.stdout
    assert cli("show", "nope", "--db", store_url).returncode == 2


def test_diff_finds_added_removed_changed_and_moved_devices_with_exit_codes(store_url: str) -> None:
    old = inventory([("198.18.0.10", "44:19:b6:00:00:10", [CAM, ("onvif.firmware", "V5.5.0 build 180101")]),
                     ("198.18.0.11", "3c:ef:8c:00:00:11", [DAHUA_NVR]),
                     ("198.18.0.12", "44:19:b6:00:00:12", [CAM])])
    new = inventory([("198.18.0.10", "44:19:b6:00:00:10", [CAM, ("onvif.firmware", "V5.7.3 build 220112")]),
                     ("198.18.0.31", "3c:ef:8c:00:00:11", [DAHUA_NVR]),       # moved address, same MAC
                     ("198.18.0.40", "44:19:b6:00:00:40", [CAM])],            # new; .12 is gone
                    started="2026-12-08T01:00:00+00:00")
    a, b = record(store_url, old), record(store_url, new)
    same = cli("diff", a, a, "--db", store_url, "--format", "json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["added"] == []
    got = cli("diff", "--site", "HQ", "--db", store_url, "--format", "json")   # the last two complete scans
    assert got.returncode == 1, got.stderr
    d = json.loads(got.stdout)
    assert d["schema"] == "camscan.diff/1" and d["site"] == "HQ"
    assert (d["old"]["id"], d["new"]["id"]) == (a, b)
    assert [x["ip"] for x in d["added"]] == ["198.18.0.40"]
    assert [x["ip"] for x in d["removed"]] == ["198.18.0.12"]
    changed = {c["device"]["mac"]: c for c in d["changed"]}
    assert changed["3c:ef:8c:00:00:11"]["matched_by"] == "mac"
    assert changed["3c:ef:8c:00:00:11"]["changes"]["ip"] == {"old": "198.18.0.11", "new": "198.18.0.31"}
    assert changed["44:19:b6:00:00:10"]["changes"]["firmware"] == {"old": "V5.5.0 build 180101",
                                                                  "new": "V5.7.3 build 220112"}
    text = cli("diff", "--db", store_url)
    assert text.returncode == 1 and "+ added" in text.stdout and "- removed" in text.stdout
    assert cli("diff", "--site", "Nowhere", "--db", store_url).returncode == 2


def test_a_killed_scan_keeps_what_it_committed_stays_incomplete_and_diff_ignores_it(store_url: str) -> None:
    first = inventory([("198.18.0.10", "44:19:b6:00:00:10", [CAM])])
    second = inventory([("198.18.0.10", "44:19:b6:00:00:10", [CAM])], started="2026-12-08T01:00:00+00:00")
    a, b = record(store_url, first), record(store_url, second)
    many = [dict(first["devices"][0], ip=f"198.18.1.{i}") for i in range(DEVICE_BATCH * 2 + 7)]
    script = (
        "import os, signal, sys\n"
        "from scanner.store import open_store, DEVICE_BATCH\n"
        "import json\n"
        "devs = json.loads(sys.stdin.read())\n"
        "s = open_store(sys.argv[1])\n"
        "sid = s.begin_scan('HQ', '2026-12-09T01:00:00+00:00')\n"
        "print(sid, flush=True)\n"
        "s.add_devices(sid, devs[:DEVICE_BATCH * 2])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    p = subprocess.run([sys.executable, "-c", script, store_url], input=json.dumps(many), capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    assert p.returncode == -signal.SIGKILL
    killed = p.stdout.strip()
    store = open_store(store_url)
    try:
        row = store.scan(killed)
        assert not row.complete and len(store.devices(killed)) == DEVICE_BATCH * 2   # whole batches only
        with pytest.raises(StoreError, match="incomplete"):
            store.inventory(killed)
        nxt = store.begin_scan("HQ", "2026-12-10T01:00:00+00:00")   # the dead scan's lock does not block
        store.release(nxt, "HQ")
    finally:
        store.close()
    d = cli("diff", "--site", "HQ", "--db", store_url, "--format", "json")
    assert (json.loads(d.stdout)["old"]["id"], json.loads(d.stdout)["new"]["id"]) == (a, b)
    h = json.loads(cli("history", "--db", store_url, "--format", "json").stdout)["scans"]
    assert [s["complete"] for s in h if s["id"] == killed] == [False]


def test_two_scans_of_one_site_at_once_are_refused_other_sites_are_fine(store_url: str) -> None:
    one, two = open_store(store_url), open_store(store_url)
    try:
        sid = one.begin_scan("HQ", "2026-12-07T01:00:00+00:00")
        with pytest.raises(StoreBusy, match="already running"):
            two.begin_scan("HQ", "2026-12-07T01:00:01+00:00")
        other = two.begin_scan("Depot", "2026-12-07T01:00:01+00:00")
        two.release(other, "Depot")
        one.release(sid, "HQ")
        again = two.begin_scan("HQ", "2026-12-07T01:00:02+00:00")   # free once the first is done
        two.release(again, "HQ")
    finally:
        one.close()
        two.close()


def test_a_bad_store_location_is_an_error_before_anything_happens(tmp_path: Path) -> None:
    r = cli("history", "--db", "mysql://x/y")
    assert r.returncode == 2 and "not a store kind" in r.stderr
    r = cli("history", "--db", "postgresql://nobody:secret-pw@/nodb?host=/nonexistent&port=1")
    assert r.returncode == 2 and "cannot connect" in r.stderr and "secret-pw" not in r.stderr
