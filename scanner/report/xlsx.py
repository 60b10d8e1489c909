"""XLSX workbooks: the per-site inventory report and the survey return (openpyxl).

Every string cell is written as text, never as a formula or an error value, whatever it starts with (device
strings are untrusted: a camera chooses its banner); a text that a spreadsheet would take for a formula also
gets Excel's quote prefix, so editing the cell keeps it text. Characters XML cannot hold are replaced by U+FFFD
and texts longer than a cell holds are cut. Numbers are numeric cells, never text.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from scanner.inventory.records import Device, Inventory
from scanner.match.load import CATEGORIES, SURVEILLANCE_CATEGORIES
from scanner.report import behind_text, cameras_behind_text
from scanner.sites import SURVEY_CATEGORIES
from scanner.survey import survey_category as _survey_of

__all__ = ["SURVEY_CATEGORIES", "SURVEY_LABELS", "cell_text", "maker_category_counts", "maker_survey_counts",
           "render_inventory", "render_survey",
           "survey_category"]

SURVEY_LABELS: Final = {"external": "External camera systems", "internal": "Internal camera systems",
                        "anpr": "ANPR systems", "bodyworn": "Body-worn video", "drones": "Drones"}
UNTAGGED: Final = "untagged"
MAX_CELL_TEXT: Final = 32767          # Excel's limit; a longer text makes Excel "repair" the file
_FORMULA_LEAD: Final = ("=", "+", "-", "@", "\t", "\r")
# openpyxl's pattern misses the code points XML 1.0 also forbids (and UTF-8 cannot encode lone surrogates)
_NOT_XML: Final = re.compile(ILLEGAL_CHARACTERS_RE.pattern + r"|[\x7f\ud800-\udfff\ufffe\uffff]")
_BOLD: Final = Font(bold=True)
_TITLE: Final = Font(bold=True, size=14)
_GREY: Final = Font(color="808080")
_HEAD_FILL: Final = PatternFill("solid", fgColor="DDDDDD")
_CAT_FILL: Final = PatternFill("solid", fgColor="C6D9F1")
OVERRIDE_FILL: Final = PatternFill("solid", fgColor="FFC000")   # amber: a number an override changed
_SURVEILLANCE_ORDER: Final = tuple(c for c in CATEGORIES if c in SURVEILLANCE_CATEGORIES)
_NO_MAKER: Final = "(maker not named)"


def cell_text(value: object) -> str:
    """The text a cell holds for value: characters XML cannot hold become U+FFFD, cut to Excel's cell limit."""
    text = _NOT_XML.sub("\ufffd", "" if value is None else str(value))
    return text if len(text) <= MAX_CELL_TEXT else text[:MAX_CELL_TEXT - 1] + "…"


def survey_category(d: Device) -> str:
    """A device's survey category as the survey return counts it (scanner.survey), or 'untagged'."""
    return _survey_of(d.category, d.survey) or UNTAGGED


# --- writing cells ---------------------------------------------------------------------------------

def _put(ws: Any, row: int, col: int, value: object) -> Any:
    """Write one cell: numbers as numbers, booleans as booleans, everything else as inert text."""
    cell = ws.cell(row=row, column=col)
    if value is None:
        return cell
    if isinstance(value, bool | int | float):
        cell.value = value
        return cell
    text = cell_text(value)
    cell.value = text
    cell.data_type = "s"          # openpyxl would make "=..." a formula and "#REF!" an error value
    if text.startswith(_FORMULA_LEAD):
        cell.quotePrefix = True   # Excel's leading apostrophe: shown as typed, stays text when edited
    return cell


def _row(ws: Any, row: int, values: Sequence[object], font: Font | None = None, fill: PatternFill | None = None
         ) -> list[Any]:
    """Write values across row from column A; the cells."""
    cells = [_put(ws, row, i + 1, v) for i, v in enumerate(values)]
    for c in cells:
        if font is not None:
            c.font = font
        if fill is not None:
            c.fill = fill
    return cells


def _header(ws: Any, row: int, names: Sequence[str]) -> None:
    _row(ws, row, names, _BOLD, _HEAD_FILL)


