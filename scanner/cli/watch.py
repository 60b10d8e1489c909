"""`camscan watch` (scan a site on a schedule, diff each scan against the last, alert) and `camscan schedule`
(the same job for systemd or cron)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import click

from scanner import alerts as alertmod
from scanner.cli.history import db_option
from scanner.cli.scan import build_request, execute
from scanner.errors import InputError
from scanner.inventory import diff as diffmod
from scanner.inventory.serialise import device_from_dict
from scanner.sites import Site, load_site
from scanner.store import StoreBusy, open_store, site_key

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EVERY = re.compile(r"^(?:\d+[smhdw])+$")


def parse_every(text: str) -> int:
    """'24h', '30m', '1h30m', '7d' -> seconds; InputError for anything else or under a second."""
    t = text.strip().lower()
    if not _EVERY.match(t):
        raise InputError(f"--every {text!r}: give a duration such as 30m, 6h, 24h or 7d")
    secs = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", t))
    if secs < 1:
        raise InputError(f"--every {text!r}: must be at least one second")
    return secs


def _log(msg: str) -> None:
    click.echo(f"camscan watch: {time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}", err=True)


def _round(site: Site, out: Path, db: str | None) -> list[threading.Thread]:
    """One scan of the site, recorded; its diff against the previous complete scan; the alerts."""
    req = build_request([], site)
    try:
        _, scan_id = execute(req, out, ["json"], db=db or "")
    except StoreBusy as e:
        _log(f"skipped: {e}")
        return []
    store = open_store(db)
    try:
        key = site_key(site.name, [])
        rows = store.history(key, complete_only=True, limit=2)
        if len(rows) < 2 or rows[0].id != scan_id:
            _log(f"scan {scan_id} recorded; nothing to compare it with yet")
            return []
        old, new = rows[1], rows[0]
        d = diffmod.diff(key, (old.id, old.started), (new.id, new.started),
                         [device_from_dict(x) for x in store.devices(old.id)],
                         [device_from_dict(x) for x in store.devices(new.id)])
    finally:
        store.close()
    _log(f"scan {scan_id}: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed")
    if site.alerts is None:
        return []
    t = alertmod.send(site.alerts, d, _log)
    return [t] if t is not None else []


@click.command()
@click.option("--site", "site_file", required=True, type=click.Path(dir_okay=False), help="Site file (YAML).")
@click.option("--every", required=True, help="How often: 30m, 6h, 24h, 7d ...")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="camscan-out", show_default=True,
              help="Folder for the latest inventory.json.")
@db_option
@click.option("--once", is_flag=True, help="One round (scan, diff, alerts) and exit: for cron or a systemd timer.")
@click.option("--max-runs", type=click.IntRange(min=1), default=None, help="Stop after this many scans.")
def watch(site_file: str, every: str, out_dir: str, db: str | None, once: bool, max_runs: int | None) -> None:
    """Scan a site on a schedule (never two at once), record each scan, diff it against the last, alert.

    Stops cleanly on SIGTERM or SIGINT: a scan under way finishes and is recorded first.
    """
    interval = parse_every(every)
    site = load_site(site_file)
    build_request([], site)   # every input error now, before the first scan
    open_store(db).close()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            _log(f"{signal.Signals(signum).name}: stopping after the scan under way")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runs = 0
    pending: list[threading.Thread] = []
    limit = 1 if once else max_runs
    while not stop.is_set():
        started = time.monotonic()
        pending += _round(site, Path(out_dir), db)
        runs += 1
        if limit is not None and runs >= limit:
            break
        # the next scan starts `every` after this one started, or at once if this one overran: never overlapping
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
    for t in pending:
        t.join(timeout=120)
    _log(f"stopped after {runs} scan(s)")


def _camscan_exe() -> str:
    exe = shutil.which("camscan")
    return exe or f"{sys.executable} -m scanner"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "site"


def cron_line(every_s: int, command: str) -> str:
    """A crontab line running command every every_s seconds (intervals cron can express)."""
    m, h = every_s // 60, every_s // 3600
    if every_s % 60 == 0 and m < 60 and 60 % m == 0:
        when = f"*/{m} * * * *" if m > 1 else "* * * * *"
    elif every_s % 3600 == 0 and h < 24 and 24 % h == 0:
        when = f"0 */{h} * * *" if h > 1 else "0 * * * *"
    elif every_s == 86400:
        when = "30 2 * * *"
    elif every_s == 7 * 86400:
        when = "30 2 * * 0"
    else:
        raise InputError("cron cannot run that interval; use minutes dividing an hour, hours dividing a day, "
                         "1d or 7d (or the systemd timer)")
    return f"{when} {command}"


def systemd_units(site: Site, site_path: Path, every_s: int, db: str | None) -> dict[str, str]:
    """The service and timer units of a scheduled watch round (file name -> text)."""
    name = f"camscan-{_slug(site.name)}"
    state = f"/var/lib/camscan/{_slug(site.name)}"
    db_arg = f" --db {shlex.quote(db)}" if db else ""
    cmd = (f"{_camscan_exe()} watch --site {shlex.quote(str(site_path))} --every {every_s}s --once "
           f"--out {state}{db_arg}")
    service = f"""[Unit]
