"""`camscan fingerprints check|match|stats`: inspect and verify the fingerprint database."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from scanner.match.engine import get_engine
from scanner.match.verify import check as check_db
from scanner.match.verify import stats_table, supported_markdown


@click.group()
def fingerprints() -> None:
    """Verify, query and summarise the fingerprint database."""


_db_opt = click.option("--db", "db", default=None, type=click.Path(file_okay=False),
                       help="Fingerprint folder (default: the shipped fingerprints/).")


@fingerprints.command()
@_db_opt
def check(db: str | None) -> None:
    """Schema, vocabulary, examples-as-tests, OUI ownership and cross-maker shadowing."""
    t0 = time.perf_counter()
    engine = get_engine(db)
    load_s = time.perf_counter() - t0
    problems = check_db(engine)
    d = engine.db
    for p in problems:
        click.echo(p, err=True)
    n_ex = sum(len(r.examples) for r in d.rules) + sum(len(m.examples) for m in d.model_rules)
    summary = (f"{len(d.makers)} makers, {len(d.brands)} brands, {len(d.rules)} rules, "
               f"{len(d.model_rules)} model rules, {n_ex} examples, {len(d.oui)} OUI prefixes, "
               f"{len(d.concerns)} concern lists, {len(d.advisories)} advisories; loaded in {load_s:.3f}s")
    if problems:
        click.echo(f"FAILED: {len(problems)} problem(s); {summary}", err=True)
        sys.exit(1)
    click.echo(f"ok: {summary}")


@fingerprints.command()
@click.argument("signal")
@click.argument("value")
@_db_opt
def match(signal: str, value: str, db: str | None) -> None:
    """Show every rule that matches one observation (JSON lines)."""
    engine = get_engine(db)
    try:
        evs, parsed = engine.match(signal, value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="SIGNAL") from None
    if parsed:
        click.echo(json.dumps({"parsed": parsed}, ensure_ascii=False))
    for ev in evs:
        click.echo(json.dumps(ev.to_dict(), ensure_ascii=False))
    if not evs:
        click.echo("no rule matches", err=True)
        sys.exit(1)


@fingerprints.command()
@_db_opt
@click.option("--write/--no-write", default=True, help="Also write fingerprints/SUPPORTED.md.")
def stats(db: str | None, write: bool) -> None:
    """Coverage table maker x signal; also written to fingerprints/SUPPORTED.md."""
    engine = get_engine(db)
    cols, rows = stats_table(engine.db)
    table = Table(title="camscan fingerprint coverage (rules per signal)")
    table.add_column("maker")
    for c in cols:
        table.add_column(c.replace(".", ".\n"), justify="right")
    for name, vals in rows:
        table.add_row(name, *[str(v) if v else "" for v in vals])
    Console().print(table)
    if write:
        out = Path(engine.db.root) / "SUPPORTED.md"
        out.write_text(supported_markdown(engine.db), encoding="utf-8")
        click.echo(f"wrote {out}")
