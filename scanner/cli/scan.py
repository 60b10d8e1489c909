"""`camscan scan` and `camscan import-nmap`: sweep authorised ranges, identify, write the inventory.

Exit status (documented in the README and the man page): 0 done, 1 a --fail-on condition met, 2 bad input
or usage (nothing was sent or written), 3 runtime failure, 128+N stopped by signal N (130 SIGINT, 143 SIGTERM).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

import click
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from scanner import __version__, report
from scanner import log as logmod
from scanner.cli import parallel as parallel_run
from scanner.discovery.base import Progress
from scanner.errors import CamscanError, InputError
from scanner.inventory.build import build, site_info
from scanner.inventory.merge import ip_key
from scanner.inventory.records import Inventory, ScanError, ScanInfo
from scanner.inventory.serialise import to_dict
from scanner.match.engine import Engine, get_engine, keep_engine, loaded_engine
from scanner.match.load import SURVEILLANCE_CATEGORIES, Database, load_database
from scanner.scan import DEFAULT_RATE, Plan, ScanRequest, StopRequest, plan, run
from scanner.scope import parse_target
from scanner.sites import Credentials, Site, load_credentials, load_site
from scanner.store import open_store, site_key

_err = Console(stderr=True)
_log = logging.getLogger("camscan.cli")

EXIT_OK: Final = 0
EXIT_FAIL_ON: Final = 1
EXIT_INPUT: Final = 2
EXIT_RUNTIME: Final = 3
FAIL_ON: Final = ("surveillance", "concern", "advisory", "error")
FORMAT_HELP = "Comma list of json,csv,md,html,xlsx (inventory.json is always written)."



def log_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """-q/--quiet, -v/--verbose (repeatable) and --log-format for a command."""
    f = click.option("--log-format", type=click.Choice(logmod.FORMATS), default=None,
                     help="Log lines on stderr as text or JSON lines (time, level, logger, message, fields) "
                          "[default: text].")(f)
    f = click.option("-v", "--verbose", count=True,
                     help="More log detail: -v debug (hosts found, each error as it happens), -vv debug from "
                          "the libraries too.")(f)
    f = click.option("-q", "--quiet", is_flag=True,
                     help="Only warnings and errors on stderr; no summary text (--json still prints).")(f)
    return f


def setup_logging(verbose: int, quiet: bool, log_format: str | None) -> tuple[int, bool, str]:
    """Configure logging from the group's options plus the command's; the (verbose, quiet, format) in force."""
    top = click.get_current_context().find_root().obj or {}
    verbose += int(top.get("verbose", 0))
    quiet = quiet or bool(top.get("quiet", False))
    fmt = log_format or str(top.get("log_format") or "text")
    logmod.setup(verbose, quiet, fmt)
    return verbose, quiet, fmt


def fail_on_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--fail-on CONDITION (repeatable or a comma list)."""
    return click.option(
        "--fail-on", "fail_on", multiple=True, metavar="COND[,COND]",
        callback=lambda _c, _p, v: parse_fail_on(v),
        help="Exit 1 when the scan finds: surveillance (any surveillance device), concern (a device on a "
             "concern list), advisory (a device with an advisory), error (any real error). Repeatable or a "
             "comma list.")(f)


def parse_fail_on(values: Sequence[str]) -> list[str]:
    """['concern,advisory', 'error'] -> ['concern', 'advisory', 'error']; a usage error for anything else."""
    out: list[str] = []
    for v in values:
        for c in (x.strip().lower() for x in v.split(",")):
            if not c:
                continue
            if c not in FAIL_ON:
                raise click.BadParameter(f"{c!r} is not one of {', '.join(FAIL_ON)}", param_hint="'--fail-on'")
            if c not in out:
                out.append(c)
    return out


def failed_conditions(inv: Inventory, fail_on: Sequence[str]) -> list[str]:
    """The --fail-on conditions the inventory meets."""
    devs = inv.devices
    met = {"surveillance": any(d.category in SURVEILLANCE_CATEGORIES for d in devs),
           "concern": any(report.of_concern(d) for d in devs),
           "advisory": any(d.advisories for d in devs),
           "error": report.error_count(inv) > 0}
    return [c for c in fail_on if met[c]]


