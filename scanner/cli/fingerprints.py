"""`camscan fingerprints check|match|stats|coverage`: inspect and verify the fingerprint database."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from scanner.evaluate import BEST_KNOWN
from scanner.match.engine import get_engine
from scanner.match.verify import check as check_db
from scanner.match.verify import coverage as coverage_of
from scanner.match.verify import stats_table, supported_markdown
from scanner.signals import FAMILIES


def _print_table(table: Table, lines: list[str]) -> None:
    """The table when the terminal is wide enough for its columns, else the same figures a line per row (a wide
    table squeezed into 80 columns is unreadable)."""
    con = Console()
    need = 1 + sum(3 + max([*(len(h) for h in str(col.header).split("\n")),
                            *(len(str(cell)) for cell in col.cells)], default=0) for col in table.columns)
    if need <= con.width:
        con.print(table)
        return
    click.echo(f"{table.title} - a line per row (the table needs {need} columns, the terminal has {con.width}):")
    for line in lines:
        click.echo(line)


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
    _print_table(table, [f"{name}: " + ", ".join(f"{c} {v}" for c, v in zip(cols, vals, strict=True) if v)
                         for name, vals in rows])
    if write:
        out = Path(engine.db.root) / "SUPPORTED.md"
        out.write_text(supported_markdown(engine.db), encoding="utf-8")
        click.echo(f"wrote {out}")


@fingerprints.command()
@_db_opt
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="A table (text) or JSON.")
@click.option("--write/--no-write", default=False, help="Also rewrite fingerprints/SUPPORTED.md.")
def coverage(db: str | None, fmt: str, write: bool) -> None:
    """Per maker: the signal families with rules, as rules/real examples; model rules; OUI prefixes."""
    engine = get_engine(db)
    cov = coverage_of(engine.db)
    if fmt == "json":
        click.echo(json.dumps({
            "schema": "camscan.coverage/1", "fingerprints_version": engine.db.version,
            "makers": [{"maker": c.maker, "best_known": c.maker in BEST_KNOWN,
                        "families": {f: {"rules": r, "examples": e} for f, (r, e) in c.families.items()},
                        "models": {"rules": c.models[0], "examples": c.models[1]}, "ouis": c.ouis}
                       for c in cov]}, indent=2))
    else:
        fams = list(FAMILIES)
        table = Table(title="camscan fingerprint coverage: rules/real examples per signal family")
        table.add_column("maker")
        table.add_column("fam", justify="right")
        for f in fams:
            table.add_column(f.replace(".", ".\n"), justify="right")
        table.add_column("models", justify="right")
        table.add_column("ouis", justify="right")
        for c in cov:
            table.add_row(c.maker + (" *" if c.maker in BEST_KNOWN else ""), str(len(c.families)),
                          *[f"{c.families[f][0]}/{c.families[f][1]}" if f in c.families else "" for f in fams],
                          f"{c.models[0]}/{c.models[1]}" if c.models[0] else "", str(c.ouis or ""))
        _print_table(table, [
            f"{c.maker}{' *' if c.maker in BEST_KNOWN else ''}: {len(c.families)} "
            f"{'family' if len(c.families) == 1 else 'families'}: "
            + ", ".join(f"{f} {c.families[f][0]}/{c.families[f][1]}" for f in fams if f in c.families)
            + (f"; models {c.models[0]}/{c.models[1]}" if c.models[0] else "") + (f"; ouis {c.ouis}" if c.ouis else "")
            for c in cov])
        beyond = sum(1 for c in cov if c.beyond_oui)
        five = [c.maker for c in cov if c.maker in BEST_KNOWN and len(c.families) >= 5]
        short = sorted(BEST_KNOWN - set(five))
        tail = f" (short: {', '.join(short)})" if short else ""
        click.echo(f"makers with rules beyond their OUI: {beyond} of {len(cov)}; best-known makers (*) on at least "
                   f"five families: {len(five)} of {len(BEST_KNOWN)}{tail}")
    if write:
        out = Path(engine.db.root) / "SUPPORTED.md"
        out.write_text(supported_markdown(engine.db), encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
