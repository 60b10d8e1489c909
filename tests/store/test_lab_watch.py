"""`camscan watch` on the lab: scans on a schedule without overlapping, diffs, alerts a webhook and a command,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.conftest import REPO, running_lab

pytestmark = pytest.mark.lab

RECEIVER = """
import http.server, pathlib, sys
out = pathlib.Path(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with out.open("ab") as f:
            f.write(body + b"\\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _history(lab, db: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return list(json.loads(lab.camscan("history", "--db", db, "--format", "json").stdout)["scans"])


def test_watch_scans_diffs_alerts_and_stops_on_sigterm(tmp_path: Path) -> None:
    db, hooked, commanded = str(tmp_path / "w.db"), tmp_path / "hook.jsonl", tmp_path / "cmd.json"
    (tmp_path / "receiver.py").write_text(RECEIVER)
    (tmp_path / "notify.py").write_text("import sys, pathlib\n"
                                        "pathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())\n")
    with running_lab("watch", "--profile", "small", "--seed", "9") as lab:
        subnet = lab.truth()["subnet"]
        site = tmp_path / "site.yaml"
        site.write_text(f"name: Watch Lab\nranges: [{subnet}]\nmodules: [arp, tcp, http, sadp, dhip]\n"
                        f"alerts:\n  webhook: {{url: 'http://127.0.0.1:18081/camscan', timeout: 5, retries: 2}}\n"
                        f"  command: [{sys.executable}, {tmp_path / 'notify.py'}, {commanded}]\n"
                        "  rules: [new_device, device_gone]\n")
        env = {**os.environ, "CAMSCAN_LAB": lab.instance}
        recv = subprocess.Popen([sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable,
                                 str(tmp_path / "receiver.py"), "18081", str(hooked)], env=env, cwd=REPO)
        watch = subprocess.Popen([sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, "-m",
                                  "scanner", "watch", "--site", str(site), "--every", "25s", "--db", db,
                                  "--out", str(tmp_path / "out")], env=env, cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(s["complete"] for s in _history(lab, db)):
                time.sleep(1)
            lab.camscan("lab", "mutate", "--add", "1", "--remove", "1")
            while time.monotonic() < deadline + 60 and sum(s["complete"] for s in _history(lab, db)) < 2:
                time.sleep(1)
            while time.monotonic() < deadline + 90 and not (hooked.exists() and commanded.exists()):
                time.sleep(0.5)
            watch.send_signal(signal.SIGTERM)
            _, err = watch.communicate(timeout=120)
        finally:
            if watch.poll() is None:
                watch.kill()
            recv.terminate()
            recv.wait(10)
    assert watch.returncode == 0, err
    assert "SIGTERM: stopping" in err and "stopped after 2 scan(s)" in err
    listed = subprocess.run([sys.executable, "-m", "scanner", "history", "--db", db, "--format", "json"],
                            capture_output=True, text=True, cwd=REPO).stdout
    scans = sorted(json.loads(listed)["scans"], key=lambda s: s["started"])
    assert [s["complete"] for s in scans] == [True, True], listed
    assert scans[0]["finished"] <= scans[1]["started"]            # never two scans at once
    alert = json.loads(hooked.read_text().splitlines()[0])
    assert alert["schema"] == "camscan.diff/1" and set(alert["alerts"]) == {"new_device", "device_gone"}
    assert len(alert["added"]) == 1 and len(alert["removed"]) == 1
    assert json.loads(commanded.read_text()) == alert