Description=camscan scan of site {site.name}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={cmd}
StateDirectory=camscan/{_slug(site.name)}
UMask=0077
"""
    timer = f"""[Unit]
Description=camscan scan of site {site.name}, every {every_s}s

[Timer]
OnBootSec=5min
OnUnitActiveSec={every_s}s
Persistent=true

[Install]
WantedBy=timers.target
"""
    return {f"{name}.service": service, f"{name}.timer": timer}


@click.command()
@click.option("--site", "site_file", required=True, type=click.Path(dir_okay=False), help="Site file (YAML).")
@click.option("--every", required=True, help="How often: 30m, 6h, 24h, 7d ...")
@db_option
@click.option("--cron", is_flag=True, help="Print a crontab line instead of systemd units.")
@click.option("--install", is_flag=True, help="Write the systemd units and enable the timer (root).")
@click.option("--unit-dir", type=click.Path(file_okay=False), default="/etc/systemd/system", show_default=True,
              help="Where --install writes the units.")
def schedule(site_file: str, every: str, db: str | None, cron: bool, install: bool, unit_dir: str) -> None:
    """Print (or install) a systemd service and timer, or a cron line, that runs `camscan watch --once`."""
    every_s = parse_every(every)
    site = load_site(site_file)
    site_path = Path(site_file).resolve()
    if cron:
        if install:
            raise InputError("--install writes systemd units; for cron, add the printed line to a crontab")
        db_arg = f" --db {shlex.quote(db)}" if db else ""
        click.echo(cron_line(every_s, f"{_camscan_exe()} watch --site {shlex.quote(str(site_path))} --every "
                                      f"{every_s}s --once --out /var/lib/camscan/{_slug(site.name)}{db_arg}"))
        return
    units = systemd_units(site, site_path, every_s, db)
    if not install:
        for fname, text in units.items():
            click.echo(f"# {fname}\n{text}")
        return
    folder = Path(unit_dir)
    if unit_dir == "/etc/systemd/system" and os.geteuid() != 0:
        raise InputError("--install into /etc/systemd/system needs root")
    folder.mkdir(parents=True, exist_ok=True)
    for fname, text in units.items():
        (folder / fname).write_text(text, encoding="utf-8")
        click.echo(f"wrote {folder / fname}")
    if unit_dir == "/etc/systemd/system":
        timer = next(f for f in units if f.endswith(".timer"))
        for cmd in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", timer]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise InputError(f"{' '.join(cmd)} failed: {p.stderr.strip()}")
        click.echo(f"enabled {timer}")