def _table(ws: Any, names: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """A sheet that is one table: header row frozen and filtered; the last row written."""
    _header(ws, 1, names)
    r = 1
    for values in rows:
        r += 1
        _row(ws, r, values)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(names))}{max(r, 2)}"
    return r


def _widths(ws: Any, fixed: Mapping[int, int] | None = None, lo: int = 8, hi: int = 60) -> None:
    """Column widths from the longest line in each column, within [lo, hi]."""
    longest: Counter[int] = Counter()
    for row in ws.iter_rows():
        for c in row:
            if c.value is not None:
                n = max(len(line) for line in str(c.value).splitlines() or [""])
                longest[c.column] = max(longest[c.column], n)
    for col, n in longest.items():
        ws.column_dimensions[get_column_letter(col)].width = min(hi, max(lo, n + 2))
    for col, w in (fixed or {}).items():
        ws.column_dimensions[get_column_letter(col)].width = w


def _when(iso: str | None) -> datetime:
    """A naive UTC datetime for an ISO 8601 time (the workbook's created/modified); now if it does not parse."""
    try:
        t = datetime.fromisoformat(iso or "")
    except ValueError:
        t = datetime.now(UTC)
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t.replace(microsecond=0)


def _save(wb: Any, when: datetime) -> bytes:
    """The workbook as XLSX bytes, stamped with when (document properties and zip entries): same input, same bytes."""
    wb.properties.created = when
    wb.properties.modified = when
    raw = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()   # closes the zip
    stamp = max(when, datetime(1980, 1, 1)).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, src.read(info))
    return out.getvalue()


def _new_workbook() -> Any:
    wb = Workbook()
    wb.remove(wb.active)
    return wb


# --- the inventory report --------------------------------------------------------------------------

DEVICE_COLUMNS: Final = ("ip", "mac", "maker", "brand", "model", "firmware", "serial", "category", "survey category",
                         "confidence", "concerns", "advisories", "open ports", "hostnames", "discovered by",
                         "channels", "behind recorder", "cameras behind")
EVIDENCE_COLUMNS: Final = ("device ip", "rule", "signal", "value", "vendor", "brand", "category", "confidence",
                           "field")
ERROR_COLUMNS: Final = ("module", "ip", "error")


def _channel_text(ch: Any) -> str:
    return " ".join(x for x in (ch.ip, ch.maker, ch.model, ch.firmware) if x) or ch.token


def render_inventory(inv: Inventory, *, concern_names: dict[str, str] | None = None,
                     maker_names: dict[str, str] | None = None) -> bytes:
    """The inventory as an XLSX workbook: sheets Devices, Summary, Evidence, Errors, Scan (see module doc for safety).

    maker_names maps maker and brand slugs to display names, concern_names concern list ids to names; a slug or id
    without a name is shown as it is.
    """
    makers = maker_names or {}
    concerns = concern_names or {}

    def name(slug: str | None) -> str:
        return "" if slug is None else makers.get(slug, slug)

    wb = _new_workbook()
    ws = wb.create_sheet("Devices")
    _table(ws, DEVICE_COLUMNS, (
        (d.ip, d.mac, name(d.vendor), name(d.brand), d.model, d.firmware, d.serial, d.category, survey_category(d),
         d.confidence, "; ".join(concerns.get(c, c) for c in d.concerns),
         "; ".join(f"{a.id} ({a.severity}, {a.status})" for a in d.advisories),
         ", ".join(str(p) for p in d.open_ports), "; ".join(d.hostnames), ", ".join(d.discovered_by),
         "; ".join(_channel_text(c) for c in d.channels), behind_text(d), cameras_behind_text(d))
        for d in inv.devices))
    _widths(ws, {10: 11})

    _summary_sheet(wb.create_sheet("Summary"), inv, name)

    ws = wb.create_sheet("Evidence")
    _table(ws, EVIDENCE_COLUMNS, (
        (d.ip, e.rule_id, e.signal, e.value, e.vendor, e.brand, e.category, e.confidence, e.field)
        for d in inv.devices for e in d.evidence))
    _widths(ws)

    ws = wb.create_sheet("Errors")
    _table(ws, ERROR_COLUMNS, ((x.module, x.ip, x.error) for x in inv.scan.errors))
    _widths(ws, hi=100)

    _scan_sheet(wb.create_sheet("Scan"), inv)
    return _save(wb, _when(inv.scan.finished))


