"""Alert rules, delivery (a real webhook receiver on loopback, a real command), schedules and their parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from scanner import alerts
from scanner.cli.watch import cron_line, parse_every
from scanner.errors import InputError
from scanner.inventory import diff as diffmod
from scanner.inventory.serialise import device_from_dict
from scanner.sites import Alerts, load_site
from tests.store.test_store import CAM, DAHUA_NVR, inventory

REPO = Path(__file__).resolve().parents[2]


def _diff() -> diffmod.Diff:
    old = inventory([("198.18.0.10", "44:19:b6:00:00:10", [CAM, ("onvif.firmware", "V5.5.0")]),
                     ("198.18.0.12", "00:11:22:33:44:55", [])])
    new = inventory([("198.18.0.10", "44:19:b6:00:00:10", [CAM, ("onvif.firmware", "V5.7.3")]),
                     ("198.18.0.11", "3c:ef:8c:00:00:11", [DAHUA_NVR])])
    return diffmod.diff("HQ", ("a", "1"), ("b", "2"), [device_from_dict(d) for d in old["devices"]],
                        [device_from_dict(d) for d in new["devices"]])


def test_rules_fire_on_what_changed() -> None:
    d = _diff()
    every = Alerts(command=("true",))
    assert alerts.fired(every, d) == ["new_device", "new_device_of_concern", "firmware_change", "device_gone"]
    assert alerts.fired(Alerts(command=("true",), rules=("firmware_change",)), d) == ["firmware_change"]
    only_uk = Alerts(command=("true",), rules=("new_device_of_concern",), concerns=("no-such-list",))
    assert alerts.fired(only_uk, d) == []   # the new Dahua NVR is on other lists, not this one
    assert alerts.fired(every, diffmod.diff("HQ", ("a", "1"), ("b", "2"), [], [])) == []


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.bodies.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_webhook_on_loopback_gets_the_diff_after_a_retry() -> None:
    srv = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        d = _diff()
        url = f"http://127.0.0.1:{srv.server_port}/hook?token=s3cret"
        outcome = alerts.post(url, alerts.payload(d, ["new_device"]), timeout=5, retries=2, sleep=lambda s: None)
        assert "delivered" in outcome and "try 2" in outcome and "s3cret" not in outcome
        doc = json.loads(_Hook.bodies[-1])
        assert doc["schema"] == "camscan.diff/1" and doc["alerts"] == ["new_device"]
        assert [x["ip"] for x in doc["added"]] == ["198.18.0.11"]
        srv_dead = alerts.post("http://127.0.0.1:9/x", b"{}", timeout=1, retries=1, sleep=lambda s: None)
        assert "not delivered after 2 tries" in srv_dead
    finally:
        srv.shutdown()


def test_the_alert_command_reads_the_alert_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "alert.json"
    script = tmp_path / "notify.py"
    script.write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())\n")
    site = tmp_path / "site.yaml"
    site.write_text(f"name: HQ\nranges: [198.18.0.0/24]\nalerts:\n  command: {sys.executable} {script} {out}\n"
                    "  rules: [device_gone]\n")
    a = load_site(site).alerts
    assert a is not None and a.rules == ("device_gone",)
    t = alerts.send(a, _diff(), lambda m: None)
    assert t is not None
    t.join(30)
    assert [x["ip"] for x in json.loads(out.read_text())["removed"]] == ["198.18.0.12"]


@pytest.mark.parametrize(("text", "secs"), [("24h", 86400), ("30m", 1800), ("1h30m", 5400), ("7d", 604800),
                                            ("90s", 90)])
def test_intervals(text: str, secs: int) -> None:
    assert parse_every(text) == secs


@pytest.mark.parametrize("text", ["", "24", "h", "0s", "1y", "-5m", "24 h"])
def test_bad_intervals_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--every"):
        parse_every(text)


def test_cron_lines_and_systemd_units(tmp_path: Path) -> None:
    assert cron_line(86400, "camscan watch").startswith("30 2 * * * ")
    assert cron_line(6 * 3600, "x") == "0 */6 * * * x"
    assert cron_line(15 * 60, "x") == "*/15 * * * * x"
    with pytest.raises(InputError, match="cron cannot"):
        cron_line(7 * 3600, "x")
    site = tmp_path / "site.yaml"
    site.write_text("name: Example Road\nranges: [198.18.0.0/24]\n")
    env = {**os.environ}
    p = subprocess.run([sys.executable, "-m", "scanner", "schedule", "--site", str(site), "--every", "24h"],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "# camscan-example-road.service" in p.stdout and "OnUnitActiveSec=86400s" in p.stdout
    assert f"watch --site {site.resolve()} --every 86400s --once" in p.stdout
    units = tmp_path / "units"
    p = subprocess.run([sys.executable, "-m", "scanner", "schedule", "--site", str(site), "--every", "6h",
                        "--install", "--unit-dir", str(units)], capture_output=True, text=True, cwd=REPO,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in units.iterdir()) == ["camscan-example-road.service", "camscan-example-road.timer"]


def test_bad_alert_settings_are_refused_before_anything_runs(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    for bad, needle in [("alerts: {webhook: {url: ftp://x}}", "http:// or https://"),
                        ("alerts: {command: notify, rules: [new_toaster]}", "alerts.rules"),
                        ("alerts: {rules: [new_device]}", "needs a webhook or a command"),
                        ("alerts: {webhook: {url: 'http://h', retries: 99}}", "retries")]:
        site.write_text(f"name: HQ\nranges: [198.18.0.0/24]\n{bad}\n")
        with pytest.raises(InputError, match=needle):
            load_site(site)