def read_list_file(path: str, what: str, empty_ok: bool = False) -> list[str]:
    """Targets from a file, nmap -iL style: separated by newlines or blanks, `#` starts a comment; '-' is stdin.

    InputError naming the file and line for a bad entry (or an empty file, unless empty_ok).
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{what} {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: not UTF-8 text") from None
    out: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        for tok in line.split("#", 1)[0].split():
            try:
                parse_target(tok)
            except InputError as e:
                raise InputError(f"{what} {path}:{n}: {e}") from None
            out.append(tok)
    if not out and not empty_ok:
        raise InputError(f"{what} {path}: no targets in it (one per line; # starts a comment)")
    return out


def print_summary(inv: Inventory, why: bool = False, file: IO[str] | None = None) -> None:
    """Human summary: surveillance devices by maker and kind with their concern lists and a legend, maker-named
    devices of unknown kind in their own rows, then totals (real errors apart from ignored out-of-scope replies)."""
    con = Console(file=file or sys.stdout, highlight=False)
    rows = report.maker_rows(inv)
    kinds = [c for c in report.KINDS if any(r.counts.get(c) for r in rows)] or ["camera"]
    unknown_col = any(not r.surveillance for r in rows)
    legend = report.concern_legend(inv)
    mark = {c[0]: str(i) for i, c in enumerate(legend, 1)}   # concern list id -> its number in the legend
    t = Table(title=f"Surveillance devices by maker ({inv.site.name or 'ad-hoc scan'})")
    t.add_column("maker")
    for c in kinds:
        t.add_column(c, justify="right")
    if unknown_col:
        t.add_column("unknown", justify="right")
    t.add_column("total", justify="right")
    t.add_column("concern")
    for r in rows:
        t.add_row(Text(r.label), *[str(r.counts.get(c, "")) for c in kinds],
                  *([str(r.counts.get("unknown", ""))] if unknown_col else []), str(r.total),
                  ",".join(mark[c] for c in r.concerns))
    con.print(t)
    notes = [f"{k}: {v}." for k, v in report.KIND_NOTES.items() if k in kinds or (k == "unknown" and unknown_col)]
    if notes:
        con.print(Text("\n".join(notes), style="dim"))
    if legend:
        con.print("concern lists:")
        for i, n, src, date in legend:
            con.print(Text(f"  {mark[i]} {i}: {n} ({src}, {date})"))
    devs = inv.devices
    surv = sum(1 for d in devs if d.category in SURVEILLANCE_CATEGORIES)
    other = sum(1 for d in devs if d.category == "other")
    unknown = sum(1 for d in devs if d.category == "unknown")
    named = sum(1 for d in devs if report.named_unknown(d))
    concern = sum(1 for d in devs if report.of_concern(d))
    adv = sum(1 for d in devs if d.advisories)
    secs = inv.scan.stats.get("seconds")
    con.print(Text(f"{len(devs)} hosts: {surv} surveillance devices ({concern} of concern, {adv} with advisories), "
                   f"{other} other, {unknown} unidentified ({named} maker-named); "
                   f"{report.error_count(inv)} errors, {report.ignored_out_of_scope(inv)} ignored out-of-scope replies"
                   + (f"; {float(secs):.1f}s" if isinstance(secs, int | float) else "")))
    behind = [d for d in devs if d.via is not None and d.via.matched_by is None]
    if behind:
        con.print(Text(f"{len(behind)} of the devices are cameras seen only through their recorders' channel lists "
                       "(counted once; their reported addresses were never contacted)."))
    unread = [d for d in devs if d.behind is not None and d.behind.listed is None]
    if unread:
        stated = [d.behind.stated for d in unread if d.behind is not None and d.behind.stated is not None]
        con.print(Text(f"{len(unread)} recorder(s) not read (no credentials for them): cameras behind them unknown"
                       + (f"; they state {sum(stated)} channels in all" if stated else "") + "."))
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
@click.option("-iL", "--targets-file", "targets_files", multiple=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Read targets from FILE (nmap's -iL): separated by newlines or blanks, # starts a comment, "
                   "- reads stdin; repeatable, added to TARGET....")
@click.option("--site", "site_files", multiple=True, type=click.Path(),
              help="Site file (YAML; see examples/), or a folder of them. Repeatable: several sites are scanned one "
                   "after another (or --parallel N at once), each with its own ranges, rate and interface, "
                   "recorded as its own scan and written to its own sub-folder of --out.")
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="With several sites: scan up to N of them at once, each in a process of its own; the same "
                   "scans, files, summaries and exit status as one after another.")
@click.option("--exclude", "excludes", multiple=True, help="CIDR or address never to probe (repeatable).")
@click.option("--exclude-file", "exclude_files", multiple=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Read addresses and CIDRs never to probe from FILE (same syntax as -iL); repeatable.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="camscan-out", show_default=True,
              help="Folder for inventory.json and the other formats.")
@click.option("--format", "formats", default="json", show_default=True, help=FORMAT_HELP)
@click.option("--json", "json_out", is_flag=True,
              help="Print the summary as JSON (schema camscan.summary/1) on stdout; human text goes to stderr.")
@fail_on_option
@click.option("--interface", default=None, help="Interface to scan from (default: the route to the targets).")
@click.option("--credentials", "cred_file", type=click.Path(dir_okay=False),
              help="Operator credentials file (YAML): one login attempt per device at most.")
@click.option("--modules", default=None, help="Comma list of discovery modules (default: all).")
@click.option("--rate", type=float, default=None, callback=lambda _c, _p, v: _check_rate(v),
              help=f"Global probe rate, per second: a finite number above 0 [default: {DEFAULT_RATE:g}].")
@click.option("--engine", type=click.Choice(["native", "nmap"]), default="native", show_default=True,
              help="Host discovery and port scanning by camscan itself (native) or by nmap (needs nmap installed); "
                   "identification is the same.")
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
@log_options
def scan(targets: tuple[str, ...], targets_files: tuple[str, ...], site_files: tuple[str, ...], parallel: int,
         excludes: tuple[str, ...],
         exclude_files: tuple[str, ...], out_dir: str, formats: str, json_out: bool, fail_on: list[str],
         interface: str | None, cred_file: str | None, modules: str | None, rate: float | None, engine: str,
         why: bool, allow_large: bool, allow_public: bool, concerns: str | None, db: str | None,
         no_store: bool, allow_link_local: bool, quiet: bool, verbose: int, log_format: str | None) -> None:
    """Scan TARGET... (CIDR, a-b range or address) for surveillance devices and name their makers.

    Exit status: 0 done, 1 a --fail-on condition met, 2 bad input (nothing sent or written), 3 runtime
    failure, 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM).
    """
    verbose, quiet, fmt = setup_logging(verbose, quiet, log_format)
    fmts = report.parse_formats(formats)
    all_targets = list(targets) + [t for f in targets_files for t in read_list_file(f, "--targets-file")]
    all_excludes = list(excludes) + [t for f in exclude_files
                                     for t in read_list_file(f, "--exclude-file", empty_ok=True)]
    paths = site_paths(site_files)
    sites = [load_site(f) for f in paths]
    live = sys.stderr.isatty() and fmt == "text" and not quiet
    if len(sites) > 1:
        if all_targets:
            raise InputError("TARGET and -iL cannot be combined with several --site files: each site scans its "
                             "own ranges")
        opts: dict[str, Any] = dict(excludes=tuple(all_excludes), cred_file=cred_file, modules=modules, rate=rate,
                                    interface=interface, engine=engine, allow_large=allow_large,
                                    allow_public=allow_public, concerns=concerns, allow_link_local=allow_link_local)
        out: dict[str, Any] = dict(out_dir=Path(out_dir), fmts=fmts, db=None if no_store else (db or ""), why=why,
                                   json_out=json_out, quiet=quiet, fail_on=fail_on)
        if parallel > 1:
            _scan_sites_parallel(sites, paths, parallel=parallel, verbose=verbose, log_format=fmt, **out, **opts)
        else:
            _scan_sites(sites, paths, live=live, **out, **opts)
        return
    site = sites[0] if sites else None
    req = build_request(all_targets, site, excludes=tuple(all_excludes), cred_file=cred_file, modules=modules,
                        rate=rate, interface=interface, engine=engine, allow_large=allow_large,
                        allow_public=allow_public, concerns=concerns, allow_link_local=allow_link_local)
    res = execute_scan(req, Path(out_dir), fmts, db=None if no_store else (db or ""), interruptible=True,
                       live=live)
    inv = res.inv
    code = EXIT_OK
    failed = failed_conditions(inv, fail_on)
    if failed:
        code = EXIT_FAIL_ON
    if not inv.scan.complete:
        by = str(inv.scan.stats.get("stopped_by") or "")
        # the shell's convention for a run ended by a signal: 128 + its number
        code = 128 + signal.Signals[by].value if by in signal.Signals.__members__ else EXIT_RUNTIME
    finish(inv, res.scan_id, res.files, why=why, json_out=json_out, quiet=quiet, fail_on=fail_on, failed=failed,
           code=code)
    if code:
        sys.exit(code)


def site_paths(given: Sequence[str]) -> list[Path]:
    """--site values as site files: a folder stands for its *.yaml and *.yml files, in name order; InputError for
    an empty folder."""
    out: list[Path] = []
    for g in given:
        p = Path(g)
        if p.is_dir():
            files = sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file())
            if not files:
                raise InputError(f"--site {g}: the folder holds no site file (*.yaml)")
            out.extend(files)
        else:
            out.append(p)      # load_site says what is wrong with a missing or unreadable file
    return out


def _folder(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-.") or "site"


def _scan_sites(sites: Sequence[Site], paths: Sequence[Path], *, out_dir: Path, fmts: list[str], db: str | None,
                live: bool, why: bool, json_out: bool, quiet: bool, fail_on: list[str], **opts: Any) -> None:
    """Scan several sites one after another (each its own scan, scope, rate and sub-folder of out_dir); every
    site's input is checked before the first packet. A site whose scan cannot start (e.g. already running) is that
    site's error and the others go on, as with --parallel; a stop by signal ends the run; --json prints a list of
    camscan.summary/1 documents, one per site scanned. Exit status: the first signal's, else 2 if a site's scan
    failed, else 1 if any site met a --fail-on condition, else 0."""
    reqs, folders = _check_sites(sites, paths, out_dir, fmts, **opts)
    docs: list[dict[str, Any]] = []
    code = EXIT_OK
    for site, req, folder in zip(sites, reqs, folders, strict=True):
        _log.info("site %s", site.name, extra={"fields": {"site": site.name}})
        try:
            res = execute_scan(req, folder, fmts, db=db, interruptible=True, live=live)
        except CamscanError as e:
            code = _merge_code(code, EXIT_INPUT)
            _log.error("site %s: scan failed (exit %d): camscan: error: %s", site.name, EXIT_INPUT, e,
                       extra={"fields": {"site": site.name, "exit_code": EXIT_INPUT}})
            continue
        site_code = _site_done(res.inv, res.scan_id, res.files, docs, why=why, json_out=json_out, quiet=quiet,
                               fail_on=fail_on)
        code = _merge_code(code, site_code)
        if site_code > EXIT_RUNTIME:
            break     # stopped by a signal: the remaining sites are not scanned
    if json_out:
        click.echo(json.dumps(docs, indent=1, ensure_ascii=False))
    if code:
        sys.exit(code)


def _check_sites(sites: Sequence[Site], paths: Sequence[Path], out_dir: Path, fmts: list[str],
                 **opts: Any) -> tuple[list[ScanRequest], list[Path]]:
    """Every site's request and output folder, each checked (names unique, targets, scope, interface, output
    files) before anything is sent; InputError for the first problem."""
    seen: dict[str, Path] = {}
    for site, path in zip(sites, paths, strict=True):
        if site.name in seen:
            raise InputError(f"site {site.name!r} is named by both {seen[site.name]} and {path}")
        seen[site.name] = path
    reqs = [build_request([], site, **opts) for site in sites]
    folders = [out_dir / _folder(site.name) for site in sites]
    for req, folder in zip(reqs, folders, strict=True):
        report.check_out(folder, fmts)
        plan(req)   # targets, interface and scope of every site are checked before anything is sent
    return reqs, folders


def _site_done(inv: Inventory, scan_id: str | None, files: Sequence[Path], docs: list[dict[str, Any]], *,
               why: bool, json_out: bool, quiet: bool, fail_on: list[str]) -> int:
    """Print one site's result as a scan of it alone would (its summary added to docs with --json); its exit
    status: 128+N if a signal stopped it, else 1 if it met a --fail-on condition, else 0."""
    failed = failed_conditions(inv, fail_on)
    site_code = EXIT_FAIL_ON if failed else EXIT_OK
    if not inv.scan.complete:
        by = str(inv.scan.stats.get("stopped_by") or "")
        site_code = 128 + signal.Signals[by].value if by in signal.Signals.__members__ else EXIT_RUNTIME
    finish(inv, scan_id, files, why=why, json_out=json_out, quiet=quiet, fail_on=fail_on,
           failed=failed, code=site_code, emit_json=False)
    if json_out:
        docs.append(report.summary_doc(inv, scan_id=scan_id, files=files, fail_on=fail_on, failed=failed,
                                       exit_code=site_code))
    return site_code


def _merge_code(code: int, site_code: int) -> int:
    """The run's exit status so far after one more site: a status above 1 (error, signal) replaces what came
    before, a 1 replaces only a 0."""
    return site_code if site_code > EXIT_FAIL_ON or code == EXIT_OK else code


def _site_job(req: ScanRequest, folder: Path, fmts: list[str], db: str | None, verbose: int,
              log_format: str) -> Callable[[IO[bytes]], int]:
    """The work of one site's child process: scan it as _scan_sites would (quiet unless -v) and leave the
    inventory, scan id and files written, pickled, in the result file; exit status 2 for a CamscanError."""
    def job(result: IO[bytes]) -> int:
        logmod.setup(verbose, verbose <= 0, log_format)
        try:
            res = execute_scan(req, folder, fmts, db=db, interruptible=True)
        except CamscanError as e:
            click.echo(f"camscan: error: {e}", err=True)
            return EXIT_INPUT
        pickle.dump((res.inv, res.scan_id, [str(f) for f in res.files]), result)
        return EXIT_OK
    return job


def _scan_sites_parallel(sites: Sequence[Site], paths: Sequence[Path], *, parallel: int, verbose: int,
                         log_format: str, out_dir: Path, fmts: list[str], db: str | None, why: bool,
                         json_out: bool, quiet: bool, fail_on: list[str], **opts: Any) -> None:
    """_scan_sites with up to `parallel` sites at once, each in a child process of its own: every site is
    checked and the engine loaded here first, the store prepared once, then the children's results are printed
    and merged in site order exactly as one after another. A child that fails is that site's error (its
    message, exit status 2 or 3) while the others go on; a signal stops every running site (each writes its
    incomplete inventory), starts no more, and the run exits 128+N."""
    reqs, folders = _check_sites(sites, paths, out_dir, fmts, **opts)
    check_concerns(reqs[0].concern_lists)     # also loads the engine once, for every child
    if db is not None:
        open_store(db or None).close()     # created and migrated once, before any child opens it
    jobs = [parallel_run.Job(site.name, _site_job(req, folder, fmts, db, verbose, log_format))
            for site, req, folder in zip(sites, reqs, folders, strict=True)]
    docs: list[dict[str, Any]] = []
    codes: list[int] = []

    def on_done(i: int, out: parallel_run.Outcome) -> None:
        codes.append(_child_done(sites[i].name, out, docs, why=why, json_out=json_out, quiet=quiet,
                                 fail_on=fail_on))

    stopped_by = parallel_run.run_jobs(jobs, parallel, on_done, tag_lines=log_format == "text")
    code = EXIT_OK
    for c in codes:
        code = _merge_code(code, c)
    if stopped_by is not None:
        code = 128 + signal.Signals[stopped_by].value
    if json_out:
        click.echo(json.dumps(docs, indent=1, ensure_ascii=False))
    if code:
        sys.exit(code)


def _child_done(name: str, out: parallel_run.Outcome, docs: list[dict[str, Any]], *, why: bool, json_out: bool,
                quiet: bool, fail_on: list[str]) -> int:
    """One child's result printed like a one-after-another site (_site_done) when it scanned; otherwise an error
    naming the site and what went wrong. The site's exit status."""
    if out.returncode == EXIT_OK and out.result:
        inv, scan_id, files = pickle.loads(out.result)    # written by our own child (_site_job)
        return _site_done(inv, scan_id, [Path(f) for f in files], docs, why=why, json_out=json_out, quiet=quiet,
                          fail_on=fail_on)
    if out.returncode < 0:
        what = f"killed by {parallel_run.signame(-out.returncode)} before it wrote an inventory"
        code = 128 - out.returncode if -out.returncode in (signal.SIGINT, signal.SIGTERM) else EXIT_RUNTIME
    else:
        what = f"exit {out.returncode}"
        code = out.returncode if out.returncode in (EXIT_INPUT, EXIT_RUNTIME) else EXIT_RUNTIME
    _log.error("site %s: scan failed (%s)%s", name, what, f": {out.last_error}" if out.last_error else "",
               extra={"fields": {"site": name, "exit_code": code}})
    return code


