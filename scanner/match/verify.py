"""Database checks beyond schema: examples as tests, cross-maker shadowing, OUI claims; and coverage stats."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import FingerprintError
from scanner.evaluate import BEST_KNOWN
from scanner.match.composite import PARSERS, CompositeError
from scanner.match.engine import Engine
from scanner.match.firmware import parse_firmware
from scanner.match.index import build
from scanner.match.load import Database, Rule
from scanner.signals import FAMILIES, FAMILY_OF


def _related(db: Database) -> set[frozenset[str]]:
    rel = set()
    for b in db.brands.values():
        rel.add(frozenset((b.slug, b.maker)))
    return rel


def _ok_pair(a: str | None, b: str | None, rel: set[frozenset[str]]) -> bool:
    return a is None or b is None or a == b or frozenset((a, b)) in rel


def example_value(rule: Rule, value: str) -> str:
    """The text a rule sees for an example: a composite-field rule's example may be the whole document."""
    if rule.field is None:
        return value
    try:
        parsed = PARSERS[rule.signal](value)
    except CompositeError:
        return value
    return parsed.get(rule.field, value)


def check(engine: Engine) -> list[str]:
    """Every problem found, one line each naming file and rule; empty when the database is sound."""
    db = engine.db
    problems: list[str] = []
    rel = _related(db)
    keyed: dict[tuple[str, str | None], list[Rule]] = {}
    for r in db.rules:
        keyed.setdefault((r.signal, r.field), []).append(r)
    indexes = {k: build(v) for k, v in keyed.items()}
    for r in db.rules:
        idx = indexes[(r.signal, r.field)]
        for ex in r.examples:
            hits = idx.match(example_value(r, ex.value))
            own = [f for rule, f in hits if rule is r]
            if not own:
                problems.append(f"{r.file}: rule {r.id}: example {ex.value!r} does not match its own rule")
                continue
            if tuple(sorted(own[0])) != ex.fields:
                problems.append(f"{r.file}: rule {r.id}: example {ex.value!r} extracts {dict(own[0])}, "
                                f"declared {dict(ex.fields)}")
            if r.mac_in_oui and not any(e.rule_id == r.id for e in engine.match(r.signal, ex.value)[0]):
                problems.append(f"{r.file}: rule {r.id}: example {ex.value!r} has a MAC outside {r.maker}'s blocks")
            for other, _ in hits:
                if other is r:
                    continue
                if r.maker is None and other.maker is not None:
                    problems.append(f"{r.file}: rule {r.id}: generic example {ex.value!r} is pinned on "
                                    f"{other.maker} by {other.id} ({other.file})")
                elif not _ok_pair(r.maker, other.maker, rel):
                    problems.append(f"{r.file}: rule {r.id}: example {ex.value!r} is also claimed by "
                                    f"{other.maker} rule {other.id} ({other.file}) with no oem.yaml link")
    for m in db.model_rules:
        for model in m.examples:
            mhits = engine.match_model(model)
            if not any(h is m for h, _ in mhits):
                problems.append(f"{m.file}: model rule {m.id}: example {model!r} does not match its own rule")
            for om, _ in mhits:
                if om is not m and not _ok_pair(m.maker, om.maker, rel):
                    problems.append(f"{m.file}: model rule {m.id}: example {model!r} also matches "
                                    f"{om.maker} model rule {om.id} with no oem.yaml link")
    for prefix, owners in db.oui_claims.items():
        if len(owners) > 1:
            problems.append(f"OUI {prefix} is claimed by several makers: {', '.join(owners)}")
    problems.extend(check_advisories(db))
    problems.extend(check_probes(db.root))
    return problems


def check_probes(root: str | Path) -> list[str]:
    """The problem with the folder's probes.yaml (what discovery asks for), if it has one (a folder of rules only,
    for `camscan identify`, needs none; a scan says so itself when its folder lacks it)."""
    from scanner.discovery.probes import FILE, parse
    path = Path(root) / FILE
    if not path.exists():
        return []
    try:
        parse(path.read_bytes())
    except OSError as e:
        return [f"{FILE}: cannot be read ({path}): {e.strerror or e}"]
    except FingerprintError as e:
        return [str(e)]
    return []


_URL = re.compile(r"^https?://\S+")


def check_advisories(db: Database) -> list[str]:
    """Advisory problems: unknown maker, no source, a reference that is not a URL, a family that matches any
    text, a range whose own published ends fall outside it, a KEV date without the CISA catalogue as a source."""
    problems: list[str] = []
    for a in db.advisories:
        where = f"advisories.yaml: advisory {a.id}"
        if a.maker not in db.makers:
            problems.append(f"{where}: maker {a.maker!r} has no maker file")
        if not a.source.strip():
            problems.append(f"{where}: no source")
        for ref in a.references:
            if not _URL.match(ref):
                problems.append(f"{where}: reference {ref!r} is not a URL")
        if re.search(a.models, ""):
            problems.append(f"{where}: model family {a.models!r} matches an empty model")
        if a.kev and not any("cisa.gov" in s for s in (a.source, *a.references)):
            problems.append(f"{where}: kev {a.kev} but no cisa.gov source or reference")
        for i, r in enumerate(a.ranges):
            for name, bound in (("from", r.from_), ("to", r.to)):
                if bound is None or r.build_from is not None or r.build_before is not None:
                    continue
                if r.contains(parse_firmware(bound.text)) is False:
                    problems.append(f"{where}: firmware[{i}] {name} {bound.text!r} is outside its own range")
            if r.below is not None and r.contains(parse_firmware(r.below.text)) is True:
                problems.append(f"{where}: firmware[{i}] below {r.below.text!r} is inside its own range")
    return problems


