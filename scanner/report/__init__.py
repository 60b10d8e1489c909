"""Reports from an inventory document: json, csv, md, and the terminal summary."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Final

from scanner.errors import InputError
from scanner.inventory.records import Inventory
from scanner.inventory.serialise import to_json
from scanner.match.load import SURVEILLANCE_CATEGORIES

FORMATS: Final = ("json", "csv", "md")
CSV_COLUMNS: Final = ("ip", "mac", "vendor", "brand", "model", "firmware", "serial", "category", "confidence",
                      "concerns", "advisories", "open_ports", "hostnames", "discovered_by", "channels", "survey")


def parse_formats(text: str) -> list[str]:
    """'json,csv' -> ['json', 'csv']; InputError for an unknown format."""
    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise InputError(f"--format: unknown format(s) {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    return out


def to_csv(inv: Inventory) -> str:
    """One row per device."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for d in inv.devices:
        w.writerow([
            d.ip, d.mac or "", d.vendor or "", d.brand or "", d.model or "", d.firmware or "",
            d.serial or "", d.category, d.confidence, ";".join(d.concerns),
            ";".join(a.id for a in d.advisories), ";".join(str(p) for p in d.open_ports),
            ";".join(d.hostnames), ";".join(d.discovered_by), len(d.channels), d.survey or "",
        ])
    return buf.getvalue()


def summary_rows(inv: Inventory) -> list[tuple[str, dict[str, int], int]]:
    """Surveillance devices by maker: (maker, {category: count}, total), biggest first."""
    by: dict[str, Counter[str]] = {}
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES:
            by.setdefault(d.vendor or "(unknown maker)", Counter())[d.category] += 1
    return sorted(((m, dict(c), sum(c.values())) for m, c in by.items()), key=lambda r: (-r[2], r[0]))


def to_markdown(inv: Inventory) -> str:
    """A readable per-site report: summary by maker and category, then every surveillance device."""
    scan = inv.scan
    site = inv.site.name or "ad-hoc scan"
    cats = sorted(SURVEILLANCE_CATEGORIES)
    lines = [f"# camscan inventory: {site}", "",
             f"Scanned {', '.join(scan.targets)} from {scan.started} to {scan.finished} "
             f"(camscan {scan.tool_version}, fingerprints {scan.fingerprints_version}).", "",
             "## Surveillance devices by maker and category", "",
             "| maker | " + " | ".join(cats) + " | total |", "|---|" + "---|" * (len(cats) + 1)]
    for maker, counts, total in summary_rows(inv):
        lines.append(f"| {maker} | " + " | ".join(str(counts.get(c, "")) for c in cats) + f" | {total} |")
    other = Counter(d.category for d in inv.devices if d.category not in SURVEILLANCE_CATEGORIES)
    lines += ["", f"Other hosts: {other.get('other', 0)} known not to be surveillance devices, "
              f"{other.get('unknown', 0)} unidentified.", "", "## Devices", "",
              "| ip | maker | brand | model | firmware | category | survey | confidence | concerns |",
              "|---|---|---|---|---|---|---|---|---|"]
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES:
            lines.append(f"| {d.ip} | {d.vendor or '?'} | {d.brand or ''} | {d.model or ''} | "
                         f"{d.firmware or ''} | {d.category} | {d.survey or ''} | {d.confidence} | "
                         f"{', '.join(d.concerns)} |")
    if scan.errors:
        lines += ["", f"## Errors ({len(scan.errors)})", ""]
        lines += [f"- {e.module} {e.ip or ''}: {e.error}" for e in scan.errors[:200]]
    return "\n".join(lines) + "\n"


def write(inv: Inventory, out_dir: Path, formats: list[str]) -> list[Path]:
    """Write inventory.json (always) and the other formats asked for; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    p = out_dir / "inventory.json"
    p.write_text(to_json(inv), encoding="utf-8")
    written.append(p)
    if "csv" in formats:
        p = out_dir / "inventory.csv"
        p.write_text(to_csv(inv), encoding="utf-8")
        written.append(p)
    if "md" in formats:
        p = out_dir / "inventory.md"
        p.write_text(to_markdown(inv), encoding="utf-8")
        written.append(p)
    return written