def finish(inv: Inventory, scan_id: str | None, files: Sequence[Path], *, why: bool, json_out: bool, quiet: bool,
           fail_on: Sequence[str], failed: Sequence[str], code: int, emit_json: bool = True) -> None:
    """Print what the operator reads: the human summary (stdout, or stderr with --json; none with -q), the
    files written and the scan id, the JSON summary (--json) and which --fail-on conditions were met."""
    human = sys.stderr if json_out else sys.stdout
    if not quiet:
        print_summary(inv, why, human)
        for w in files:
            click.echo(f"wrote {w}", file=human)
        if scan_id:
            click.echo(f"recorded as scan {scan_id}" + ("" if inv.scan.complete else " (incomplete)"), file=human)
    if failed:
        _log.warning("--fail-on met: %s (exit %d)", ", ".join(failed), EXIT_FAIL_ON,
                     extra={"fields": {"failed": list(failed), "exit_code": code}})
    if json_out and emit_json:
        doc = report.summary_doc(inv, scan_id=scan_id, files=files, fail_on=fail_on, failed=failed, exit_code=code)
        click.echo(json.dumps(doc, indent=1, ensure_ascii=False))


def _secrets(creds: Credentials) -> None:
    """Register the credentials' passwords and communities with the log redaction."""
    for lg in [creds.default, *creds.hosts.values()]:
        if lg is not None:
            logmod.add_secret(lg.password)
    for c in creds.snmp_communities:
        logmod.add_secret(c)