def maker_category_counts(inv: Inventory) -> dict[str, Counter[str]]:
    """Surveillance devices by maker slug ('' when not named) and device category."""
    out: dict[str, Counter[str]] = {}
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES:
            out.setdefault(d.vendor or "", Counter())[d.category] += 1
    return out


def maker_survey_counts(inv: Inventory) -> dict[str, Counter[str]]:
    """Surveillance devices by maker slug ('' when not named) and survey category (or 'untagged')."""
    out: dict[str, Counter[str]] = {}
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES:
            out.setdefault(d.vendor or "", Counter())[survey_category(d)] += 1
    return out


def _cross_table(ws: Any, row: int, title: str, counts: dict[str, Counter[str]], cols: Sequence[str],
                 name: Any) -> int:
    """A maker x column table with totals at row; the next free row."""
    _put(ws, row, 1, title).font = _BOLD
    _header(ws, row + 1, ["maker", *cols, "total"])
    r = row + 1
    order = sorted(counts, key=lambda m: (-sum(counts[m].values()), m == "", name(m).lower(), m))
    for m in order:
        r += 1
        c = counts[m]
        _row(ws, r, [name(m) if m else _NO_MAKER, *(c.get(k, 0) for k in cols), sum(c.values())])
    r += 1
    _row(ws, r, ["Total", *(sum(counts[m].get(k, 0) for m in counts) for k in cols),
                 sum(sum(c.values()) for c in counts.values())], _BOLD)
    return r + 2


def _summary_sheet(ws: Any, inv: Inventory, name: Any) -> None:
    r = _cross_table(ws, 1, "Surveillance devices by maker and device category", maker_category_counts(inv),
                     _SURVEILLANCE_ORDER, name)
    r = _cross_table(ws, r, "Surveillance devices by maker and survey category", maker_survey_counts(inv),
                     (*SURVEY_CATEGORIES, UNTAGGED), name)
    other = Counter(d.category for d in inv.devices if d.category not in SURVEILLANCE_CATEGORIES)
    _put(ws, r, 1, "Other hosts").font = _BOLD
    _row(ws, r + 1, ["known not to be surveillance devices (other)", other.get("other", 0)])
    _row(ws, r + 2, ["unidentified (unknown)", other.get("unknown", 0)])
    _widths(ws, {1: 42})


