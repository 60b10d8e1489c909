"""Reports from an inventory document: json, csv, md, html (scanner.report.html), xlsx (scanner.report.xlsx), and
the terminal summary.

Device strings are untrusted: CSV cells that a spreadsheet would run as a formula are neutralised and
Markdown table cells are escaped. Files are written atomically (a temporary file in the same folder,
fsynced, then renamed over the old one), owner-only (0600, folder 0700), never through a symlink.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from scanner.errors import InputError
from scanner.inventory.records import Device, Inventory
from scanner.inventory.serialise import to_json
from scanner.match.load import CATEGORIES, SURVEILLANCE_CATEGORIES

if TYPE_CHECKING:
    from scanner.match.load import ConcernList

FORMATS: Final = ("json", "csv", "md", "html", "xlsx")
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
# a spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV injection")
_FORMULA_LEAD: Final = ("=", "+", "-", "@", "\t", "\r")
# CommonMark backslash-escapable punctuation that changes a table or inline text
_MD_SPECIAL: Final = frozenset("|`*_[]()#!~")
CSV_COLUMNS: Final = ("ip", "mac", "vendor", "brand", "model", "firmware", "serial", "category", "confidence",
                      "concerns", "advisories", "open_ports", "hostnames", "discovered_by", "channels", "survey",
                      "behind_recorder", "cameras_behind")


def behind_text(d: Device) -> str:
    """'198.18.0.20 channel 3' for a camera a recorder reported (with how it matched when also seen directly)."""
    if d.via is None:
        return ""
    return f"{d.via.recorder} channel {d.via.channel}" + (f" (matched by {d.via.matched_by})"
                                                          if d.via.matched_by else "")


def cameras_behind_text(d: Device) -> str:
    """A recorder's cameras behind it: 'N listed', 'not read' (no credentials), and the count it states."""
    if d.behind is None:
        return ""
    listed = f"{d.behind.listed} listed" if d.behind.listed is not None else "unknown (not read)"
    return listed + (f", {d.behind.stated} stated" if d.behind.stated is not None else "")