def build_request(targets: tuple[str, ...] | list[str], site: Site | None, *, excludes: tuple[str, ...] = (),
                  cred_file: str | None = None, modules: str | None = None, rate: float | None = None,
                  interface: str | None = None, engine: str = "native", allow_large: bool = False,
                  allow_public: bool = False, concerns: str | None = None,
                  allow_link_local: bool = False) -> ScanRequest:
    """A ScanRequest from the command line and the site file (InputError for anything bad)."""
    all_targets = list(targets) + ([r.cidr for r in site.ranges] if site else [])
    if not all_targets:
        raise InputError("no targets: give TARGET..., -iL FILE or --site with ranges")
    creds_path = cred_file or (site.credentials if site else None)
    creds = load_credentials(creds_path) if creds_path else None
    if creds is not None:
        _secrets(creds)
    mod_list = [m.strip() for m in modules.split(",") if m.strip()] if modules else (
        list(site.modules) if site and site.modules else None)
    return ScanRequest(
        targets=all_targets, excludes=list(excludes) + (list(site.excludes) if site else []), site=site,
        modules=mod_list, rate=rate if rate is not None else (site.rate if site and site.rate else DEFAULT_RATE),
        interface=interface or (site.interface if site else None), credentials=creds, engine=engine,
        allow_large=allow_large, allow_public=allow_public, allow_link_local=allow_link_local,
        concern_lists=[c.strip() for c in concerns.split(",")] if concerns else None)