def _flat(prefix: str, value: object) -> Iterable[tuple[str, object]]:
    """Nested stats as (dotted key, value) pairs; lists become text."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flat(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, list | tuple):
        yield prefix, ", ".join(str(x) for x in value)
    else:
        yield prefix, value


def _scan_sheet(ws: Any, inv: Inventory) -> None:
    s, site = inv.scan, inv.site
    rows: list[tuple[object, ...]] = [("site", site.name or "ad-hoc scan"), ("organisation", site.organisation)]
    for rg in site.ranges:
        detail = "; ".join(x for x in (f"survey: {rg.survey}" if rg.survey else "survey: untagged",
                                        f"VLAN {rg.vlan}" if rg.vlan is not None else "") if x)
        rows.append(("range", rg.cidr, detail))
    rows += [("targets", ", ".join(s.targets)), ("excluded", ", ".join(s.excluded)),
             ("modules", ", ".join(s.modules)), ("started", s.started), ("finished", s.finished),
             ("complete", s.complete), ("privileged", s.privileged), ("tool version", s.tool_version),
             ("fingerprints version", s.fingerprints_version), ("errors", len(s.errors))]
    rows += [(f"stats.{k}", v) for k, v in _flat("", s.stats)]
    _header(ws, 1, ["item", "value", "detail"])
    for i, values in enumerate(rows, start=2):
        _row(ws, i, values)
    ws.freeze_panes = "A2"
    _widths(ws, hi=80)


# --- the survey return -----------------------------------------------------------------------------

RETURN_COLUMNS: Final = ("Question / item", "Answer", "Detail", "Changed by override", "JSON key")


class _Return:
    """Reads one survey dict for the sheets: names, list names, override notes."""

    def __init__(self, survey: Mapping[str, Any]) -> None:
        self.s = survey
        self.makers: Mapping[str, str] = survey.get("makers") or {}
        self.lists = {c["id"]: c.get("name") or c["id"] for c in survey.get("concern_lists") or ()}
        self.devices: list[Mapping[str, Any]] = list(survey.get("devices") or ())
        # brand slug -> the real makers behind it, from the devices themselves
        self.brand_makers: dict[str, set[str]] = {}
        for d in self.devices:
            if d.get("brand") and d.get("vendor") and d["brand"] != d["vendor"]:
                self.brand_makers.setdefault(d["brand"], set()).add(d["vendor"])

    def name(self, slug: str) -> str:
        if slug == "unknown":
            return self.makers.get(slug, _NO_MAKER)
        return self.makers.get(slug, slug)

    def list_names(self, ids: Iterable[str]) -> str:
        return "; ".join(self.lists.get(i, i) for i in ids)

    def notes(self, cat: str | None, key: str, site: str | None = None) -> list[str]:
        """The overrides behind a changed number (key as in `overridden`; cat None for untagged): those whose device
        counts in it now, and the corrections whose device could have counted in it before; exactly those the
        return's `overridden_by` names when it has one."""
        exact = self._overridden_by(cat, key, site)
        if exact is not None:
            entries = list(self.s.get("overrides") or ())
            named = [_note(entries[i]) for i in exact if isinstance(i, int) and 0 <= i < len(entries)]
            return list(dict.fromkeys(named)) or ["an override (see the Overrides sheet)"]
        out: list[str] = []
        for d in self.devices:     # after the overrides
            ov = d.get("override")
            if d.get("origin") != "scan" and ov and _counts_in(d, cat, key, site):
                out.append(_note(ov))
        for o in self.s.get("overrides") or ():     # before: what a correction did not set was as it is now
            if o.get("kind") != "correct":
                continue
            after = self._corrected(o)
            before = _before(after, o)
            where = before["site"]
            # the site's own marks rule out a correction at a site where this number did not change
            if (not isinstance(where, str) or self._site_marked(where, cat, key)) and _counts_in(before, cat, key,
                                                                                                   site):
                out.append(_note(o))
        return list(dict.fromkeys(out)) or ["an override (see the Overrides sheet)"]

    def _overridden_by(self, cat: str | None, key: str, site: str | None) -> list[Any] | None:
        """The indexes of the overrides that changed a number, when the return says (None when it does not)."""
        scope: Mapping[str, Any] | None = self.s if site is None else next(
            (x for x in self.s.get("sites") or () if x.get("name") == site), None)
        if scope is None:
            return None
        if cat is None:
            got = scope.get("untagged_overridden_by")
            return list(got) if isinstance(got, list) else None
        by = ((scope.get("categories") or {}).get(cat) or {}).get("overridden_by")
        return list(by.get(key) or ()) if isinstance(by, Mapping) else None

    def _site_marked(self, site: str, cat: str | None, key: str) -> bool:
        """Whether the site's own breakdown marks the number (True when the dict has no such site)."""
        doc = next((x for x in self.s.get("sites") or () if x.get("name") == site), None)
        if doc is None:
            return True
        if cat is None:
            return bool(doc.get("untagged_overridden", True))
        return key in ((doc.get("categories") or {}).get(cat) or {}).get("overridden", ())

    def _corrected(self, o: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The device a correction names, as it is after the overrides (None when the dict cannot tell)."""
        key = o.get("key") or {}
        if len(key) != 1:
            return None
        (k, v), = key.items()
        norm = (lambda x: str(x).lower().replace("-", ":")) if k == "mac" else str
        hits = [d for d in self.devices if d.get("origin") == "override" and d.get(k) is not None
                and norm(d[k]) == norm(v) and (o.get("site") is None or d.get("site") == o.get("site"))]
        return hits[0] if len(hits) == 1 else None


class _Any:
    """A field a correction set: its value before the correction is not in the dict."""


@dataclass(frozen=True)
class _OneOf:
    """A field whose value before the correction is one of these."""

    values: frozenset[object]


_ANY: Final = _Any()
_STATE: Final = ("site", "survey", "kind", "vendor", "brand")
_KIND_SURVEYS: Final = frozenset({"anpr", "bodyworn", "drones"})
_SURVEY_KINDS: Final = frozenset({"anpr", "bodyworn", "drone"})


def _before(after: Mapping[str, Any] | None, o: Mapping[str, Any]) -> dict[str, object]:
    """What the dict can say of a corrected device before its correction: unset fields as they are now."""
    if after is None:
        return {k: _ANY for k in _STATE} | {"site": o.get("site") or _ANY}
    before: dict[str, object] = {k: after.get(k) for k in _STATE}
    given = set(o.get("set") or ())
    if "survey" in given or ("kind" in given and after.get("kind") in _SURVEY_KINDS):
        before["survey"] = _ANY                   # the range's own tag is not in the dict
    elif "kind" in given:                         # now its range's tag; before, maybe a kind that sets its own
        before["survey"] = _OneOf(frozenset({after.get("survey"), *_KIND_SURVEYS}))
    if "kind" in given:
        before["kind"] = _ANY
    if "maker" in given:
        before["vendor"] = before["brand"] = _ANY
    if "brand" in given:
        before["brand"] = _ANY
    return before


def _note(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('reason', '')} ({entry.get('by', '')})"


def _counts_in(d: Mapping[str, Any], cat: str | None, key: str, site: str | None) -> bool:
    """Whether a device state (fields may be _ANY: could be anything) could count in number key of cat and site."""
    def could(k: str, *want: object) -> bool:
        v = d.get(k)
        if isinstance(v, _OneOf):
            return any(w in v.values for w in want)
        return v is _ANY or v in want

    field, _, slug = key.partition(".")
    if (site is not None and not could("site", site)) or not could("survey", cat):
        return False
    if field in ("video", "unknown"):
        return could("kind", field)
    if not could("kind", *SURVEILLANCE_CATEGORIES):
        return False
    if field == "by_vendor":
        return could("vendor", slug, *((None,) if slug == "unknown" else ()))
    if field == "by_brand":
        return could("brand", slug)
    if field == "concern_vendors":
        return could("vendor", slug) or (could("vendor", None) and could("brand", slug))
    return True            # total, untagged


def _mark(cell: Any, notes: list[str], note_cell: Any | None = None) -> None:
    """Shade a number an override changed, with a comment naming the override(s)."""
    text = cell_text("Changed by override: " + "; ".join(notes))
    cell.fill = OVERRIDE_FILL
    cell.comment = Comment(text, "camscan", width=320, height=120)
    if note_cell is not None:
        _put(note_cell.parent, note_cell.row, note_cell.column, text)


def _num(value: object) -> int:
    """A count from the dict as an int (bool and text refused: a count must be a number)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"survey count is not an integer: {value!r}")
    return value