def parse_formats(text: str) -> list[str]:
    """'json,csv' -> ['json', 'csv']; InputError for an unknown format."""
    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise InputError(f"--format: unknown format(s) {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    return out


def csv_cell(value: object) -> str:
    """The CSV text of one cell: a string a spreadsheet would run as a formula gets a leading single quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_LEAD) else text


def to_csv(inv: Inventory) -> str:
    """One row per device; every cell neutralised against formula injection."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for d in inv.devices:
        w.writerow([csv_cell(v) for v in (
            d.ip, d.mac or "", d.vendor or "", d.brand or "", d.model or "", d.firmware or "",
            d.serial or "", d.category, d.confidence, ";".join(d.concerns),
            ";".join(a.id for a in d.advisories), ";".join(str(p) for p in d.open_ports),
            ";".join(d.hostnames), ";".join(d.discovered_by), len(d.channels), d.survey or "",
            behind_text(d), cameras_behind_text(d),
        )])
    return buf.getvalue()


def md_cell(value: object) -> str:
    """Markdown text safe inside a table cell or list item: no line breaks, `|`, backslash and markup escaped."""
    out = []
    for c in " ".join(("" if value is None else str(value)).splitlines()):
        if c == "\\" or c in _MD_SPECIAL:
            out.append("\\" + c)
        elif c in "<>&":
            out.append({"<": "&lt;", ">": "&gt;", "&": "&amp;"}[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(" ")
        else:
            out.append(c)
    return "".join(out)


def summary_rows(inv: Inventory) -> list[tuple[str, dict[str, int], int]]:
    """Surveillance devices by maker: (maker, {category: count}, total), biggest first."""
    by: dict[str, Counter[str]] = {}
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES:
            by.setdefault(d.vendor or "(unknown maker)", Counter())[d.category] += 1
    return sorted(((m, dict(c), sum(c.values())) for m, c in by.items()), key=lambda r: (-r[2], r[0]))


#: Kinds in the order summaries show them (CATEGORIES' order: `video`, kind undetermined, last).
KINDS: Final = tuple(c for c in CATEGORIES if c in SURVEILLANCE_CATEGORIES)
KIND_NOTES: Final = {
    "video": "a surveillance device whose kind (camera, recorder, ...) the evidence does not settle; counted",
    "unknown": "a maker is named but nothing shows the device is surveillance kit; not counted",
}


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One row of a summary: a maker's surveillance devices by kind, or its maker-named devices of unknown kind."""

    maker: str                  # slug, or "(unknown maker)"
    counts: dict[str, int]      # kind -> devices (KINDS, or {"unknown": n} for an unknown-kind row)
    total: int
    concerns: tuple[str, ...]   # ids of the concern lists naming the maker or brand of these devices
    surveillance: bool          # False: the maker-named devices of unknown kind (not counted as surveillance)

    @property
    def label(self) -> str:
        """The row's name as shown."""
        return self.maker if self.surveillance else f"{self.maker} (kind unknown)"


def named_unknown(d: Any) -> bool:
    """A device a maker is named for whose category is unknown (an LTS camera named Hikvision, say)."""
    return bool(d.vendor) and d.category == "unknown"


def of_concern(d: Any) -> bool:
    """A device on a concern list that is not known to be something else than surveillance kit."""
    return bool(d.concerns) and d.category != "other"


def maker_rows(inv: Inventory) -> list[SummaryRow]:
    """Surveillance devices by maker (biggest first), then the makers' devices of unknown kind, one row each."""
    def rows(pick: Any, surveillance: bool) -> list[SummaryRow]:
        by: dict[str, Counter[str]] = {}
        conc: dict[str, set[str]] = {}
        for d in inv.devices:
            if pick(d):
                m = d.vendor or "(unknown maker)"
                by.setdefault(m, Counter())[d.category] += 1
                conc.setdefault(m, set()).update(d.concerns)
        out = [SummaryRow(m, dict(c), sum(c.values()), tuple(sorted(conc[m])), surveillance) for m, c in by.items()]
        return sorted(out, key=lambda r: (-r.total, r.maker))
    return (rows(lambda d: d.category in SURVEILLANCE_CATEGORIES, True)
            + rows(named_unknown, False))


def concern_legend(inv: Inventory, lists: Mapping[str, ConcernList] | None = None) -> list[tuple[str, str, str, str]]:
    """(id, name, source, date) of every concern list a device of the inventory is on."""
    used = sorted({c for d in inv.devices for c in d.concerns})
    if not used:
        return []
    lists = dict(lists) if lists is not None else concern_lists()
    return [(c, lists[c].name, lists[c].source, lists[c].date) if c in lists else (c, "(not in this database)", "", "")
            for c in used]


def concern_lists() -> dict[str, ConcernList]:
    """The concern lists of the fingerprint database, by id."""
    from scanner.match.load import load_database

    return {c.id: c for c in load_database().concerns}


def ignored_out_of_scope(inv: Inventory) -> int:
    """Benign replies from addresses outside the scope, ignored (a counter, not errors)."""
    v = inv.scan.stats.get("ignored_out_of_scope", 0)
    return v if isinstance(v, int) else 0


def error_count(inv: Inventory) -> int:
    """Real errors: entries recorded plus those left out by the caps (repeats are not counted again)."""
    dropped = inv.scan.stats.get("errors_dropped", 0)
    return len(inv.scan.errors) + (dropped if isinstance(dropped, int) else 0)


SUMMARY_SCHEMA: Final = "camscan.summary/1"


def summary_doc(inv: Inventory, *, scan_id: str | None = None, files: Sequence[Path | str] = (),
                fail_on: Sequence[str] = (), failed: Sequence[str] = (), exit_code: int = 0,
                lists: Mapping[str, ConcernList] | None = None) -> dict[str, Any]:
    """The machine-readable summary of a scan (schema camscan.summary/1, scanner/schemas/summary-1.json)."""
    lists = dict(lists) if lists is not None else concern_lists()
    by_cat = Counter(d.category for d in inv.devices)
    makers: dict[str | None, Counter[str]] = {}
    maker_conc: dict[str | None, set[str]] = {}
    for d in inv.devices:
        if d.vendor or d.category in SURVEILLANCE_CATEGORIES:
            makers.setdefault(d.vendor, Counter())[d.category] += 1
            maker_conc.setdefault(d.vendor, set()).update(d.concerns)
    concern_devs = [d for d in inv.devices if of_concern(d)]
    per_list = Counter(c for d in concern_devs for c in d.concerns)
    hits = [(d, a) for d in inv.devices for a in d.advisories]
    secs = inv.scan.stats.get("seconds")
    return {
        "schema": SUMMARY_SCHEMA,
        "scan_id": scan_id,
        "site": inv.site.name,
        "complete": inv.scan.complete,
        "stopped_by": inv.scan.stats.get("stopped_by"),
        "started": inv.scan.started, "finished": inv.scan.finished,
        "seconds": float(secs) if isinstance(secs, int | float) else None,
        "targets": list(inv.scan.targets),
        "hosts": len(inv.devices),
        "surveillance": sum(by_cat[c] for c in SURVEILLANCE_CATEGORIES),
        "by_category": {c: by_cat.get(c, 0) for c in CATEGORIES},
        "by_maker": [{"maker": m, "surveillance": sum(c[k] for k in SURVEILLANCE_CATEGORIES),
                      "by_category": dict(sorted(c.items())), "concerns": sorted(maker_conc[m])}
                     for m, c in sorted(makers.items(), key=lambda kv: (-sum(kv[1].values()), kv[0] or "~"))],
        "concern": {"devices": len(concern_devs),
                    "lists": {c: {"name": lists[c].name if c in lists else None,
                                  "source": lists[c].source if c in lists else None,
                                  "date": lists[c].date if c in lists else None, "devices": n}
                              for c, n in sorted(per_list.items())}},
        "advisories": {"devices": len({d.ip for d, _ in hits}),
                       "affected": len({d.ip for d, a in hits if a.status == "affected"}),
                       "possible": len({d.ip for d, _ in hits} - {d.ip for d, a in hits if a.status == "affected"}),
                       "ids": dict(sorted(Counter(a.id for _, a in hits).items()))},
        "errors": error_count(inv),
        "ignored_out_of_scope": ignored_out_of_scope(inv),
        "files": [str(f) for f in files],
        "fail_on": list(fail_on), "failed": list(failed), "exit_code": exit_code,
    }


def to_markdown(inv: Inventory, lists: Mapping[str, ConcernList] | None = None) -> str:
    """A readable per-site report: summary by maker and kind with concerns and their legend, then every
    surveillance or maker-named device (all text escaped)."""
    e = md_cell
    scan = inv.scan
    site = e(inv.site.name or "ad-hoc scan")
    kinds = list(KINDS)
    lines = [f"# camscan inventory: {site}", "",
             f"Scanned {e(', '.join(scan.targets))} from {e(scan.started)} to {e(scan.finished)} "
             f"(camscan {e(scan.tool_version)}, fingerprints {e(scan.fingerprints_version)}).", ""]
    if not scan.complete:
        lines += ["**Incomplete:** the scan was stopped part-way; this lists what it had found by then.", ""]
    lines += ["## Surveillance devices by maker and category", "",
              "| maker | " + " | ".join(kinds) + " | unknown | total | concerns |",
              "|---|" + "---|" * (len(kinds) + 3)]
    for r in maker_rows(inv):
        lines.append(f"| {e(r.label)} | " + " | ".join(str(r.counts.get(c, "")) for c in kinds)
                     + f" | {r.counts.get('unknown', '')} | {r.total} | {e(', '.join(r.concerns))} |")
    lines += ["", f"`video`: {KIND_NOTES['video']}. `unknown`: {KIND_NOTES['unknown']}."]
    legend = concern_legend(inv, lists)
    if legend:
        lines += ["", "Concern lists:", ""]
        lines += [f"- `{e(i)}`: {e(n)} ({e(s)}, {e(dt)})" for i, n, s, dt in legend]
    other = Counter(d.category for d in inv.devices if d.category not in SURVEILLANCE_CATEGORIES)
    lines += ["", f"Other hosts: {other.get('other', 0)} known not to be surveillance devices, "
              f"{other.get('unknown', 0)} unidentified ({sum(1 for d in inv.devices if named_unknown(d))} "
              "of them maker-named).", "", "## Devices", "",
              "| ip | maker | brand | model | firmware | category | survey | confidence | concerns | advisories "
              "| behind recorder | cameras behind |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES or named_unknown(d):
            cells = (d.ip, d.vendor or "?", d.brand, d.model, d.firmware, d.category, d.survey, d.confidence,
                     ", ".join(d.concerns), ", ".join(f"{a.id} ({a.status})" for a in d.advisories),
                     behind_text(d), cameras_behind_text(d))
            lines.append("| " + " | ".join(e(c) for c in cells) + " |")
    lines += ["", f"Ignored out-of-scope replies: {ignored_out_of_scope(inv)} (benign answers to discovery "
              "multicasts from addresses outside the targets; not errors)."]
    if scan.errors:
        lines += ["", f"## Errors ({error_count(inv)})", ""]
        lines += [f"- {e(x.module)} {e(x.ip)}: {e(x.error)}" for x in scan.errors[:200]]
    return "\n".join(lines) + "\n"


def _refuse_non_file(path: Path) -> None:
    """InputError if something other than a regular file (a symlink, a folder, a device) is at path."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise InputError(f"{path} is {what}; camscan writes its outputs only as regular files and never "
                         "through a link: remove it or choose another --out folder")


def write_atomic(path: Path, text: str | bytes) -> None:
    """Replace path with text or bytes all at once (old file or new, never torn), mode 0600; never via a symlink.

    InputError when something other than a regular file (a symlink, a folder, a device) is at path.
    """
    _refuse_non_file(path)
    try:
        # mkstemp creates with O_EXCL (mode 0600), so it never opens anything planted at its name
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8") if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)   # rename(2) replaces a link planted since the check; it never follows it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)   # the rename itself survives a power cut
        finally:
            os.close(dfd)


def check_path(path: Path) -> None:
    """InputError if an output file's place holds a symlink, a folder or another non-file."""
    _refuse_non_file(path)


def make_dir(out_dir: Path) -> None:
    """Create the output folder (0700) if it is missing; InputError if it cannot be."""
    try:
        out_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the output folder {out_dir}: {e.strerror}") from None


def _names(formats: list[str]) -> list[str]:
    return ["inventory.json"] + [f"inventory.{f}" for f in FORMATS[1:] if f in formats]


def check_out(out_dir: Path, formats: list[str]) -> None:
    """InputError now, before a scan sends anything, if an output file's place holds a symlink or non-file."""
    for name in _names(formats):
        _refuse_non_file(out_dir / name)


def _names_of_concerns() -> tuple[dict[str, str], dict[str, str]]:
    """(concern list id -> name, maker/brand slug -> display name) from the fingerprint database."""
    from scanner.match.load import load_database

    db = load_database()
    names = {b.slug: b.name for b in db.brands.values()}
    names.update({m.slug: m.name for m in db.makers.values()})
    return {c.id: c.name for c in db.concerns}, names


def render(inv: Inventory, fmt: str) -> str | bytes:
    """The inventory in one format (json, csv, md, html, xlsx)."""
    if fmt == "json":
        return to_json(inv)
    if fmt == "csv":
        return to_csv(inv)
    if fmt == "md":
        return to_markdown(inv)
    concerns, makers = _names_of_concerns()
    if fmt == "html":
        from scanner.report import html

        return html.render_inventory(inv, concern_names=concerns, maker_names=makers)
    from scanner.report import xlsx

    return xlsx.render_inventory(inv, concern_names=concerns, maker_names=makers)


def write(inv: Inventory, out_dir: Path, formats: list[str]) -> list[Path]:
    """Write inventory.json (always) and the other formats asked for, each atomically; the paths written.

    A folder camscan creates is 0700, the files 0600 (they map a site's cameras).
    """
    make_dir(out_dir)
    written = []
    for name in _names(formats):
        write_atomic(out_dir / name, render(inv, name.split(".", 1)[1]))
        written.append(out_dir / name)
    return written
