"""`camscan identify`: JSON lines of observations in, one identified device per line out."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

import click

from scanner.inventory.resolve import identification_to_dict
from scanner.inventory.resolve import identify as resolve_device
from scanner.match.engine import Engine, ObservationError, get_engine
from scanner.models import Identification, Observation

_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_line(line: str) -> tuple[str | None, list[Observation]]:
    """One input line -> (id, observations); ValueError names what is wrong; lone surrogates become U+FFFD."""
    try:
        doc = json.loads(line, object_hook=_scrub_object)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at column {e.colno})") from None
    except (ValueError, RecursionError) as e:   # 5,000-digit numbers, 100,000 nested brackets
        raise ValueError(f"not usable JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    obs_raw = doc.get("observations")
    if not isinstance(obs_raw, list):
        raise ValueError("'observations' must be a list")
    dev_id = doc.get("id")
    if dev_id is not None and not isinstance(dev_id, str | int):
        raise ValueError("'id' must be a string")
    out: list[Observation] = []
    for i, o in enumerate(obs_raw):
        if not isinstance(o, dict) or "signal" not in o or "value" not in o:
            raise ValueError(f"observation {i} must be an object with 'signal' and 'value'")
        sig, val = o["signal"], o["value"]
        if not isinstance(sig, str):
            raise ValueError(f"observation {i}: 'signal' must be a string")
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise ValueError(f"observation {i}: 'value' must be a string")
        port = o.get("port")
        out.append(Observation(sig, str(val), ip=o.get("ip") if isinstance(o.get("ip"), str) else None,
                               mac=o.get("mac") if isinstance(o.get("mac"), str) else None,
                               port=port if isinstance(port, int) and not isinstance(port, bool) else None,
                               source=o.get("source") if isinstance(o.get("source"), str) else None))
    return (None if dev_id is None else str(dev_id)), out


def _scrub_object(obj: dict[str, Any]) -> dict[str, Any]:
    # "\ud800" is valid JSON but no UTF-8 writer can print it: replace before any use.
    return {_SURROGATE.sub("\ufffd", k): _SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v
            for k, v in obj.items()}


def explain(dev_id: str | None, ident: Identification, engine: Engine) -> str:
    """A readable account of why the engine concluded what it did."""
    db = engine.db
    name = db.makers[ident.vendor].name if ident.vendor else "unknown maker"
    head = f"{dev_id or 'device'}: {name}"
    if ident.brand and ident.brand != ident.vendor:
        b = db.brands.get(ident.brand)
        head += f", sold as {b.name if b else ident.brand}"
        if b:
            head += (f" ({b.relation} of {db.makers[b.maker].name}, link confidence {b.confidence}: "
                     f"{b.evidence})")
    lines = [head,
             f"  category {ident.category}; model {ident.model or '-'}; firmware {ident.firmware or '-'}; "
             f"serial {ident.serial or '-'}; mac {ident.mac or '-'}"
             + (f" ({ident.oui_org})" if ident.oui_org else ""),
             f"  confidence {ident.confidence}"]
    if ident.evidence:
        lines.append("  evidence:")
        for e in sorted(ident.evidence, key=lambda e: -e.confidence):
            what = e.vendor or "no maker"
            if e.brand and e.brand != e.vendor:
                what += f" (brand {e.brand})"
            extra = f", category {e.category}" if e.category else ""
            fld = f"[{e.field}]" if e.field else ""
            lines.append(f"    {e.confidence:.2f} {what}{extra}: {e.signal}{fld} = {e.value[:100]!r} "
                         f"(rule {e.rule_id})")
    else:
        lines.append("  no rule matched any observation")
    for c in ident.conflicts:
        lines.append(f"  CONFLICT: {c.vendor} also scores {c.confidence} ({', '.join(c.rules)}) "
                     "with no OEM link to explain it")
    lists = {x.id: x for x in db.concerns}
    for cid in ident.concerns:
        cl = lists[cid]
        lines.append(f"  concern: listed by {cl.name} ({cl.date}; {cl.source})")
    for a in ident.advisories:
        lines.append(f"  advisory {a.id} ({a.severity}, {a.status}): {a.title}")
    return "\n".join(lines)


def run_identify(stream: TextIO, out: TextIO, err: TextIO, engine: Engine, *, why: bool,
                 concern_lists: list[str] | None) -> int:
    """Answer every good line; report bad ones on err by line number; 1 if any line was bad."""
    bad = 0
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            dev_id, obs = parse_line(line)
            ident = resolve_device(engine, obs, concern_lists)
        except (ValueError, ObservationError) as e:
            bad += 1
            err.write(f"camscan identify: line {n}: {e}\n")
            continue
        if why:
            out.write(explain(dev_id, ident, engine) + "\n\n")
        else:
            out.write(json.dumps(identification_to_dict(ident, dev_id), ensure_ascii=False) + "\n")
    return 1 if bad else 0


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8", errors="replace"), default="-")
@click.option("--why", is_flag=True, help="Print a readable explanation instead of JSON.")
@click.option("--concerns", "concerns", default=None,
              help="Comma-separated concern list ids to apply (default: all lists).")
@click.option("--db", "db", default=None, type=click.Path(file_okay=False),
              help="Fingerprint folder (default: the shipped fingerprints/).")
def identify(file: TextIO, why: bool, concerns: str | None, db: str | None) -> None:
    """Identify devices from JSON lines {"id", "observations": [{"signal", "value"}, ...]}."""
    engine = get_engine(db)
    lists = None
    if concerns is not None:
        lists = [c.strip() for c in concerns.split(",") if c.strip()]
        known = {c.id for c in engine.db.concerns}
        unknown = [c for c in lists if c not in known]
        if unknown:
            raise click.BadParameter(f"unknown concern list(s) {', '.join(unknown)}; known: "
                                     f"{', '.join(sorted(known))}", param_hint="--concerns")
    rc = run_identify(file, sys.stdout, sys.stderr, engine, why=why, concern_lists=lists)
    sys.exit(rc)