def render_survey(survey: dict[str, Any]) -> bytes:
    """The survey return (camscan.survey/1 dict) as XLSX: the Return sheet laid out like the commissioner's
    questions per survey category, then By maker, Sites, Devices, Overrides and Provenance sheets.

    Every count is a numeric cell; every number an override changed is shaded amber with a comment naming the
    override(s) and a note in the "Changed by override" column.
    """
    rt = _Return(survey)
    wb = _new_workbook()
    _return_sheet(wb.create_sheet("Return"), rt)
    _by_maker_sheet(wb.create_sheet("By maker"), rt)
    _sites_sheet(wb.create_sheet("Sites"), rt)
    ws = wb.create_sheet("Devices")
    _table(ws, ("site", "ip", "mac", "serial", "maker", "brand", "model", "kind", "survey category", "counted",
                "count", "concerns", "origin", "override reason", "override by"), (
        (d.get("site"), d.get("ip"), d.get("mac"), d.get("serial"), rt.name(d["vendor"]) if d.get("vendor") else "",
         rt.name(d["brand"]) if d.get("brand") else "", d.get("model"), d.get("kind"), d.get("survey") or UNTAGGED,
         "yes" if d.get("counted", d.get("kind") in SURVEILLANCE_CATEGORIES) else "no", _num(d.get("count", 1)),
         rt.list_names(d.get("concerns") or ()), d.get("origin"), (d.get("override") or {}).get("reason"),
         (d.get("override") or {}).get("by"))
        for d in rt.devices))
    _widths(ws)
    ws = wb.create_sheet("Overrides")
    _table(ws, ("kind", "key", "set", "count", "reason", "by", "site"), (
        (o.get("kind"), _pairs(o.get("key")), _pairs(o.get("set")), o.get("count"), o.get("reason"), o.get("by"),
         o.get("site"))
        for o in survey.get("overrides") or ()))
    _widths(ws, hi=80)
    _provenance_sheet(wb.create_sheet("Provenance"), survey)
    return _save(wb, _when(survey.get("generated")))