def stats_table(db: Database) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """Coverage: signal columns and one row per maker (rule counts per signal, then models, OUIs)."""
    signals = sorted({r.signal for r in db.rules})
    cols = [*signals, "models", "ouis"]
    oui_count = Counter(db.oui.values())
    rows: list[tuple[str, list[int]]] = []
    for slug in sorted(db.makers):
        per = Counter(r.signal for r in db.rules if r.maker == slug)
        models = sum(1 for m in db.model_rules if m.maker == slug)
        rows.append((slug, [per.get(s, 0) for s in signals] + [models, oui_count.get(slug, 0)]))
    gen = Counter(r.signal for r in db.rules if r.maker is None)
    rows.append(("(generic)", [gen.get(s, 0) for s in signals] + [0, 0]))
    return cols, rows


@dataclass(frozen=True, slots=True)
class MakerCoverage:
    """One maker's coverage: rules and real examples per signal family, model rules, OUI prefixes."""

    maker: str
    families: dict[str, tuple[int, int]]   # family -> (rules, examples)
    models: tuple[int, int]                # (model rules, examples)
    ouis: int

    @property
    def beyond_oui(self) -> bool:
        """Something other than an OUI names this maker (a rule or a model rule)."""
        return bool(self.families) or self.models[0] > 0


def coverage(db: Database) -> list[MakerCoverage]:
    """Per maker (brand rules count for their real maker): which signal families have rules, how many
    real examples back them, model rules and OUI prefixes."""
    fams: dict[str, dict[str, list[int]]] = {m: {} for m in db.makers}
    for r in db.rules:
        if r.maker is None:
            continue
        cell = fams[r.maker].setdefault(FAMILY_OF.get(r.signal, r.signal), [0, 0])
        cell[0] += 1
        cell[1] += len(r.examples)
    models: dict[str, list[int]] = {m: [0, 0] for m in db.makers}
    for mr in db.model_rules:
        models[mr.maker][0] += 1
        models[mr.maker][1] += len(mr.examples)
    ouis = Counter(db.oui.values())
    order = list(FAMILIES)
    return [MakerCoverage(m, {f: (c[0], c[1]) for f, c in sorted(fams[m].items(), key=lambda kv: order.index(kv[0])
                                                                    if kv[0] in order else len(order))},
                          (models[m][0], models[m][1]), ouis.get(m, 0))
            for m in sorted(db.makers)]


def coverage_markdown(db: Database, best_known: frozenset[str]) -> list[str]:
    """The coverage section of SUPPORTED.md: families per maker as rules/examples."""
    cov = coverage(db)
    fams = list(FAMILIES)
    beyond = [c for c in cov if c.beyond_oui]
    lines = [
        "## Signal families per maker",
        "",
        "Each cell is `rules/real examples` for that maker on that family (brand rules count for the real maker).",
        f"Makers with rules beyond their OUI: {len(beyond)} of {len(cov)}. Best-known makers (*) with rules on at",
        f"least five families: {sum(1 for c in cov if c.maker in best_known and len(c.families) >= 5)} of "
        f"{len(best_known)}.",
        "",
        "| maker | families | " + " | ".join(fams) + " | models | ouis |",
        "|---|---|" + "---|" * (len(fams) + 2),
    ]
    for c in cov:
        cells = [f"{c.families[f][0]}/{c.families[f][1]}" if f in c.families else "" for f in fams]
        star = " *" if c.maker in best_known else ""
        models = f"{c.models[0]}/{c.models[1]}" if c.models[0] else ""
        lines.append(f"| {c.maker}{star} | {len(c.families)} | " + " | ".join(cells) + f" | {models} | "
                     f"{c.ouis or ''} |")
    lines.append("")
    return lines


def supported_markdown(db: Database) -> str:
    """The text of fingerprints/SUPPORTED.md (generated; a test fails when the committed file differs)."""
    cols, rows = stats_table(db)
    lines = [
        "# Supported makers and signals",
        "",
        "Generated by `camscan fingerprints stats`; do not edit by hand. Each cell counts the rules of",
        "that maker on that signal (`models`: model-number rules; `ouis`: IEEE prefixes resolved).",
        "",
        f"Makers: {len(db.makers)}; brands in oem.yaml: {len(db.brands)}; rules: {len(db.rules)}; "
        f"model rules: {len(db.model_rules)}; concern lists: {len(db.concerns)}; "
        f"advisories: {len(db.advisories)}.",
        "",
        "| maker | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for name, vals in rows:
        lines.append(f"| {name} | " + " | ".join(str(v) if v else "" for v in vals) + " |")
    lines.append("")
    lines += coverage_markdown(db, BEST_KNOWN)
    if db.brands:
        lines += ["## Brands and their real makers", "", "| brand | maker | relation | confidence |",
                  "|---|---|---|---|"]
        for b in sorted(db.brands.values(), key=lambda b: b.slug):
            lines.append(f"| {b.name} (`{b.slug}`) | {b.maker} | {b.relation} | {b.confidence} |")
        lines.append("")
    return "\n".join(lines)