def check_concerns(lists: Sequence[str] | None) -> Engine:
    """The fingerprint engine, after checking that every concern list id named is one it knows (InputError)."""
    eng = get_engine()
    _check_concern_ids(eng.db, lists)
    return eng


def _check_concern_ids(db: Database, lists: Sequence[str] | None) -> None:
    if lists is not None:
        known = {c.id for c in db.concerns}
        bad = [c for c in lists if c not in known]
        if bad:
            raise InputError(f"--concerns: unknown list(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")


def engine_in_background(lists: Sequence[str] | None) -> Callable[[], Engine]:
    """Load the database and check the concern list ids now (InputError), and compile the engine's rule index in a
    thread while the sweep runs (it is needed only once the sweep is over); the callable returned waits for it.
    (Matching the rules' own examples in that thread too, so their regexes are compiled before identification,
    was measured and dropped: it takes ~0.5 s of CPU from the sweep's event loop for ~0.13 s saved after it.)"""
    built = loaded_engine()
    if built is not None:   # an earlier site of this run, or the parent of a --parallel child, built it already
        _check_concern_ids(built.db, lists)
        return lambda: built
    db = load_database()
    _check_concern_ids(db, lists)
    fut: Future[Engine] = Future()

    def build() -> None:
        try:
            eng = Engine(db)
        except BaseException as e:   # handed to the caller, who raises it where it asks for the engine
            fut.set_exception(e)
            return
        keep_engine(eng)   # the next site of a multi-site run starts from it
        fut.set_result(eng)
        with contextlib.suppress(Exception):   # a head start only: http.py imports it itself when needed
            importlib.import_module("cryptography.x509")   # for certificates the sweep reads, off start-up

    # a daemon thread: a scan refused on bad input exits at once instead of waiting for it
    threading.Thread(target=build, name="camscan-engine", daemon=True).start()
    return fut.result


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