def _pairs(d: object) -> str:
    if not isinstance(d, Mapping):
        return "" if d is None else str(d)
    return "; ".join(f"{k}={v}" for k, v in d.items())


def _concern_total(cat: Mapping[str, Any]) -> int:
    return sum(_num(n) for n in (cat.get("concern_vendors") or {}).values())


def _return_sheet(ws: Any, rt: _Return) -> None:
    s = rt.s
    _put(ws, 1, 1, "Surveillance camera survey return").font = _TITLE
    _row(ws, 2, ["Organisation", s.get("organisation") or ""])
    _row(ws, 3, ["Generated", s.get("generated") or ""])
    _row(ws, 4, ["Concern lists applied", rt.list_names(rt.lists) or "none chosen"])
    _row(ws, 5, ["Sites", "; ".join(str(x.get("name")) for x in s.get("sites") or ())])
    _row(ws, 6, ["Numbers shaded amber were changed by an override: the comment and the \"Changed by override\" "
                 "column name it; the Overrides and Provenance sheets list every override applied."])
    _header(ws, 8, RETURN_COLUMNS)
    ws.freeze_panes = "A9"
    r = 9

    def line(label: str, value: object, detail: object = "", key: str = "", notes: list[str] | None = None,
             font: Font | None = None) -> None:
        nonlocal r
        cells = _row(ws, r, [label, value, detail, "", key])
        cells[4].font = _GREY
        if font is not None:
            cells[0].font = cells[1].font = font
        if notes:
            _mark(cells[1], notes, cells[3])
        r += 1

    for cat in SURVEY_CATEGORIES:
        c = s["categories"][cat]
        over = set(c.get("overridden") or ())
        base = f"categories.{cat}"

        def notes(key: str, cat: str = cat, over: set[str] = over) -> list[str] | None:
            return rt.notes(cat, key) if key in over else None

        _row(ws, r, [SURVEY_LABELS[cat], "", "", "", base], _BOLD, _CAT_FILL)
        r += 1
        cv: Mapping[str, int] = c.get("concern_vendors") or {}
        flagged = sorted({i for ids in (c.get("concern_lists") or {}).values() for i in ids})
        cv_over = [k for k in sorted(over) if k.startswith("concern_vendors.")]
        cv_notes = [n for k in cv_over for n in rt.notes(cat, k)] or None
        present = _concern_total(c) > 0
        detail = (f"flagged by: {rt.list_names(flagged)}" if present
                  else "no maker on the chosen lists" if rt.lists else "no list of makers of concern was chosen")
        line("Do you use systems from makers of concern?", "Yes" if present else "No", detail,
             f"{base}.concern", cv_notes)
        line("Which makers of concern?", ", ".join(rt.name(v) for v in cv if _num(cv[v]) > 0) or "none", "",
             f"{base}.concern_makers")
        line("How many devices of concern?", _concern_total(c), "", f"{base}.concern_total", cv_notes)
        for v, n in cv.items():
            line(f"    of which {rt.name(v)}", _num(n), rt.list_names((c.get("concern_lists") or {}).get(v, ())),
                 f"{base}.concern_vendors.{v}", notes(f"concern_vendors.{v}"))
        line("Devices by real maker", "", "", "", font=Font(italic=True))
        bv: Mapping[str, int] = c.get("by_vendor") or {}
        for v in sorted(bv, key=lambda k: (-_num(bv[k]), k == "unknown", rt.name(k).lower())):
            lists = (c.get("concern_lists") or {}).get(v)
            line(f"    {rt.name(v)}", _num(bv[v]), f"of concern: {rt.list_names(lists)}" if lists else "",
                 f"{base}.by_vendor.{v}", notes(f"by_vendor.{v}"))
        bb: Mapping[str, int] = c.get("by_brand") or {}
        if bb:
            line("Brand on the box, where it differs from the real maker", "", "", "", font=Font(italic=True))
            for b in sorted(bb, key=lambda k: (-_num(bb[k]), rt.name(k).lower())):
                made = ", ".join(sorted(rt.name(m) for m in rt.brand_makers.get(b, ())))
                line(f"    {rt.name(b)}", _num(bb[b]), f"made by {made}" if made else "", f"{base}.by_brand.{b}",
                     notes(f"by_brand.{b}"))
        line("Video devices of undetermined kind (counted in the total)", _num(c.get("video", 0)), "",
             f"{base}.video", notes("video"))
        line(f"Unidentified hosts in ranges tagged {cat} (not counted in the total)", _num(c.get("unknown", 0)),
             "nothing they answered says what they are", f"{base}.unknown", notes("unknown"))
        line(f"Total: {SURVEY_LABELS[cat]}", _num(c.get("total", 0)), "", f"{base}.total", notes("total"),
             font=_BOLD)
        r += 1

    _row(ws, r, ["Untagged", "", "", "", ""], _BOLD, _CAT_FILL)
    r += 1
    changed = rt.notes(None, "untagged") if s.get("untagged_overridden") else None
    line("Surveillance devices whose survey category neither their kind nor a range tag settles",
         _num(s.get("untagged", 0)), "tag their ranges in the site file, or set them with an override", "untagged",
         changed)
    ubv: Mapping[str, int] = s.get("untagged_by_vendor") or {}
    for v in sorted(ubv, key=lambda k: (-_num(ubv[k]), k == "unknown", rt.name(k).lower())):
        line(f"    {rt.name(v)}", _num(ubv[v]), "", f"untagged_by_vendor.{v}")
    if "unknown_untagged" in s:
        line("Unidentified hosts in untagged ranges (not counted in any total)", _num(s["unknown_untagged"]),
             "nothing they answered says what they are", "unknown_untagged")
    _widths(ws, {1: 70, 2: 14, 3: 50, 4: 50, 5: 34})


