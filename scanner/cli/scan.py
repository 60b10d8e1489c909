"""`camscan scan` and `camscan import-nmap`: sweep authorised ranges, identify, write the inventory."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from scanner import __version__, report
from scanner.errors import InputError
from scanner.inventory.build import build
from scanner.inventory.merge import ip_key
from scanner.inventory.records import Inventory, ScanError, ScanInfo
from scanner.inventory.serialise import to_dict
from scanner.match.engine import get_engine
from scanner.match.load import SURVEILLANCE_CATEGORIES
from scanner.scan import DEFAULT_RATE, ScanRequest, StopRequest, plan, run
from scanner.sites import Site, load_credentials, load_site
from scanner.store import open_store, site_key

_err = Console(stderr=True)


FORMAT_HELP = "Comma list of json,csv,md,html,xlsx (inventory.json is always written)."


def _logger() -> Any:
    t0 = time.monotonic()
    tty = sys.stderr.isatty()

    def log(msg: str) -> None:
        if tty:
            _err.print(f"[dim]{time.monotonic() - t0:6.1f}s[/dim] {msg}")
        else:
            print(f"camscan: {time.monotonic() - t0:.1f}s {msg}", file=sys.stderr, flush=True)
    return log


def print_summary(inv: Inventory, why: bool = False) -> None:
    """Terminal summary: surveillance devices by maker and category, then totals."""
    con = Console()
    cats = sorted(SURVEILLANCE_CATEGORIES)
    t = Table(title=f"Surveillance devices by maker ({inv.site.name or 'ad-hoc scan'})")
    t.add_column("maker")
    for c in cats:
        t.add_column(c, justify="right")
    t.add_column("total", justify="right")
    for maker, counts, total in report.summary_rows(inv):
        t.add_row(maker, *[str(counts.get(c, "")) for c in cats], str(total))
    con.print(t)
    devs = inv.devices
    surv = sum(1 for d in devs if d.category in SURVEILLANCE_CATEGORIES)
    other = sum(1 for d in devs if d.category == "other")
    unknown = sum(1 for d in devs if d.category == "unknown")
    secs = inv.scan.stats.get("seconds")
    con.print(f"{len(devs)} hosts: {surv} surveillance devices, {other} other, {unknown} unidentified; "
              f"{len(inv.scan.errors)} errors" + (f"; {secs}s" if secs is not None else ""))
    if why:
        for d in devs:
            if d.category in SURVEILLANCE_CATEGORIES or d.vendor:
                con.print(f"\n[bold]{d.ip}[/bold] {d.vendor or '?'} / {d.brand or '-'} "
                          f"{d.model or ''} {d.category} ({d.confidence})", highlight=False)
                for e in sorted(d.evidence, key=lambda e: -e.confidence):
                    fld = f"[{e.field}]" if e.field else ""
                    con.print(f"   {e.confidence:.2f} {e.vendor or 'no maker'}: {e.signal}{fld} = "
                              f"{str(e.value)[:90]!r} ({e.rule_id})", highlight=False, markup=False)


def _check_rate(rate: float | None) -> float | None:
    """--rate as given, if it is a finite number above 0 (0, negatives, nan and inf would turn the limit off)."""
    if rate is not None and not 0 < rate < float("inf"):
        raise click.BadParameter(f"must be a finite number of probes per second above 0, not {rate:g}",
                                 param_hint="'--rate'")
    return rate


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--site", "site_file", type=click.Path(dir_okay=False), help="Site file (YAML); see examples/.")
@click.option("--exclude", "excludes", multiple=True, help="CIDR or address never to probe (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="camscan-out", show_default=True,
              help="Folder for inventory.json and the other formats.")
@click.option("--format", "formats", default="json", show_default=True, help=FORMAT_HELP)
@click.option("--interface", default=None, help="Interface to scan from (default: the route to the targets).")
@click.option("--credentials", "cred_file", type=click.Path(dir_okay=False),
              help="Operator credentials file (YAML): one login attempt per device at most.")
@click.option("--modules", default=None, help="Comma list of discovery modules (default: all).")
@click.option("--rate", type=float, default=None, callback=lambda _c, _p, v: _check_rate(v),
              help=f"Global probe rate, per second: a finite number above 0 [default: {DEFAULT_RATE:g}].")
@click.option("--engine", type=click.Choice(["native", "nmap"]), default="native", show_default=True)
@click.option("--why", is_flag=True, help="Explain each identification (evidence) after the summary.")
@click.option("--allow-large", is_flag=True, help="Allow targets larger than a /16.")
@click.option("--allow-public", is_flag=True, help="Allow public (non-private) address space.")
@click.option("--allow-link-local", is_flag=True,
              help="Allow link-local 169.254.0.0/16 (devices with self-assigned addresses; never the metadata "
                   "address). Loopback, unspecified, multicast, broadcast and reserved space are always refused.")
@click.option("--concerns", default=None, help="Comma list of concern list ids to apply (default: all).")
@click.option("--db", "db", default=None, metavar="PATH|URL",
              help="Record the scan in this store: a SQLite file (default: camscan.db in your data directory, or "
                   "$CAMSCAN_DB) or postgresql://...")
@click.option("--no-store", is_flag=True, help="Do not record the scan in the store.")
def scan(targets: tuple[str, ...], site_file: str | None, excludes: tuple[str, ...], out_dir: str, formats: str,
         interface: str | None, cred_file: str | None, modules: str | None, rate: float | None, engine: str,
         why: bool, allow_large: bool, allow_public: bool, concerns: str | None, db: str | None,
         no_store: bool, allow_link_local: bool) -> None:
    """Scan TARGET... (CIDR, a-b range or address) for surveillance devices and name their makers."""
    fmts = report.parse_formats(formats)
    site = load_site(site_file) if site_file else None
    req = build_request(targets, site, excludes=excludes, cred_file=cred_file, modules=modules, rate=rate,
                        interface=interface, engine=engine, allow_large=allow_large, allow_public=allow_public,
                        concerns=concerns, allow_link_local=allow_link_local)
    inv, scan_id = execute(req, Path(out_dir), fmts, db=None if no_store else (db or ""), interruptible=True)
    print_summary(inv, why)
    if scan_id:
        click.echo(f"recorded as scan {scan_id}" + ("" if inv.scan.complete else " (incomplete)"))
    if not inv.scan.complete:
        by = str(inv.scan.stats.get("stopped_by") or "")
        # the shell's convention for a run ended by a signal: 128 + its number
        sys.exit(128 + signal.Signals[by].value if by in signal.Signals.__members__ else 1)


def build_request(targets: tuple[str, ...] | list[str], site: Site | None, *, excludes: tuple[str, ...] = (),
                  cred_file: str | None = None, modules: str | None = None, rate: float | None = None,
                  interface: str | None = None, engine: str = "native", allow_large: bool = False,
                  allow_public: bool = False, concerns: str | None = None,
                  allow_link_local: bool = False) -> ScanRequest:
    """A ScanRequest from the command line and the site file (InputError for anything bad)."""
    all_targets = list(targets) + ([r.cidr for r in site.ranges] if site else [])
    if not all_targets:
        raise InputError("no targets: give TARGET... or --site with ranges")
    creds_path = cred_file or (site.credentials if site else None)
    creds = load_credentials(creds_path) if creds_path else None
    mod_list = [m.strip() for m in modules.split(",") if m.strip()] if modules else (
        list(site.modules) if site and site.modules else None)
    return ScanRequest(
        targets=all_targets, excludes=list(excludes) + (list(site.excludes) if site else []), site=site,
        modules=mod_list, rate=rate if rate is not None else (site.rate if site and site.rate else DEFAULT_RATE),
        interface=interface or (site.interface if site else None), credentials=creds, engine=engine,
        allow_large=allow_large, allow_public=allow_public, allow_link_local=allow_link_local,
        concern_lists=[c.strip() for c in concerns.split(",")] if concerns else None)


def _stop_on_signals(stop: StopRequest | None) -> Callable[[], None]:
    """From now on SIGINT and SIGTERM ask stop to end the scan instead of killing the process; undo with the result."""
    if stop is None or threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: object) -> None:
        stop.set(signal.Signals(signum).name)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
    return restore


def execute(req: ScanRequest, out_dir: Path, fmts: list[str], db: str | None,
            interruptible: bool = False) -> tuple[Inventory, str | None]:
    """Plan, open the store (db None: no store; "": the default one), scan, write the files, record the scan.

    Every input error (targets, site, credentials, output files, store location, a scan of the same site
    running) is raised before anything is sent; the scan is filed incomplete first and marked complete at
    the end. interruptible: SIGINT/SIGTERM stop the sweep (in-flight work gets scanner.scan.STOP_GRACE_S),
    and what was found is written and stored as an incomplete scan.
    """
    eng = get_engine()
    if req.concern_lists is not None:
        known = {c.id for c in eng.db.concerns}
        bad = [c for c in req.concern_lists if c not in known]
        if bad:
            raise InputError(f"--concerns: unknown list(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    report.check_out(out_dir, fmts)
    p = plan(req)   # every input error is raised here, before anything is sent
    store = open_store(db or None) if db is not None else None
    stop = StopRequest() if interruptible else None
    site = site_key(req.site.name if req.site else None, [str(n) for n in p.scope.targets])
    scan_id = None
    restore_signals = _stop_on_signals(stop)
    try:
        if store is not None:
            scan_id = store.begin_scan(site, datetime.now(UTC).isoformat(timespec="seconds"))
        head = (f"scanning {', '.join(str(n) for n in p.scope.targets)} ({p.scope.size()} addresses) "
                f"from {p.interface or '?'} {p.interface_ip or ''}")
        if sys.stderr.isatty():
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=_err, transient=True) as bar:
                task = bar.add_task("modules", total=len(p.modules))
                bar.console.print(head)
                inv = run(req, eng, lambda m: bar.console.print(m, highlight=False, markup=False), p,
                          on_done=lambda name: bar.advance(task), stop=stop)
        else:
            log = _logger()
            log(head)
            inv = run(req, eng, log, p, stop=stop)
        written = report.write(inv, out_dir, fmts)
        for w in written:
            click.echo(f"wrote {w}")
        if store is not None and scan_id is not None:
            doc = to_dict(inv)
            store.add_devices(scan_id, doc["devices"])
            if inv.scan.complete:   # a stopped scan keeps its devices but stays incomplete (diff ignores it)
                store.finish_scan(scan_id, site, doc)
    finally:
        if store is not None:
            if scan_id is not None:
                store.release(scan_id, site)
            store.close()
        restore_signals()
    return inv, scan_id


@click.command("import-nmap")
@click.argument("xml_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="camscan-out", show_default=True)
@click.option("--format", "formats", default="json", show_default=True, help=FORMAT_HELP)
@click.option("--why", is_flag=True, help="Explain each identification.")
def import_nmap(xml_file: str, out_dir: str, formats: str, why: bool) -> None:
    """Identify devices from an existing nmap XML scan (-oX); sends nothing."""
    from scanner.discovery.nmap import observations_from_nmap_xml

    fmts = report.parse_formats(formats)
    text = Path(xml_file).read_text(encoding="utf-8", errors="replace")
    skipped: list[str] = []
    try:
        per_host = observations_from_nmap_xml(text, skipped)
    except ValueError as e:
        raise InputError(f"{xml_file}: not an nmap XML scan: {e}") from None
    eng = get_engine()
    obs = [o for lst in per_host.values() for o in lst]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    info = ScanInfo(started=now, finished=now, targets=tuple(sorted(per_host, key=ip_key)), excluded=(),
                    modules=("nmap-import",), privileged=False, tool_version=__version__,
                    fingerprints_version=eng.db.version, stats={"hosts": len(per_host), "source": str(xml_file)},
                    errors=tuple(ScanError("nmap-import", None, m) for m in skipped))
    for m in skipped:
        click.echo(f"camscan: {xml_file}: {m}", err=True)
    inv = build(obs, eng, info)
    inv = dataclasses.replace(inv, scan=dataclasses.replace(info, stats={**info.stats,
                                                                           "devices": len(inv.devices)}))
    written = report.write(inv, Path(out_dir), fmts)
    print_summary(inv, why)
    for w in written:
        click.echo(f"wrote {w}")
