"""The survey return (schema camscan.survey/1): surveillance devices of chosen sites counted per survey category by
real maker and brand, makers of concern flagged by the chosen lists, the preparer's overrides marked on every number
they change, and the provenance of it all.

A device's survey category comes from its kind (anpr -> anpr, bodyworn -> bodyworn, drone -> drones) and otherwise
from its site range's tag; a device neither settles is counted as untagged, never guessed. Unidentified hosts
(category `unknown`) are counted apart in the category of their range, never added to a total and never dropped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from scanner import __version__, config_schema
from scanner.errors import InputError
from scanner.inventory.build import count_once
from scanner.inventory.records import Device, Inventory
from scanner.inventory.serialise import from_dict
from scanner.macaddr import normalise_mac
from scanner.match.load import SURVEILLANCE_CATEGORIES, Database
from scanner.sites import SURVEY_CATEGORIES

SCHEMA: Final = "camscan.survey/1"
FORMATS: Final = ("json", "csv", "md", "html", "xlsx")
UNKNOWN_MAKER: Final = "unknown"          # by_vendor key of surveillance devices whose maker is not named
NO_SITE: Final = "(not at a scanned site)"  # where an addition without a site is counted
LABELS: Final = {
    "external": "External camera systems",
    "internal": "Internal camera systems",
    "anpr": "ANPR systems",
    "bodyworn": "Body-worn video",
    "drones": "Drones",
}
_KIND_SURVEY: Final = {"anpr": "anpr", "bodyworn": "bodyworn", "drone": "drones"}


def survey_category(kind: str, tag: str | None) -> str | None:
    """The survey category of a surveillance device: from its kind where that settles it, else its range's tag."""
    return _KIND_SURVEY.get(kind, tag)


# ---- inputs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """One site's inventory for the return and where it came from (a store scan id, or a file)."""

    inventory: Inventory
    scan_id: str | None
    origin: str                      # "store" or the inventory file's path

    @property
    def site(self) -> str:
        """The site's name (an ad-hoc scan is named by its targets)."""
        inv = self.inventory
        return inv.site.name or ", ".join(inv.scan.targets) or "(ad-hoc scan)"