def _by_maker_sheet(ws: Any, rt: _Return) -> None:
    s = rt.s
    cats = s["categories"]
    cols = [*SURVEY_CATEGORIES, UNTAGGED]

    def table(row: int, title: str, field: str, first: str) -> int:
        counts: dict[str, dict[str, int]] = {}
        for cat in SURVEY_CATEGORIES:
            for slug, n in (cats[cat].get(field) or {}).items():
                counts.setdefault(slug, {})[cat] = _num(n)
        if field == "by_vendor":
            for slug, n in (s.get("untagged_by_vendor") or {}).items():
                counts.setdefault(slug, {})[UNTAGGED] = _num(n)
        _put(ws, row, 1, title).font = _BOLD
        extra = ["of concern (lists)"] if field == "by_vendor" else ["made by"]
        _header(ws, row + 1, [first, "slug", *(SURVEY_LABELS.get(c, c) for c in cols), "total", *extra])
        r = row + 1
        for slug in sorted(counts, key=lambda k: (-sum(counts[k].values()), k == "unknown", rt.name(k).lower())):
            r += 1
            per = counts[slug]
            if field == "by_vendor":
                ids = sorted({i for cat in SURVEY_CATEGORIES
                              for i in (cats[cat].get("concern_lists") or {}).get(slug, ())})
                tail = rt.list_names(ids)
            else:
                tail = ", ".join(sorted(rt.name(m) for m in rt.brand_makers.get(slug, ())))
            cells = _row(ws, r, [rt.name(slug), slug, *(per.get(c, 0) for c in cols), sum(per.values()), tail])
            for i, cat in enumerate(SURVEY_CATEGORIES):
                if f"{field}.{slug}" in (cats[cat].get("overridden") or ()):
                    _mark(cells[2 + i], rt.notes(cat, f"{field}.{slug}"))
        r += 1
        _row(ws, r, ["Total", "", *(sum(p.get(c, 0) for p in counts.values()) for c in cols),
                     sum(sum(p.values()) for p in counts.values())], _BOLD)
        return r + 2

    r = table(1, "Surveillance devices by real maker and survey category", "by_vendor", "maker")
    table(r, "Devices by the brand on the box, where it differs from the real maker", "by_brand", "brand")
    _widths(ws, {1: 28, 2: 14})