def _eta(p: Plan, req: ScanRequest, prog: Progress) -> float | None:
    """Seconds left, estimated: phase 1 from the first-pass probes still to send at the rate; phase 2 from the
    share of (module, host) work done so far. None while it cannot be told."""
    if prog.phase <= 1:
        if not any(m.name == "tcp" for m in p.modules):
            return None
        from scanner.discovery.tcp import LIVENESS_PORTS

        return max(0, p.scope.size() * len(LIVENESS_PORTS) - prog.probes()) / req.rate
    f = prog.fraction()
    if f is None or f < 0.02:
        return None
    return (time.monotonic() - prog.phase_started) * (1 - f) / f


def _progress_view(p: Plan, req: ScanRequest, prog: Progress, t0: float) -> Callable[[], Any]:
    """A renderable for the live display: phase, bar, hosts found and done, probes sent, elapsed, ETA."""
    def view() -> Any:
        eta = _eta(p, req, prog)
        f = prog.fraction()
        found = prog.hosts_found()
        bar = ProgressBar(total=None if f is None else 1.0, completed=f or 0.0, width=24,
                          pulse=f is None, animation_time=time.monotonic())
        line = Text(f" phase {max(prog.phase, 1)}/2  hosts found {found}  done {prog.hosts_done()}/{found}  "
                    f"probes {prog.probes()}  {time.monotonic() - t0:.0f}s  "
                    f"ETA {'?' if eta is None else f'{eta:.0f}s'}")
        grid = Table.grid()
        grid.add_row(bar, line)
        return Group(grid)
    return view