def sources_from_files(paths: Sequence[str | Path]) -> list[Source]:
    """Inventory files as sources; InputError for an unreadable file, not an inventory, or an incomplete scan."""
    out = []
    for p in paths:
        path = Path(p)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise InputError(f"inventory {path}: cannot read it: {e.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"inventory {path}: not JSON: {e}") from None
        inv = from_dict(doc, f"inventory {path}")
        if not inv.scan.complete:
            raise InputError(f"inventory {path}: the scan was stopped part-way; the survey counts complete scans only")
        out.append(Source(inv, None, str(path)))
    return _unique_sites(out)


def sources_from_store(store: Any, sites: Sequence[str] | None = None) -> list[Source]:
    """The latest complete scan of each named site (every site in the store when none is named)."""
    names = list(sites) if sites else store.sites()
    if not names:
        raise InputError("the store holds no scans: scan the sites first, or pass inventory files with --inventory")
    out = []
    for name in names:
        rows = store.history(name, complete_only=True, limit=1)
        if not rows:
            known = store.sites()
            hint = f" (sites in the store: {', '.join(known[:8])})" if known and name not in known else ""
            raise InputError(f"site {name!r} has no complete scan in the store{hint}")
        out.append(Source(from_dict(store.inventory(rows[0].id), f"scan {rows[0].id}"), rows[0].id, "store"))
    return _unique_sites(out)


def _unique_sites(sources: list[Source]) -> list[Source]:
    seen: dict[str, str] = {}
    for s in sources:
        if s.site in seen:
            raise InputError(f"site {s.site!r} is given twice ({seen[s.site]} and {s.origin}); "
                             "the return counts each site once: pass one scan of it")
        seen[s.site] = s.origin
    return sources


# ---- overrides -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Correction:
    """A correction of one scanned device (kind, maker, brand, survey category), with its reason and author."""

    key: tuple[str, str]               # ("mac" | "serial" | "ip", value)
    site: str | None
    set: dict[str, str | None]
    reason: str
    by: str
    where: tuple[str | int, ...]       # its place in the file, for messages


@dataclass(frozen=True, slots=True)
class Addition:
    """Kit no scan can see (a drone in a cupboard), counted as count devices."""

    site: str | None
    kind: str
    survey: str
    maker: str | None
    brand: str | None
    model: str | None
    count: int
    reason: str
    by: str
    where: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Overrides:
    """A validated overrides file."""

    path: str
    sha256: str
    corrections: tuple[Correction, ...]
    additions: tuple[Addition, ...]
    doc: config_schema.ConfigDoc = field(repr=False, compare=False)

    def error(self, where: Sequence[str | int], message: str) -> InputError:
        """An InputError naming the file, line and key path of an entry."""
        return self.doc.error(where, message)


def load_overrides(path: str | Path, db: Database) -> Overrides:
    """Read and check an overrides file (schema scanner/schemas/overrides-1.json; makers and brands must be in the
    fingerprint database); InputError naming file, line and key."""
    doc = config_schema.load(path, "overrides", "overrides file")
    data: dict[str, Any] = doc.data or {}

    def slug(where: list[str | int], value: str | None, brand: bool = False) -> str | None:
        if value is None:
            return None
        if value in db.makers or (brand and value in db.brands):
            return value
        what = "maker or brand" if brand else "maker"
        raise doc.error(where, f"{value!r} is not a {what} in the fingerprint database "
                               "(camscan fingerprints coverage lists the makers)")

    corrections = []
    for i, c in enumerate(data.get("corrections") or []):
        (k, v), = c["device"].items()
        if k == "mac":
            v = normalise_mac(v) or v
        s = dict(c["set"])
        if "maker" in s:
            slug(["corrections", i, "set", "maker"], s["maker"])
        if "brand" in s:
            slug(["corrections", i, "set", "brand"], s["brand"], brand=True)
        corrections.append(Correction((k, v.strip()), c.get("site"), s, c["reason"].strip(), c["by"].strip(),
                                      ("corrections", i)))
    additions = []
    for i, a in enumerate(data.get("additions") or []):
        where: list[str | int] = ["additions", i]
        additions.append(Addition(a.get("site"), a["kind"], a["survey"], slug([*where, "maker"], a.get("maker")),
                                  slug([*where, "brand"], a.get("brand"), brand=True), a.get("model"), a["count"],
                                  a["reason"].strip(), a["by"].strip(), tuple(where)))
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return Overrides(str(path), digest, tuple(corrections), tuple(additions), doc)


# ---- counting --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    """One counted unit: a scanned device (count 1) or an addition (count N), as the return sees it."""

    site: str
    ip: str | None
    mac: str | None
    serial: str | None
    vendor: str | None
    brand: str | None
    model: str | None
    kind: str
    tag: str | None                   # the survey tag of its range (or the override's survey category)
    count: int = 1
    origin: str = "scan"              # scan | override | added
    override: tuple[str, str] | None = None   # (reason, by)
    forced_survey: bool = False       # an override set the survey category itself
    via: tuple[str, str] | None = None   # (recorder address, channel): a camera seen only through a recorder

    @property
    def survey(self) -> str | None:
        if self.kind not in SURVEILLANCE_CATEGORIES:
            return self.tag
        return self.tag if self.forced_survey else survey_category(self.kind, self.tag)


def _row(site: str, d: Device) -> _Row:
    via = (d.via.recorder, d.via.channel) if d.via is not None and d.via.matched_by is None else None
    return _Row(site, d.ip, d.mac, d.serial, d.vendor, d.brand if d.brand != d.vendor else None, d.model,
                d.category, d.survey, via=via)


def _matches(row: _Row, dev: Device, key: tuple[str, str]) -> bool:
    k, v = key
    if k == "mac":
        return row.mac is not None and normalise_mac(row.mac) == v
    if k == "serial":
        return row.serial is not None and row.serial.strip() == v
    return v == row.ip or v in dev.ips


def _apply(sources: Sequence[Source],
           overrides: Overrides | None) -> tuple[list[_Row], list[tuple[int, _Row | None, _Row]]]:
    """Every counted row after overrides, and (override index, before, after) for each corrected or added row
    (before None for an addition); the index is the entry's place in the return's `overrides` list."""
    kept = count_once([s.inventory.devices for s in sources])
    rows: list[tuple[_Row, Device | None]] = [(_row(s.site, d), d) for s, devs in zip(sources, kept, strict=True)
                                              for d in devs]
    changed: list[tuple[int, _Row | None, _Row]] = []
    if overrides is None:
        return [r for r, _ in rows], changed
    sites = {s.site for s in sources}
    done: dict[int, Correction] = {}
    for c in overrides.corrections:
        if c.site is not None and c.site not in sites:
            raise overrides.error([*c.where, "site"], f"no site {c.site!r} in this return "
                                                      f"(sites: {', '.join(sorted(sites))})")
        hits = [i for i, (r, d) in enumerate(rows)
                if d is not None and (c.site is None or r.site == c.site) and _matches(r, d, c.key)]
        k, v = c.key
        if not hits:
            raise overrides.error([*c.where, "device"], f"no device with {k} {v} in the chosen scans"
                                                        + (f" of site {c.site!r}" if c.site else ""))
        if len(hits) > 1:
            where = sorted({rows[i][0].site for i in hits})
            raise overrides.error([*c.where, "device"], f"{k} {v} matches {len(hits)} devices "
                                                        f"(sites: {', '.join(where)}); name the site with site:")
        i = hits[0]
        if i in done:
            raise overrides.error(list(c.where), f"the device is already corrected by "
                                                 f"{config_schema.key_path(list(done[i].where))}")
        done[i] = c
        before, dev = rows[i]
        s = c.set
        after = replace(before, origin="override", override=(c.reason, c.by),
                        kind=s.get("kind") or before.kind,
                        vendor=s.get("maker", before.vendor), brand=s.get("brand", before.brand),
                        tag=s.get("survey", before.tag),
                        forced_survey="survey" in s or before.forced_survey)
        if after.brand == after.vendor:
            after = replace(after, brand=None)
        rows[i] = (after, dev)
        changed.append((len(changed), before, after))
    out = [r for r, _ in rows]
    for a in overrides.additions:
        if a.site is not None and a.site not in sites:
            raise overrides.error([*a.where, "site"], f"no site {a.site!r} in this return "
                                                      f"(sites: {', '.join(sorted(sites))})")
        out.append(_Row(a.site or NO_SITE, None, None, None, a.maker, a.brand if a.brand != a.maker else None,
                        a.model, a.kind, a.survey, a.count, "added", (a.reason, a.by), forced_survey=True))
        changed.append((len(changed), None, out[-1]))
    return out, changed


def _concerns(db: Database, lists: Sequence[str], vendor: str | None, brand: str | None) -> list[str]:
    return [c.id for c in db.concerns if c.id in lists and ((vendor is not None and vendor in c.makers)
                                                            or (brand is not None and brand in c.makers))]


def _empty() -> dict[str, Any]:
    return {"by_vendor": Counter(), "by_brand": Counter(), "concern_vendors": Counter(), "concern_lists": {},
            "video": 0, "unknown": 0, "total": 0, "overridden": {}}


class _Tally:
    """Counts for one scope (the whole return, or one site)."""

    def __init__(self) -> None:
        self.cats: dict[str, dict[str, Any]] = {c: _empty() for c in SURVEY_CATEGORIES}
        self.untagged = 0
        self.untagged_by_vendor: Counter[str] = Counter()
        self.unknown_untagged = 0
        self.untagged_overridden: set[int] = set()

    def add(self, db: Database, lists: Sequence[str], r: _Row) -> None:
        cat = r.survey
        if r.kind not in SURVEILLANCE_CATEGORIES:
            if r.kind == "unknown":
                if cat is None:
                    self.unknown_untagged += r.count
                else:
                    self.cats[cat]["unknown"] += r.count
            return
        vendor = r.vendor or UNKNOWN_MAKER
        if cat is None:
            self.untagged += r.count
            self.untagged_by_vendor[vendor] += r.count
            return
        c = self.cats[cat]
        c["total"] += r.count
        c["by_vendor"][vendor] += r.count
        if r.brand:
            c["by_brand"][r.brand] += r.count
        if r.kind == "video":
            c["video"] += r.count
        flagged = _concerns(db, lists, r.vendor, r.brand)
        if flagged:
            who = r.vendor or r.brand or UNKNOWN_MAKER
            c["concern_vendors"][who] += r.count
            c["concern_lists"][who] = sorted(set(c["concern_lists"].get(who, [])) | set(flagged))

    def mark(self, db: Database, lists: Sequence[str], r: _Row, by: int) -> None:
        """Mark every number this row contributes to as changed by override number `by`."""
        if r.kind not in SURVEILLANCE_CATEGORIES:
            if r.kind == "unknown":
                if r.survey is None:
                    self.untagged_overridden.add(by)
                else:
                    self.cats[r.survey]["overridden"].setdefault("unknown", set()).add(by)
            return
        if r.survey is None:
            self.untagged_overridden.add(by)
            return
        keys = ["total", f"by_vendor.{r.vendor or UNKNOWN_MAKER}"]
        if r.brand:
            keys.append(f"by_brand.{r.brand}")
        if r.kind == "video":
            keys.append("video")
        if _concerns(db, lists, r.vendor, r.brand):
            keys.append(f"concern_vendors.{r.vendor or r.brand or UNKNOWN_MAKER}")
        marks = self.cats[r.survey]["overridden"]
        for k in keys:
            marks.setdefault(k, set()).add(by)

    def to_dict(self) -> dict[str, Any]:
        cats = {}
        for name in SURVEY_CATEGORIES:
            c = self.cats[name]
            cats[name] = {
                "by_vendor": _sorted(c["by_vendor"]), "by_brand": _sorted(c["by_brand"]),
                "concern_vendors": _sorted(c["concern_vendors"]),
                "concern_lists": {k: c["concern_lists"][k] for k in _sorted(c["concern_vendors"])},
                "video": c["video"], "unknown": c["unknown"], "total": c["total"],
                "overridden": sorted(c["overridden"]),
                "overridden_by": {k: sorted(v) for k, v in sorted(c["overridden"].items())},
            }
        return {"categories": cats, "untagged": self.untagged, "untagged_by_vendor": _sorted(self.untagged_by_vendor),
                "unknown_untagged": self.unknown_untagged, "untagged_overridden": bool(self.untagged_overridden),
                "untagged_overridden_by": sorted(self.untagged_overridden)}


def _sorted(c: Counter[str]) -> dict[str, int]:
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def build(sources: Sequence[Source], db: Database, *, concern_lists: Iterable[str] | None = None,
          overrides: Overrides | None = None, organisation: str | None = None,
          generated: str | None = None) -> dict[str, Any]:
    """The camscan.survey/1 document; InputError for an unknown concern list or an override that fits no device."""
    known = [c.id for c in db.concerns]
    lists = known if concern_lists is None else list(dict.fromkeys(concern_lists))
    bad = [x for x in lists if x not in known]
    if bad:
        raise InputError(f"--concerns: unknown list(s) {', '.join(bad)}; choose from {', '.join(known)}")
    if not sources:
        raise InputError("the survey needs at least one site's scan (--site, or --inventory FILE)")
    rows, changed = _apply(sources, overrides)
    overall = _Tally()
    per_site: dict[str, _Tally] = {s.site: _Tally() for s in sources}
    for r in rows:
        overall.add(db, lists, r)
        per_site.setdefault(r.site, _Tally()).add(db, lists, r)
    for idx, before, after in changed:
        for row in (before, after):
            if row is not None:
                overall.mark(db, lists, row, idx)
                per_site[row.site].mark(db, lists, row, idx)
    generated = generated or datetime.now(UTC).isoformat(timespec="seconds")
    chosen = [c for c in db.concerns if c.id in lists]
    lists_doc = [{"id": c.id, "name": c.name, "source": c.source, "date": c.date} for c in chosen]
    by_site = {s.site: s for s in sources}
    sites_doc = []
    for name, tally in per_site.items():
        src = by_site.get(name)
        entry = {"name": name, "scan_id": src.scan_id if src else None,
                 "scanned": (src.inventory.scan.finished or src.inventory.scan.started) if src else None}
        entry.update(tally.to_dict())
        sites_doc.append(entry)
    orgs = sorted({s.inventory.site.organisation for s in sources if s.inventory.site.organisation})
    doc: dict[str, Any] = {"schema": SCHEMA, "organisation": organisation or "; ".join(orgs),
                           "generated": generated, "concern_lists": lists_doc}
    doc.update(overall.to_dict())
    doc["sites"] = sites_doc
    doc["devices"] = [_device_doc(db, lists, r) for r in rows
                      if r.kind in SURVEILLANCE_CATEGORIES or r.kind == "unknown" or r.origin != "scan"]
    doc["recorders_not_read"] = [
        {"site": s.site, "ip": d.ip, "vendor": d.vendor, "model": d.model, "stated": d.behind.stated}
        for s in sources for d in s.inventory.devices if d.behind is not None and d.behind.listed is None]
    doc["overrides"] = _overrides_doc(overrides, changed)
    doc["makers"] = _names(db, doc)
    doc["provenance"] = {
        "tool_version": __version__, "fingerprints_version": db.version, "generated": generated,
        "sites": [{"name": s.site, "scan_id": s.scan_id, "started": s.inventory.scan.started,
                   "finished": s.inventory.scan.finished, "targets": list(s.inventory.scan.targets),
                   "tool_version": s.inventory.scan.tool_version,
                   "fingerprints_version": s.inventory.scan.fingerprints_version,
                   "complete": s.inventory.scan.complete, "source": s.origin} for s in sources],
        "concern_lists": lists_doc,
        "overrides": ({"file": overrides.path, "sha256": overrides.sha256,
                       "entries": len(overrides.corrections) + len(overrides.additions)} if overrides else None),
    }
    return doc


def _device_doc(db: Database, lists: Sequence[str], r: _Row) -> dict[str, Any]:
    return {"site": r.site, "ip": r.ip, "via": {"recorder": r.via[0], "channel": r.via[1]} if r.via else None,
            "mac": r.mac, "serial": r.serial, "vendor": r.vendor, "brand": r.brand,
            "model": r.model, "kind": r.kind, "survey": r.survey if r.kind != "other" else None,
            "counted": r.kind in SURVEILLANCE_CATEGORIES, "count": r.count,
            "concerns": _concerns(db, lists, r.vendor, r.brand) if r.kind in SURVEILLANCE_CATEGORIES else [],
            "origin": r.origin, "override": {"reason": r.override[0], "by": r.override[1]} if r.override else None}


def _overrides_doc(overrides: Overrides | None,
                   changed: list[tuple[int, _Row | None, _Row]]) -> list[dict[str, Any]]:
    if overrides is None:
        return []
    out: list[dict[str, Any]] = []
    for c in overrides.corrections:
        out.append({"kind": "correct", "key": {c.key[0]: c.key[1]}, "set": dict(c.set), "count": 1,
                    "reason": c.reason, "by": c.by, "site": c.site})
    for a in overrides.additions:
        out.append({"kind": "add", "key": None,
                    "set": {"kind": a.kind, "survey": a.survey, "maker": a.maker, "brand": a.brand, "model": a.model},
                    "count": a.count, "reason": a.reason, "by": a.by, "site": a.site})
    return out


def _names(db: Database, doc: dict[str, Any]) -> dict[str, str]:
    slugs: set[str] = set()
    for scope in [doc, *doc["sites"]]:
        slugs.update(scope["untagged_by_vendor"])
        for c in scope["categories"].values():
            slugs.update(c["by_vendor"], c["by_brand"], c["concern_vendors"])
    for d in doc["devices"]:
        slugs.update(x for x in (d["vendor"], d["brand"]) if x)
    out = {}
    for s in sorted(slugs):
        m, b = db.makers.get(s), db.brands.get(s)
        out[s] = m.name if m else b.name if b else "Maker not identified" if s == UNKNOWN_MAKER else s
    return out


# ---- text renderings -------------------------------------------------------------------------------------------


def to_json(doc: dict[str, Any]) -> str:
    """The camscan.survey/1 document as JSON text."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


CSV_COLUMNS: Final = ("scope", "category", "measure", "key", "name", "count", "overridden")


def _measures(scope: dict[str, Any], names: dict[str, str]) -> Iterable[tuple[str, str, str, str, int, bool]]:
    for cat in SURVEY_CATEGORIES:
        c = scope["categories"][cat]
        marks = set(c["overridden"])
        for m in ("total", "video", "unknown"):
            yield cat, m, "", "", c[m], m in marks
        for m in ("by_vendor", "by_brand", "concern_vendors"):
            for k, n in c[m].items():
                yield cat, m, k, names.get(k, k), n, f"{m}.{k}" in marks
    yield "", "untagged", "", "", scope["untagged"], scope["untagged_overridden"]
    for k, n in scope["untagged_by_vendor"].items():
        yield "", "untagged_by_vendor", k, names.get(k, k), n, scope["untagged_overridden"]
    yield "", "unknown_untagged", "", "", scope["unknown_untagged"], scope["untagged_overridden"]


def to_csv(doc: dict[str, Any]) -> str:
    """Every number of the return, one per row (scope 'all' or a site), formula cells neutralised."""
    from scanner.report import csv_cell

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for scope_name, scope in [("all", doc), *((s["name"], s) for s in doc["sites"])]:
        for cat, measure, key, name, n, marked in _measures(scope, doc["makers"]):
            w.writerow([csv_cell(x) for x in (scope_name, cat, measure, key, name, n, "yes" if marked else "")])
    return buf.getvalue()


def to_markdown(doc: dict[str, Any]) -> str:
    """The return as readable Markdown: the commissioner's questions per category, sites, provenance (escaped)."""
    from scanner.report import md_cell as e

    names = doc["makers"]

    def num(n: int, marked: bool) -> str:
        return f"{n} †" if marked else str(n)

    lines = [f"# Survey return: {e(doc['organisation'] or 'organisation not named')}", "",
             f"Generated {e(doc['generated'])} by camscan {e(doc['provenance']['tool_version'])} "
             f"(fingerprints {e(doc['provenance']['fingerprints_version'])}) from "
             f"{len(doc['provenance']['sites'])} site scan(s). Numbers marked † were changed by an override.", "",
             "Concern lists applied: " + ("; ".join(f"{e(c['name'])} ({e(c['date'])})" for c in doc["concern_lists"])
                                          or "none"), ""]
    for cat in SURVEY_CATEGORIES:
        c = doc["categories"][cat]
        marks = set(c["overridden"])
        concern = c["concern_vendors"]
        lines += [f"## {LABELS[cat]}", "",
                  f"- Do you use systems from makers of concern? **{'Yes' if concern else 'No'}**"
                  + (" (" + "; ".join(f"{e(names.get(k, k))}: {', '.join(c['concern_lists'][k])}" for k in concern)
                     + ")" if concern else ""),
                  "- Which makers of concern, how many devices: "
                  + (", ".join(f"{e(names.get(k, k))} {num(n, f'concern_vendors.{k}' in marks)}"
                               for k, n in concern.items()) or "none"),
                  f"- Surveillance devices: {num(c['total'], 'total' in marks)} (of which kind undetermined: "
                  f"{num(c['video'], 'video' in marks)}); unidentified hosts in ranges tagged {cat}: "
                  f"{num(c['unknown'], 'unknown' in marks)}", ""]
        if c["by_vendor"]:
            lines += ["| maker | devices |", "|---|---|"]
            lines += [f"| {e(names.get(k, k))} | {num(n, f'by_vendor.{k}' in marks)} |"
                      for k, n in c["by_vendor"].items()]
            lines.append("")
        if c["by_brand"]:
            lines += ["| brand on the box | devices |", "|---|---|"]
            lines += [f"| {e(names.get(k, k))} | {num(n, f'by_brand.{k}' in marks)} |"
                      for k, n in c["by_brand"].items()]
            lines.append("")
    mark = doc["untagged_overridden"]
    lines += ["## Not attributed to a survey category", "",
              f"- Surveillance devices in no tagged range whose kind does not settle the category: "
              f"{num(doc['untagged'], mark)}"
              + (" (" + ", ".join(f"{e(names.get(k, k))} {n}" for k, n in doc["untagged_by_vendor"].items()) + ")"
                 if doc["untagged_by_vendor"] else ""),
              f"- Unidentified hosts in untagged ranges: {num(doc['unknown_untagged'], mark)}", ""]
    if doc["recorders_not_read"]:
        lines += ["## Recorders whose cameras were not read", "",
                  "Cameras on a recorder's own network are counted only when the recorder lists them (a scan with "
                  "the operator's credentials); these recorders' cameras are in no number above:", ""]
        lines += [f"- {e(r['site'])} {e(r['ip'])} {e(names.get(r['vendor'] or '', r['vendor'] or '?'))} "
                  f"{e(r['model'] or '')}: cameras behind: "
                  + (f"{r['stated']} channels stated by the recorder" if r["stated"] is not None else "unknown")
                  for r in doc["recorders_not_read"]]
        lines.append("")
    lines += ["## Sites", "", "| site | scan | " + " | ".join(SURVEY_CATEGORIES) + " | untagged |",
              "|---|---|" + "---|" * (len(SURVEY_CATEGORIES) + 1)]
    for s in doc["sites"]:
        cells = [num(s["categories"][c]["total"], "total" in s["categories"][c]["overridden"])
                 for c in SURVEY_CATEGORIES]
        lines.append(f"| {e(s['name'])} | {e(s['scan_id'] or '')} | " + " | ".join(cells)
                     + f" | {num(s['untagged'], s['untagged_overridden'])} |")
    if doc["overrides"]:
        lines += ["", "## Overrides applied", ""]
        for o in doc["overrides"]:
            what = ", ".join(f"{k}={v}" for k, v in o["set"].items() if v is not None)
            key = ", ".join(f"{k} {v}" for k, v in (o["key"] or {}).items()) or f"{o['count']} added"
            lines.append(f"- {e(o['kind'])} {e(key)}{' at ' + e(o['site']) if o['site'] else ''}: {e(what)} "
                         f"— {e(o['reason'])} ({e(o['by'])})")
    p = doc["provenance"]
    lines += ["", "## Provenance", ""]
    lines += [f"- {e(s['name'])}: scan {e(s['scan_id'] or s['source'])}, {e(s['started'])} to {e(s['finished'])}, "
              f"targets {e(', '.join(s['targets']))}, camscan {e(s['tool_version'])}, "
              f"fingerprints {e(s['fingerprints_version'])}" for s in p["sites"]]
    lines += [f"- Concern list {e(c['id'])}: {e(c['name'])}, {e(c['date'])}, {e(c['source'])}"
              for c in p["concern_lists"]]
    if p["overrides"]:
        o = p["overrides"]
        lines.append(f"- Overrides: {e(o['file'])} ({o['entries']} entries, sha256 {e(o['sha256'])})")
    return "\n".join(lines) + "\n"


def parse_formats(text: str) -> list[str]:
    """'json,xlsx' -> ['json', 'xlsx']; InputError for an unknown format."""
    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise InputError(f"--format: unknown format(s) {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    return list(dict.fromkeys(out))


def render(doc: dict[str, Any], fmt: str) -> str | bytes:
    """The return in one format."""
    if fmt == "json":
        return to_json(doc)
    if fmt == "csv":
        return to_csv(doc)
    if fmt == "md":
        return to_markdown(doc)
    if fmt == "html":
        from scanner.report import html

        return html.render_survey(doc)
    from scanner.report import xlsx

    return xlsx.render_survey(doc)


def write(doc: dict[str, Any], out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Write survey.<format> for each format into out_dir (atomically, owner-only); the paths written."""
    from scanner import report

    for f in formats:
        report.check_path(out_dir / f"survey.{f}")
    rendered = {f: render(doc, f) for f in formats}    # all rendered before any file is written
    report.make_dir(out_dir)
    paths = []
    for f in formats:
        report.write_atomic(out_dir / f"survey.{f}", rendered[f])
        paths.append(out_dir / f"survey.{f}")
    return paths


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the camscan.survey/1 document (scanner/schemas/survey-1.json)."""
    return config_schema.schema("survey")