def _sites_sheet(ws: Any, rt: _Return) -> None:
    sites = rt.s.get("sites") or ()
    _put(ws, 1, 1, "Surveillance devices by site and survey category").font = _BOLD
    _header(ws, 2, ["site", "scan id", "scanned", *(SURVEY_LABELS[c] for c in SURVEY_CATEGORIES), "untagged",
                    "total", "devices of concern", "unidentified hosts"])
    r = 2
    for site in sites:
        r += 1
        cats = site["categories"]
        untagged = _num(site.get("untagged", 0))
        totals = [_num(cats[c].get("total", 0)) for c in SURVEY_CATEGORIES]
        cells = _row(ws, r, [site.get("name"), site.get("scan_id"), site.get("scanned"), *totals, untagged,
                             sum(totals) + untagged, sum(_concern_total(cats[c]) for c in SURVEY_CATEGORIES),
                             sum(_num(cats[c].get("unknown", 0)) for c in SURVEY_CATEGORIES)
                             + _num(site.get("unknown_untagged", 0))])
        for i, cat in enumerate(SURVEY_CATEGORIES):
            if "total" in (cats[cat].get("overridden") or ()):
                _mark(cells[3 + i], rt.notes(cat, "total", site.get("name")))
        if site.get("untagged_overridden"):
            _mark(cells[3 + len(SURVEY_CATEGORIES)], rt.notes(None, "untagged", site.get("name")))
    r += 2
    _put(ws, r, 1, "By site, survey category and real maker").font = _BOLD
    _header(ws, r + 1, ["site", "survey category", "maker", "slug", "devices", "of concern (lists)"])
    r += 1
    for site in sites:
        for cat in SURVEY_CATEGORIES:
            c = site["categories"][cat]
            for slug, n in (c.get("by_vendor") or {}).items():
                r += 1
                cells = _row(ws, r, [site.get("name"), cat, rt.name(slug), slug, _num(n),
                                     rt.list_names((c.get("concern_lists") or {}).get(slug, ()))])
                if f"by_vendor.{slug}" in (c.get("overridden") or ()):
                    _mark(cells[4], rt.notes(cat, f"by_vendor.{slug}", site.get("name")))
    ws.freeze_panes = "A3"
    _widths(ws, {1: 28})


def _provenance_sheet(ws: Any, survey: Mapping[str, Any]) -> None:
    p: Mapping[str, Any] = survey.get("provenance") or {}
    _put(ws, 1, 1, "Provenance").font = _TITLE
    _row(ws, 2, ["tool version", p.get("tool_version")])
    _row(ws, 3, ["fingerprints version", p.get("fingerprints_version")])
    _row(ws, 4, ["generated", p.get("generated")])
    r = 6
    _put(ws, r, 1, "Sites and scans").font = _BOLD
    cols = ("name", "scan_id", "started", "finished", "targets", "tool_version", "fingerprints_version", "complete",
            "source")
    _header(ws, r + 1, [c.replace("_", " ") for c in cols])
    r += 1
    for site in p.get("sites") or ():
        r += 1
        _row(ws, r, [", ".join(map(str, site.get(c) or ())) if c == "targets" else site.get(c) for c in cols])
    r += 2
    _put(ws, r, 1, "Concern lists applied").font = _BOLD
    _header(ws, r + 1, ["id", "name", "source", "date"])
    r += 1
    for cl in p.get("concern_lists") or ():
        r += 1
        _row(ws, r, [cl.get("id"), cl.get("name"), cl.get("source"), cl.get("date")])
    r += 2
    _put(ws, r, 1, "Overrides file").font = _BOLD
    ov = p.get("overrides")
    if ov:
        _row(ws, r + 1, ["file", ov.get("file")])
        _row(ws, r + 2, ["sha256", ov.get("sha256")])
        _row(ws, r + 3, ["entries", ov.get("entries")])
    else:
        _row(ws, r + 1, ["none applied"])
    _widths(ws, hi=70)