@dataclasses.dataclass(frozen=True, slots=True)
class ScanResult:
    """What execute_scan produced: the inventory, its store id (None without a store), the files written."""

    inv: Inventory
    scan_id: str | None
    files: list[Path]


def execute(req: ScanRequest, out_dir: Path, fmts: list[str], db: str | None,
            interruptible: bool = False) -> tuple[Inventory, str | None]:
    """execute_scan without a live display: (inventory, scan id)."""
    res = execute_scan(req, out_dir, fmts, db, interruptible)
    return res.inv, res.scan_id


def execute_scan(req: ScanRequest, out_dir: Path, fmts: list[str], db: str | None, interruptible: bool = False,
                 live: bool = False) -> ScanResult:
    """Plan, open the store (db None: no store; "": the default one), scan, write the files, record the scan.

    Every input error (targets, site, credentials, output files, store location, a scan of the same site
    running) is raised before anything is sent; the scan is filed incomplete first and marked complete at
    the end. interruptible: SIGINT/SIGTERM stop the sweep (in-flight work gets scanner.scan.STOP_GRACE_S),
    and what was found is written and stored as an incomplete scan. live: a progress display on stderr
    (hosts found and done, probes sent, ETA); otherwise progress goes to the log.
    """
    eng = engine_in_background(req.concern_lists)
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
            logmod.set_context(scan_id=scan_id)
        _log.info("scanning %s (%d addresses) from %s %s", ", ".join(str(n) for n in p.scope.targets),
                  p.scope.size(), p.interface or "?", p.interface_ip or "",
                  extra={"fields": {"targets": [str(n) for n in p.scope.targets], "addresses": p.scope.size(),
                                    "interface": p.interface, "site": req.site.name if req.site else None}})
        prog = Progress()
        if live:
            with Live(console=_err, transient=True, refresh_per_second=4, redirect_stderr=True,
                      get_renderable=_progress_view(p, req, prog, time.monotonic())):
                inv = run(req, eng, None, p, stop=stop, progress=prog)
        else:
            inv = run(req, eng, None, p, stop=stop, progress=prog)
        written = report.write(inv, out_dir, fmts)
        for w in written:
            _log.debug("wrote %s", w, extra={"fields": {"file": str(w)}})
        if store is not None and scan_id is not None:
            doc = to_dict(inv)
            store.add_devices(scan_id, doc["devices"])
            if inv.scan.complete:   # a stopped scan keeps its devices but stays incomplete (diff ignores it)
                store.finish_scan(scan_id, site, doc)
        st = inv.scan.stats
        _log.info("done: %d hosts, %d surveillance devices, %d errors, %d ignored out-of-scope replies, %.1fs",
                  len(inv.devices), sum(1 for d in inv.devices if d.category in SURVEILLANCE_CATEGORIES),
                  report.error_count(inv), report.ignored_out_of_scope(inv), float(st.get("seconds") or 0),
                  extra={"fields": {"hosts": len(inv.devices), "errors": report.error_count(inv),
                                    "ignored_out_of_scope": report.ignored_out_of_scope(inv),
                                    "seconds": st.get("seconds"), "probes": st.get("probes"),
                                    "complete": inv.scan.complete}})
    finally:
        if store is not None:
            if scan_id is not None:
                store.release(scan_id, site)
            store.close()
        restore_signals()
        logmod.set_context(scan_id=None)
    return ScanResult(inv, scan_id, written)


