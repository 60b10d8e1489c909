"""Alerts: which changes between two scans of a site are worth telling someone, and telling them.

A webhook gets the diff as a JSON POST (bounded time per try, retries with backoff); a command gets the
same JSON on its standard input (run without a shell). Sending happens in a background thread so it never
holds up a scan; failures are reported, never raised.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Final

from scanner import __version__
from scanner.inventory.diff import Diff, to_dict
from scanner.sites import Alerts

COMMAND_TIMEOUT_S: Final = 60
BACKOFF_S: Final = (1.0, 2.0, 4.0, 8.0)


def fired(alerts: Alerts, d: Diff) -> list[str]:
    """The alert rules this diff meets."""
    out = []
    lists = None if alerts.concerns is None else set(alerts.concerns)

    def of_concern(concerns: tuple[str, ...]) -> bool:
        return bool(concerns) and (lists is None or bool(lists & set(concerns)))

    if "new_device" in alerts.rules and d.added:
        out.append("new_device")
    if "new_device_of_concern" in alerts.rules and (
            any(of_concern(x.concerns) for x in d.added)
            or any("vendor" in c.changes and of_concern(c.device.concerns) for c in d.changed)):
        out.append("new_device_of_concern")
    if "firmware_change" in alerts.rules and any("firmware" in c.changes for c in d.changed):
        out.append("firmware_change")
    if "device_gone" in alerts.rules and d.removed:
        out.append("device_gone")
    return out


def payload(d: Diff, rules: list[str]) -> bytes:
    """The alert body: the camscan.diff/1 document with the rules that fired."""
    return json.dumps({**to_dict(d), "alerts": rules}, ensure_ascii=False).encode()


def post(url: str, body: bytes, timeout: float, retries: int, sleep: Callable[[float], None] = time.sleep) -> str:
    """POST body to url, retrying with backoff; a one-line outcome (never the URL's query or credentials)."""
    where = url.split("//", 1)[-1].split("/", 1)[0].split("@")[-1]
    last = ""
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"camscan/{__version__}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return f"webhook {where}: delivered (HTTP {r.status}, try {attempt + 1})"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = type(e).__name__ + (f": {e.reason}" if isinstance(e, urllib.error.URLError) else "")
        if attempt < retries:
            sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
    return f"webhook {where}: not delivered after {retries + 1} tries ({last})"


def run_command(argv: tuple[str, ...], body: bytes) -> str:
    """Run the alert command with the alert JSON on stdin; a one-line outcome."""
    try:
        p = subprocess.run(list(argv), input=body, capture_output=True, timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"alert command {argv[0]}: failed: {type(e).__name__}"
    return f"alert command {argv[0]}: exit status {p.returncode}"


def send(alerts: Alerts, d: Diff, log: Callable[[str], None]) -> threading.Thread | None:
    """Send the alert for d if any rule fires, in a background thread (returned, to join before exiting)."""
    rules = fired(alerts, d)
    if not rules:
        return None
    body = payload(d, rules)

    def work() -> None:
        if alerts.webhook is not None:
            log(post(alerts.webhook.url, body, alerts.webhook.timeout, alerts.webhook.retries))
        if alerts.command:
            log(run_command(alerts.command, body))

    t = threading.Thread(target=work, name="camscan-alert", daemon=True)
    t.start()
    return t

