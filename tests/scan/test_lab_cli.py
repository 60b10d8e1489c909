"""The command line's conventions on a real lab scan: -iL, --json (camscan.summary/1 on stdout, human text on
stderr), --fail-on exit codes, -q, --log-format json with -vv, credentials never in any output, and benign replies
from devices outside the targets counted as ignored out-of-scope replies, not errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from scanner import report
from scanner.match.load import SURVEILLANCE_CATEGORIES
from tests.inventory.schema import valid_inventory
from tests.lab.conftest import Lab, running_lab

pytestmark = pytest.mark.lab
SCHEMA = json.loads((Path(report.__file__).parents[1] / "schemas" / "summary-1.json").read_text())
MARKER = "pw-MARKER-9c41d7e2"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab("cli", "--profile", "small", "--seed", "7") as lab:
        yield lab


def scan(lab: Lab, *args: str) -> tuple[int, str, str]:
    """`camscan scan ARGS --no-store` from the lab's scanner namespace: (exit status, stdout, stderr)."""
    p = lab.exec(sys.executable, "-m", "scanner", "scan", *args, "--no-store", timeout=300, check=False)
    return p.returncode, p.stdout, p.stderr


def test_json_summary_fail_on_and_out_of_scope_replies_on_part_of_the_lab(lab: Lab, tmp_path: Path) -> None:
    truth = lab.truth()["devices"]
    inside = [t for t in truth if int(t["ip"].rsplit(".", 1)[1]) <= 120]
    outside = [t for t in truth if int(t["ip"].rsplit(".", 1)[1]) > 120]
    assert inside and outside
    targets = tmp_path / "targets.txt"
    targets.write_text("# the first half of the lab\n198.18.0.1-120\n")
    out = tmp_path / "out"
    code, stdout, stderr = scan(lab, "-iL", str(targets), "-o", str(out), "--format", "json,md", "--json",
                                "--fail-on", "surveillance", "--fail-on", "concern,error")
    doc = json.loads(stdout)                         # stdout holds the JSON document and nothing else
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    inv = valid_inventory(out / "inventory.json")
    assert code == 1, stderr
    errors = len(inv["scan"]["errors"]) + inv["scan"]["stats"].get("errors_dropped", 0)
    assert doc["failed"] == ["surveillance", "concern"] + (["error"] if errors else [])
    assert doc["exit_code"] == 1 and doc["fail_on"] == ["surveillance", "concern", "error"]
    # the summary's counts are the inventory's
    devs = inv["devices"]
    assert doc["hosts"] == len(devs) and doc["errors"] == errors
    assert doc["surveillance"] == sum(1 for d in devs if d["category"] in SURVEILLANCE_CATEGORIES)
    # every surveillance device of the targets is counted, or shown in its maker's row of unknown kind (a DJI dock
    # whose kind the network does not show)
    named_unknown = sum(m["by_category"].get("unknown", 0) for m in doc["by_maker"] if m["maker"])
    assert doc["surveillance"] + named_unknown >= sum(1 for t in inside if t["category"] in SURVEILLANCE_CATEGORIES)
    assert named_unknown == sum(1 for d in devs if d["vendor"] and d["category"] == "unknown")
    assert doc["concern"]["devices"] == sum(1 for d in devs if d["concerns"] and d["category"] != "other")
    assert sum(m["surveillance"] for m in doc["by_maker"]) == doc["surveillance"]
    assert doc["files"] == [str(out / "inventory.json"), str(out / "inventory.md")]
    assert doc["targets"] == inv["scan"]["targets"] and doc["complete"] is True
    # the devices outside the targets answered the discovery multicasts: counted, never error entries
    assert doc["ignored_out_of_scope"] == inv["scan"]["stats"]["ignored_out_of_scope"] > 0
    assert not [e for e in inv["scan"]["errors"] if "outside the" in e["error"] and "; ignored" in e["error"]]
    assert {d["ip"] for d in devs} <= {t["ip"] for t in inside}
    # stats in one unit: float seconds
    stats = inv["scan"]["stats"]
    per_module = {k: v for k, v in stats.items() if k.startswith("seconds.")}
    assert per_module and all(isinstance(v, float) and v <= stats["seconds"] + 1 for v in per_module.values())
    assert stats["probes"] > 0
    # the human summary went to stderr, with the concern legend and the ignored replies apart from errors
    assert "Surveillance devices by maker" in stderr and "concern lists:" in stderr
    assert f"{doc['ignored_out_of_scope']} ignored out-of-scope replies" in " ".join(stderr.split())
    assert "--fail-on met: surveillance, concern" in stderr
    md = (out / "inventory.md").read_text()
    assert f"Ignored out-of-scope replies: {doc['ignored_out_of_scope']}" in md and "Concern lists:" in md


def test_fail_on_unmet_exits_0_and_quiet_prints_nothing_but_problems(lab: Lab, tmp_path: Path) -> None:
    others = [t["ip"] for t in lab.truth()["devices"] if t["category"] == "other"]
    assert len(others) >= 2
    code, stdout, stderr = scan(lab, *others, "-q", "-o", str(tmp_path), "--fail-on", "surveillance,advisory")
    assert code == 0, stderr
    assert stdout == ""                                   # -q: no summary, no "wrote" lines
    assert "phase 1" not in stderr and "Traceback" not in stderr
    inv = valid_inventory(tmp_path / "inventory.json")
    assert not [d for d in inv["devices"] if d["category"] in SURVEILLANCE_CATEGORIES]
    code, stdout, _ = scan(lab, *others, "-q", "--json", "-o", str(tmp_path), "--fail-on", "surveillance")
    assert code == 0 and json.loads(stdout)["failed"] == []   # --json still prints under -q


def test_json_log_lines_at_debug_never_show_credentials(lab: Lab, tmp_path: Path) -> None:
    creds = tmp_path / "creds.yaml"
    creds.write_text(f"default:\n  username: admin\n  password: {MARKER}\nsnmp:\n  communities: [{MARKER}-snmp]\n")
    creds.chmod(0o600)
    cams = [t["ip"] for t in lab.truth()["devices"] if t["category"] in ("camera", "nvr")][:4]
    out = tmp_path / "out"
    code, stdout, stderr = scan(lab, *cams, "-vv", "--log-format", "json", "--credentials", str(creds),
                                "-o", str(out), "--format", "json,csv,md")
    assert code == 0, stderr[-2000:]
    lines = [json.loads(line) for line in stderr.splitlines()]   # every stderr line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert {x["level"] for x in lines} >= {"debug", "info"}
    assert any(x["logger"] == "camscan.discovery" for x in lines)
    done = [x for x in lines if x["logger"] == "camscan.scan" and "observations" in x]
    assert done and all(isinstance(x["seconds"], float) for x in done)
    everything = stdout + stderr + "".join(f.read_text() for f in out.iterdir())
    assert MARKER not in everything