@click.command("import-nmap")
@click.argument("xml_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--site", "site_file", type=click.Path(dir_okay=False),
              help="Site file (YAML): the site's name, organisation and ranges (survey categories) for the inventory.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="camscan-out", show_default=True,
              help="Folder for inventory.json and the other formats.")
@click.option("--format", "formats", default="json", show_default=True, help=FORMAT_HELP)
@click.option("--concerns", default=None, help="Comma list of concern list ids to apply (default: all).")
@click.option("--json", "json_out", is_flag=True,
              help="Print the summary as JSON (schema camscan.summary/1) on stdout; human text goes to stderr.")
@fail_on_option
@click.option("--why", is_flag=True, help="Explain each identification.")
@log_options
def import_nmap(xml_file: str, site_file: str | None, out_dir: str, formats: str, concerns: str | None,
                json_out: bool, fail_on: list[str], why: bool, quiet: bool, verbose: int,
                log_format: str | None) -> None:
    """Identify devices from an existing nmap XML scan (-oX); sends nothing.

    Exit status: 0 done, 1 a --fail-on condition met, 2 bad input, 3 runtime failure.
    """
    from scanner.discovery.nmap import observations_from_nmap_xml

    t0 = time.monotonic()
    verbose, quiet, _ = setup_logging(verbose, quiet, log_format)
    fmts = report.parse_formats(formats)
    site = load_site(site_file) if site_file else None
    lists = [c.strip() for c in concerns.split(",") if c.strip()] if concerns else None
    eng = check_concerns(lists)
    report.check_out(Path(out_dir), fmts)
    text = Path(xml_file).read_text(encoding="utf-8", errors="replace")
    skipped: list[str] = []
    try:
        per_host = observations_from_nmap_xml(text, skipped)
    except ValueError as e:
        raise InputError(f"{xml_file}: not an nmap XML scan: {e}") from None
    obs = [o for lst in per_host.values() for o in lst]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    info = ScanInfo(started=now, finished=now, targets=tuple(sorted(per_host, key=ip_key)), excluded=(),
                    modules=("nmap-import",), privileged=False, tool_version=__version__,
                    fingerprints_version=eng.db.version, stats={"hosts": len(per_host), "source": str(xml_file)},
                    errors=tuple(ScanError("nmap-import", None, m) for m in skipped))
    for m in skipped:
        _log.warning("%s: %s", xml_file, m, extra={"fields": {"file": str(xml_file)}})
    inv = build(obs, eng, info, site_info(site.name, site.organisation,
                                          [(r.cidr, r.survey, r.vlan) for r in site.ranges]) if site else None,
                concern_lists=lists)
    secs = round(time.monotonic() - t0, 3)
    inv = dataclasses.replace(inv, scan=dataclasses.replace(info, stats={**info.stats, "devices": len(inv.devices),
                                                                           "seconds": secs}))
    written = report.write(inv, Path(out_dir), fmts)
    failed = failed_conditions(inv, fail_on)
    code = EXIT_FAIL_ON if failed else EXIT_OK
    finish(inv, None, written, why=why, json_out=json_out, quiet=quiet, fail_on=fail_on, failed=failed, code=code)
    if code:
        sys.exit(code)
