"""`camscan report` (an inventory in readable formats) and `camscan survey` (the survey return)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from scanner import report
from scanner import survey as surveymod
from scanner.cli.history import db_option
from scanner.errors import InputError
from scanner.inventory.records import Inventory
from scanner.match.load import load_database
from scanner.store import open_store


def _inventories(items: tuple[str, ...], db: str | None) -> list[tuple[str, Inventory]]:
    """(label, inventory) for each item: an inventory.json file if one is there, else a scan id in the store."""
    out: list[tuple[str, Inventory]] = []
    ids = [i for i in items if not Path(i).exists()]
    for item in items:
        if item not in ids:
            out.extend((item, s.inventory) for s in surveymod.sources_from_files([item]))
    if ids:
        for i in ids:
            if not re.fullmatch(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{6}", i):
                raise InputError(f"{i}: no such file, and not a scan id (camscan history lists them)")
        from scanner.inventory.serialise import from_dict

        with open_store(db) as store:
            for i in ids:
                out.append((i, from_dict(store.inventory(i), f"scan {i}")))
    order = {item: n for n, item in enumerate(items)}
    return sorted(out, key=lambda x: order[x[0]])


def _folder_name(label: str, inv: Inventory) -> str:
    base = inv.site.name or Path(label).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "scan"


@click.command("report")
@click.argument("items", nargs=-1, required=True, metavar="SCAN_ID|INVENTORY.json...")
@db_option
@click.option("--format", "formats", default="html", show_default=True,
              help="Comma list of html,xlsx,csv,md,json.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="camscan-report", show_default=True,
              help="Folder to write into (one sub-folder per scan when several are given).")
def report_cmd(items: tuple[str, ...], db: str | None, formats: str, out_dir: str) -> None:
    """Write readable reports of recorded scans (by id) or inventory.json files."""
    fmts = report.parse_formats(formats)
    invs = _inventories(items, db)
    out = Path(out_dir)
    jobs: list[tuple[Path, Inventory]] = []
    if len(invs) == 1:
        jobs.append((out, invs[0][1]))
    else:
        used: set[str] = set()
        for label, inv in invs:
            name = _folder_name(label, inv)
            n = name
            k = 2
            while n in used:
                n, k = f"{name}-{k}", k + 1
            used.add(n)
            jobs.append((out / n, inv))
    for folder, _ in jobs:
        for f in fmts:
            report.check_path(folder / f"inventory.{f}")
    for folder, inv in jobs:
        report.make_dir(folder)
        for f in fmts:
            path = folder / f"inventory.{f}"
            report.write_atomic(path, report.render(inv, f))
            click.echo(f"wrote {path}")


@click.command("survey")
@db_option
@click.option("--site", "sites", multiple=True,
              help="Site in the store whose latest complete scan is counted (repeatable; default: every site).")
@click.option("--inventory", "inventories", multiple=True, type=click.Path(dir_okay=False),
              help="Count this inventory.json instead of the store (repeatable).")
@click.option("--concerns", "concerns", multiple=True,
              help="Concern list id to apply (repeatable or comma list; default: all shipped lists).")
@click.option("--overrides", "overrides_file", type=click.Path(dir_okay=False), default=None,
              help="Overrides file (YAML): corrections and additions, each with a reason and who made it.")
@click.option("--organisation", default=None, help="Organisation named on the return (default: the site files').")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="camscan-survey", show_default=True,
              help="Folder to write survey.<format> into.")
@click.option("--format", "formats", default="json,xlsx,html", show_default=True,
              help="Comma list of json,xlsx,csv,md,html.")
def survey(db: str | None, sites: tuple[str, ...], inventories: tuple[str, ...], concerns: tuple[str, ...],
           overrides_file: str | None, organisation: str | None, out_dir: str, formats: str) -> None:
    """Write the survey return: the chosen sites' surveillance devices by survey category and real maker."""
    fmts = surveymod.parse_formats(formats)
    if sites and inventories:
        raise InputError("give either --site (scans in the store) or --inventory files, not both")
    lists = [c.strip() for x in concerns for c in x.split(",") if c.strip()] or None
    database = load_database()
    overrides = surveymod.load_overrides(overrides_file, database) if overrides_file else None
    if inventories:
        sources = surveymod.sources_from_files(inventories)
    else:
        with open_store(db) as store:
            sources = surveymod.sources_from_store(store, sites or None)
    doc = surveymod.build(sources, database, concern_lists=lists, overrides=overrides, organisation=organisation)
    for path in surveymod.write(doc, Path(out_dir), fmts):
        click.echo(f"wrote {path}")
    cats = doc["categories"]
    click.echo("survey: " + ", ".join(f"{c} {cats[c]['total']}" for c in cats)
               + f", untagged {doc['untagged']} (from {len(sources)} site scan(s))")
