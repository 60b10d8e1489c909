"""`camscan fingerprints advisories`: list the published advisories the scanner matches devices against."""

from __future__ import annotations

import json
from typing import Any

import click

from scanner.errors import InputError
from scanner.match.engine import get_engine
from scanner.match.load import Advisory


def advisory_dict(a: Advisory) -> dict[str, Any]:
    """JSON form of one advisory (what `--format json` prints, one object per advisory in a list)."""
    return {"id": a.id, "maker": a.maker, "title": a.title, "severity": a.severity, "kev": a.kev or None,
            "models": a.models,
            "firmware": [{"models": r.models, "range": r.describe(), "fixed": r.fixed or None} for r in a.ranges],
            "source": a.source, "references": list(a.references), "note": a.note or None}


def _text(a: Advisory) -> list[str]:
    kev = f", CISA KEV since {a.kev}" if a.kev else ""
    lines = [f"{a.id} [{a.maker}] {a.severity}{kev}: {a.title}", f"  models: {a.models}"]
    if not a.ranges:
        lines.append("  firmware: no fixed firmware published (devices of this family are reported 'possible')")
    for r in a.ranges:
        scope = f" (models {r.models})" if r.models else ""
        lines.append(f"  firmware{scope}: {r.describe()}")
    lines.append(f"  source: {a.source}")
    lines.extend(f"  see also: {ref}" for ref in a.references)
    return lines


@click.command()
@click.option("--maker", "makers", multiple=True, metavar="MAKER",
              help="Only this maker's advisories (slug, e.g. hikvision). Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for scripts.")
@click.option("--db", "db", default=None, type=click.Path(file_okay=False),
              help="Fingerprint folder (default: the shipped fingerprints/).")
def advisories(makers: tuple[str, ...], fmt: str, db: str | None) -> None:
    """List the published advisories (id, maker, model family, firmware ranges, source)."""
    engine = get_engine(db)
    unknown = sorted(set(makers) - set(engine.db.makers))
    if unknown:
        raise InputError(f"--maker {', '.join(unknown)}: no such maker in the fingerprint database "
                         "(use the maker's slug, e.g. hikvision, dahua, axis)")
    chosen = [a for a in engine.db.advisories if not makers or a.maker in makers]
    if fmt == "json":
        click.echo(json.dumps([advisory_dict(a) for a in chosen], indent=2, ensure_ascii=False))
        return
    for i, a in enumerate(chosen):
        if i:
            click.echo("")
        click.echo("\n".join(_text(a)))
    by_maker: dict[str, int] = {}
    for a in chosen:
        by_maker[a.maker] = by_maker.get(a.maker, 0) + 1
    counts = ", ".join(f"{m} {n}" for m, n in sorted(by_maker.items()))
    click.echo(f"\n{len(chosen)} advisories" + (f" ({counts})" if counts else ""))
