"""`camscan history`, `camscan show` and `camscan diff`: read the scan history in the store."""

from __future__ import annotations

import json
import sys

import click

from scanner import report
from scanner.errors import InputError
from scanner.inventory import diff as diffmod
from scanner.inventory.serialise import device_from_dict, from_dict
from scanner.store import Store, open_store

HISTORY_SCHEMA = "camscan.history/1"

db_option = click.option("--db", "db", default=None, metavar="PATH|URL",
                         help="Store: a SQLite file (default: camscan.db in your data directory, or $CAMSCAN_DB) "
                              "or postgresql://...")


@click.command()
@click.option("--site", default=None, help="Only scans of this site.")
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="A table (text) or JSON.")
def history(site: str | None, db: str | None, fmt: str) -> None:
    """List recorded scans, newest first."""
    with open_store(db) as store:
        rows = store.history(site)
    if fmt == "json":
        click.echo(json.dumps({"schema": HISTORY_SCHEMA, "scans": [r.to_dict() for r in rows]}, indent=2,
                              ensure_ascii=False))
        return
    if not rows:
        click.echo("no scans recorded" + (f" for site {site!r}" if site else ""))
        return
    click.echo(f"{'id':<24} {'site':<24} {'started':<26} {'complete':<9} {'devices':>7} {'surveillance':>12}")
    for r in rows:
        click.echo(f"{r.id:<24} {r.site[:24]:<24} {r.started:<26} {'yes' if r.complete else 'NO':<9} "
                   f"{r.devices:>7} {r.surveillance:>12}")


@click.command()
@click.argument("scan_id")
@db_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "md"]), default="json", show_default=True,
              help="The inventory as JSON (equal to the inventory.json the scan wrote), CSV or Markdown.")
def show(scan_id: str, db: str | None, fmt: str) -> None:
    """Print a recorded scan's inventory (JSON equal to the inventory.json it wrote)."""
    with open_store(db) as store:
        doc = store.inventory(scan_id)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    inv = from_dict(doc, f"scan {scan_id}")
    click.echo(report.to_csv(inv) if fmt == "csv" else report.to_markdown(inv), nl=False)


def _pick(store: Store, site: str | None, ids: tuple[str, ...]) -> tuple[str, str, str]:
    """(site, old id, new id): the two given scans, or the last two complete scans of the site."""
    if ids:
        if len(ids) != 2:
            raise InputError("diff takes two scan ids (OLD NEW), or none for the last two complete scans")
        old, new = (store.scan(i) for i in ids)
        for r in (old, new):
            if not r.complete:
                raise InputError(f"scan {r.id} is incomplete (it was stopped before it finished); pick another")
        if site is not None and {old.site, new.site} != {site}:
            raise InputError(f"scans {old.id} and {new.id} are not both of site {site!r}")
        return old.site, old.id, new.id
    if site is None:
        sites = store.sites()
        if len(sites) != 1:
            raise InputError("the store holds scans of " + (f"{len(sites)} sites" if sites else "no site")
                             + "; name one with --site" + (f" ({', '.join(sites[:5])})" if sites else ""))
        site = sites[0]
    rows = store.history(site, complete_only=True, limit=2)
    if len(rows) < 2:
        raise InputError(f"site {site!r} has {len(rows)} complete scan(s); diff needs two")
    return site, rows[1].id, rows[0].id


@click.command()
@click.argument("scans", nargs=-1, metavar="[OLD NEW]")
@click.option("--site", default=None, help="Site whose last two complete scans to compare.")
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True,
              help="The changes as text lines, JSON or Markdown.")
def diff(scans: tuple[str, ...], site: str | None, db: str | None, fmt: str) -> None:
    """What changed between two scans. Exit status 0: nothing changed; 1: something did; 2 and above: an error."""
    with open_store(db) as store:
        site_name, old_id, new_id = _pick(store, site, scans)
        old_row, new_row = store.scan(old_id), store.scan(new_id)
        old = [device_from_dict(d) for d in store.devices(old_id)]
        new = [device_from_dict(d) for d in store.devices(new_id)]
    d = diffmod.diff(site_name, (old_id, old_row.started), (new_id, new_row.started), old, new)
    if fmt == "json":
        click.echo(json.dumps(diffmod.to_dict(d), indent=2, ensure_ascii=False))
    elif fmt == "md":
        click.echo(diffmod.to_markdown(d), nl=False)
    else:
        click.echo(diffmod.to_text(d), nl=False)
    sys.exit(0 if d.empty else 1)
