"""Self-contained HTML: the per-site inventory report and the survey return, each one file that opens offline.

Nothing in a page asks for anything outside it: no external script, style, font or image, and a
Content-Security-Policy that forbids every fetch (default-src 'none'; the page's one style and one script
are allowed by their sha256). Device strings are untrusted: every one is HTML-escaped (attributes quoted),
and the data the script reads is JSON in a <script type="application/json"> block with <, > and & written as
\\u003c, \\u003e, \\u0026, so no string can end the block. The tables are rendered in HTML (readable with
scripting off, evidence shown); the script only sorts, filters and folds them.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final

from scanner.inventory.records import Device, Inventory
from scanner.match.load import CATEGORIES, SURVEILLANCE_CATEGORIES, Database

__all__ = ["CATEGORY_COLOURS", "SURVEY_CATEGORIES", "database_names", "json_for_script", "render_inventory",
           "render_survey"]

SURVEY_CATEGORIES: Final = ("external", "internal", "anpr", "bodyworn", "drones")
SURVEY_TITLES: Final = {"external": "External camera systems", "internal": "Internal camera systems",
                        "anpr": "ANPR systems", "bodyworn": "Body-worn video", "drones": "Drones"}
# Okabe-Ito: told apart with the common colour-vision deficiencies
CATEGORY_COLOURS: Final = {"camera": "#0072B2", "nvr": "#E69F00", "dvr": "#009E73", "anpr": "#D55E00",
                           "encoder": "#CC79A7", "bodyworn": "#56B4E9", "drone": "#F0E442", "video": "#999999"}
KIND_ORDER: Final = tuple(c for c in CATEGORIES if c in SURVEILLANCE_CATEGORIES)
MAX_VALUE_CHARS: Final = 400     # an evidence value longer than this is cut in the page (the JSON keeps it whole)
MAX_ERRORS: Final = 1000
UNKNOWN_MAKER: Final = "(maker not named)"

_CSS: Final = """
:root{--fg:#1b1b1b;--muted:#555;--line:#ccc;--bg:#fff;--soft:#f3f5f7;--accent:#0b5394;--warn:#8a1c1c}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;padding:1rem 1.5rem 3rem;max-width:1400px}
h1{font-size:1.5rem;margin:.2rem 0 .6rem}h2{font-size:1.2rem;margin:1.8rem 0 .6rem;border-bottom:2px solid var(--line)}
h3{font-size:1rem;margin:1rem 0 .4rem}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0}
.meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}
.status-complete{color:#1d6b2f;font-weight:600}.status-partial{color:var(--warn);font-weight:700}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:.5rem 0;padding:0;list-style:none}
.cards li{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.6rem 1rem;min-width:11rem}
.cards .overridden{display:block;width:max-content}.cards .overridden .big{display:inline}
.cards .big{display:block;font-size:1.9rem;font-weight:700;line-height:1.1}
.cards .lbl{display:block;color:var(--muted)}
.cards li.concern{border-color:var(--warn)}.cards li.concern .big{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}
th,td{border-bottom:1px solid var(--line);padding:.3rem .45rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
thead th{background:var(--soft);position:sticky;top:0;z-index:1}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.by-maker,table.by-brand,table.by-untagged{width:auto;min-width:24rem}
td.nw,th button.sort{white-space:nowrap;overflow-wrap:normal}
th button.sort{font:inherit;font-weight:600;border:0;background:none;padding:0;cursor:pointer;color:var(--accent)}
th[aria-sort=ascending] button.sort::after{content:" \\25B2"}
th[aria-sort=descending] button.sort::after{content:" \\25BC"}
button.expand{font:inherit;font-size:.85rem;cursor:pointer;border:1px solid var(--line);border-radius:4px;
background:#fff;padding:.05rem .4rem}
button.expand[aria-expanded=true]{background:var(--accent);color:#fff}
tr.evidence>td{background:#fafbfc;padding:.5rem 1rem 1rem 2.5rem}
tr.evidence table{width:auto;min-width:60%;font-size:.9rem}
.controls{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;margin:.5rem 0}
.controls input,.controls select{font:inherit;padding:.2rem .4rem}
.tag{display:inline-block;border:1px solid var(--line);border-radius:3px;padding:0 .3rem;margin:0 .2rem .1rem 0;
font-size:.85rem;background:var(--soft)}
.tag.concern{border-color:var(--warn);color:var(--warn)}
.tag.adv-critical,.tag.adv-high{background:#fde8e8;border-color:var(--warn)}
.muted{color:var(--muted)}
.overridden{background:#fff3c4;border-bottom:2px dotted #b8860b;padding:0 .15rem}
.overridden .dagger{color:#8a5a00;font-weight:700}
.note{background:#fff8dc;border-left:4px solid #b8860b;padding:.4rem .8rem;margin:.5rem 0}
.answer{font-weight:700}.answer.yes{color:var(--warn)}.answer.no{color:#1d6b2f}
dl.qa dt{font-weight:600;margin-top:.5rem}dl.qa dd{margin:.1rem 0 .3rem 1rem}
code{font-size:.9em;overflow-wrap:anywhere}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;fill:#1b1b1b}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;margin:.2rem 0 .8rem;padding:0;list-style:none}
.swatch{display:inline-block;width:.9rem;height:.9rem;vertical-align:-.1rem;margin-right:.3rem;border:1px solid #666}
footer{margin-top:2rem;color:var(--muted);font-size:.85rem}
@media print{thead th{position:static}button.expand{display:none}tr.evidence[hidden]{display:table-row!important}}
""" + "".join(f".sw-{c}{{background:{col}}}" for c, col in CATEGORY_COLOURS.items()) + "\n"

# Sorts, filters and folds every table[data-rows]; its rows' sort keys and filter text are the JSON block
# named by data-rows, one entry per <tbody data-i>.
_JS: Final = """
(function () {
  "use strict";
  function byId(id) { return document.getElementById(id); }
  function empty(v) { return v === null || v === undefined || v === ""; }
  function cmp(a, b) {
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return String(a).localeCompare(String(b), "en", {numeric: true, sensitivity: "base"});
  }
  Array.prototype.forEach.call(document.querySelectorAll("table[data-rows]"), function (table) {
    var rows = JSON.parse(byId(table.getAttribute("data-rows")).textContent);
    var bodies = Array.prototype.slice.call(table.tBodies);
    var text = byId(table.id + "-text"), cat = byId(table.id + "-category"), shown = byId(table.id + "-shown");
    function row(tb) { return rows[Number(tb.getAttribute("data-i"))]; }
    function filter() {
      var q = text ? text.value.trim().toLowerCase() : "", c = cat ? cat.value : "", n = 0;
      bodies.forEach(function (tb) {
        var r = row(tb);
        var ok = (q === "" || r.t.indexOf(q) >= 0) &&
          (c === "" || (c === "*surveillance" ? r.s === true : r.c === c));
        tb.hidden = !ok;
        if (ok) { n += 1; }
      });
      if (shown) { shown.textContent = n + " of " + bodies.length + " shown"; shown.setAttribute("data-shown", n); }
    }
    if (text) { text.addEventListener("input", filter); }
    if (cat) { cat.addEventListener("change", filter); }
    Array.prototype.forEach.call(table.tHead.querySelectorAll("button.sort"), function (btn) {
      btn.addEventListener("click", function () {
        var th = btn.parentNode, key = btn.getAttribute("data-key");
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(table.tHead.querySelectorAll("th[aria-sort]"), function (h) {
          h.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        bodies.sort(function (x, y) {
          var a = row(x).k[key], b = row(y).k[key];
          var ea = empty(a), eb = empty(b), r;
          if (ea || eb) { r = ea === eb ? 0 : (ea ? 1 : -1); } else { r = dir * cmp(a, b); }
          return r !== 0 ? r : Number(x.getAttribute("data-i")) - Number(y.getAttribute("data-i"));
        });
        bodies.forEach(function (tb) { table.appendChild(tb); });
      });
    });
    Array.prototype.forEach.call(table.querySelectorAll("button.expand"), function (btn) {
      var panel = byId(btn.getAttribute("aria-controls"));
      panel.hidden = true;
      btn.setAttribute("aria-expanded", "false");
      btn.addEventListener("click", function () {
        var open = btn.getAttribute("aria-expanded") !== "true";
        btn.setAttribute("aria-expanded", open ? "true" : "false");
        panel.hidden = !open;
      });
    });
    filter();
  });
}());
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


CSP: Final = ("default-src 'none'; " f"style-src {_sha256(_CSS)}; script-src {_sha256(_JS)}; img-src data:; "
              "base-uri 'none'; form-action 'none'")


def e(value: object) -> str:
    """HTML text (and quoted-attribute) escape of any value; None is empty."""
    return escape("" if value is None else str(value), quote=True)


def json_for_script(data: object) -> str:
    """JSON that is inert inside a <script> block: <, > and & as \\u escapes (a string cannot close the block)."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def database_names(db: Database) -> tuple[dict[str, str], dict[str, str]]:
    """(concern list id -> name, maker or brand slug -> display name) from the fingerprint database."""
    names = {s: b.name for s, b in db.brands.items()}
    names.update({s: m.name for s, m in db.makers.items()})
    return {c.id: c.name for c in db.concerns}, names


def _page(title: str, body: str, data: Mapping[str, object]) -> str:
    blocks = "".join(f'<script type="application/json" id="{e(k)}">{json_for_script(v)}</script>\n'
                     for k, v in data.items())
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">\n'
            '<meta name="referrer" content="no-referrer">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{e(title)}</title>\n"
            '<link rel="icon" href="data:,">\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n{blocks}<script>{_JS}</script>\n</body>\n</html>\n")


def _ip_sort(ip: str) -> int | str:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    return int(a) + (0 if a.version == 4 else 1 << 32)


class _Names:
    def __init__(self, makers: Mapping[str, str] | None, concerns: Mapping[str, str] | None) -> None:
        self.makers = dict(makers or {})
        self.concerns = dict(concerns or {})

    def maker(self, slug: str | None) -> str:
        if slug is None:
            return UNKNOWN_MAKER
        return self.makers.get(slug) or (UNKNOWN_MAKER if slug == "unknown" else slug)

    def concern(self, list_id: str) -> str:
        return self.concerns.get(list_id, list_id)


def _count(path: str, n: int, overridden: bool = False, *, cls: str = "n") -> str:
    """A number the tests can read (data-count=path); an overridden one is marked with a dagger."""
    inner = f'<span class="{cls}" data-count="{e(path)}">{int(n)}</span>'
    if overridden:
        return (f'<span class="overridden" title="changed by an override">{inner}'
                '<span class="dagger" aria-label="overridden">†</span></span>')
    return inner


def _sortable_head(table_id: str, cols: Sequence[tuple[str | None, str, bool]]) -> str:
    """<thead> of a sortable table: (sort key or None, label, numeric)."""
    cells = []
    for key, label, numeric in cols:
        cls = ' class="num"' if numeric else ""
        if key is None:
            cells.append(f'<th scope="col"{cls}>{e(label)}</th>')
        else:
            cells.append(f'<th scope="col" aria-sort="none"{cls}><button type="button" class="sort" '
                         f'data-key="{e(key)}">{e(label)}</button></th>')
    return f"<thead><tr>{''.join(cells)}</tr></thead>"


def _controls(table_id: str, what: str, options: Iterable[tuple[str, str]], select_label: str) -> str:
    opts = "".join(f'<option value="{e(v)}">{e(label)}</option>' for v, label in options)
    return (f'<div class="controls"><label>Filter {e(what)} <input type="search" id="{table_id}-text" '
            f'autocomplete="off" placeholder="address, maker, model…"></label>'
            f'<label>{e(select_label)} <select id="{table_id}-category">{opts}</select></label>'
            f'<span id="{table_id}-shown" class="muted" aria-live="polite"></span></div>')


# --- the per-site inventory report ----------------------------------------------------------------------

def _headline(inv: Inventory) -> dict[str, int]:
    surv = [d for d in inv.devices if d.category in SURVEILLANCE_CATEGORIES]
    return {
        "surveillance": len(surv),
        "makers": len({d.vendor for d in surv if d.vendor}),
        "concern": sum(1 for d in surv if d.concerns),
        "advisories": sum(1 for d in inv.devices if d.advisories),
        "other": sum(1 for d in inv.devices if d.category == "other"),
        "unknown": sum(1 for d in inv.devices if d.category == "unknown"),
        "devices": len(inv.devices),
        "errors": len(inv.scan.errors),
    }


def _by_maker(inv: Inventory) -> list[tuple[str | None, Counter[str]]]:
    """Surveillance devices by maker slug (None: not named), biggest first."""
    by: dict[str | None, Counter[str]] = {}
    for d in inv.devices:
        if d.category in SURVEILLANCE_CATEGORIES:
            by.setdefault(d.vendor, Counter())[d.category] += 1
    return sorted(by.items(), key=lambda kv: (-sum(kv[1].values()), kv[0] is None, kv[0] or ""))


def _chart(inv: Inventory, names: _Names) -> str:
    rows = _by_maker(inv)
    if not rows:
        return '<p class="muted">No surveillance devices were found, so there is nothing to chart.</p>'
    kinds = [k for k in KIND_ORDER if any(c[k] for _, c in rows)]
    label_w, bar_w, row_h, top = 190, 520, 26, 6
    most = max(sum(c.values()) for _, c in rows)
    height = top + row_h * len(rows) + 24
    width = label_w + bar_w + 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title chart-desc" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" id="chart">',
             '<title id="chart-title">Surveillance devices by maker and category</title>',
             '<desc id="chart-desc">' + e("; ".join(
                 f"{names.maker(m)}: " + ", ".join(f"{c[k]} {k}" for k in kinds if c[k]) for m, c in rows)) + "</desc>"]
    for i, (maker, counts) in enumerate(rows):
        y = top + i * row_h
        total = sum(counts.values())
        label = names.maker(maker)
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(f'<g class="bar" data-maker="{e(maker or "")}" data-total="{total}">'
                     f"<title>{e(label)}: {total} surveillance device{'s' if total != 1 else ''}</title>"
                     f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{e(short)}</text>')
        x = float(label_w)
        for k in kinds:
            n = counts[k]
            if not n:
                continue
            w = bar_w * n / most
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                         f'fill="{CATEGORY_COLOURS[k]}" stroke="#fff" data-category="{k}" data-n="{n}">'
                         f"<title>{e(label)}: {n} {e(k)}</title></rect>")
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 17}">{total}</text></g>')
    parts.append(f'<line x1="{label_w}" y1="{top}" x2="{label_w}" y2="{top + row_h * len(rows)}" stroke="#666"/>')
    parts.append("</svg>")
    legend = "".join(f'<li><span class="swatch sw-{k}"></span>{e(k)}</li>' for k in kinds)
    return "".join(parts) + f'<ul class="legend" aria-label="categories">{legend}</ul>'


def _tags(items: Iterable[str], cls: str = "") -> str:
    c = f"tag {cls}".strip()
    return "".join(f'<span class="{c}">{e(x)}</span>' for x in items)


def _cut(value: str) -> str:
    if len(value) <= MAX_VALUE_CHARS:
        return e(value)
    return e(value[:MAX_VALUE_CHARS]) + f'<span class="muted">… ({len(value) - MAX_VALUE_CHARS} more characters)</span>'


def _evidence_panel(d: Device, names: _Names) -> str:
    out = []
    maker = names.maker(d.vendor) if d.vendor else None
    if d.vendor and d.brand and d.brand != d.vendor:
        brand_rules = sorted({x.rule_id for x in d.evidence if x.brand == d.brand})
        out.append(f'<p class="oem">Sold under the brand <strong>{e(names.maker(d.brand))}</strong>; '
                   f'made by <strong>{e(maker)}</strong> (the OEM link: the brand is {e(maker)}-made kit'
                   + (f"; brand named by {', '.join(f'<code>{e(r)}</code>' for r in brand_rules)}" if brand_rules
                      else "") + ").</p>")
    elif maker:
        out.append(f"<p>Made by <strong>{e(maker)}</strong>, confidence {d.confidence:.2f}.</p>")
    else:
        out.append("<p>No maker named: the evidence does not support one.</p>")
    if d.via is not None:
        how = (f"also answered the scan itself (matched by {d.via.matched_by})" if d.via.matched_by else
               "seen only through the recorder: its address is as the recorder reports it and was never contacted")
        out.append(f'<p class="via">Behind recorder <strong>{e(d.via.recorder)}</strong>, channel '
                   f"<strong>{e(d.via.channel)}</strong> ({e(d.via.source or 'recorder')} list); {e(how)}.</p>")
    if d.behind is not None:
        listed = (f"{d.behind.listed} listed by the recorder" if d.behind.listed is not None
                  else "not read (no credentials for it)")
        stated = f"; it states {d.behind.stated} channels" if d.behind.stated is not None else ""
        out.append(f'<p class="behind">Cameras behind it: {e(listed)}{e(stated)}.</p>')
    facts = [("addresses", ", ".join(d.ips or (d.ip,))), ("MAC", d.mac), ("serial", d.serial),
             ("host names", ", ".join(d.hostnames)), ("open ports", ", ".join(map(str, d.open_ports))),
             ("found by", ", ".join(d.discovered_by))]
    out.append('<dl class="meta">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts if v) + "</dl>")
    if d.evidence:
        rows = []
        for x in d.evidence:
            concl = [f"maker {names.maker(x.vendor)}" if x.vendor else "",
                     f"brand {names.maker(x.brand)}" if x.brand and x.brand != x.vendor else "",
                     f"category {x.category}" if x.category else "",
                     ", ".join(f"{k} {v}" for k, v in x.fields)]
            rows.append(f"<tr><td><code>{e(x.rule_id)}</code></td><td><code>{e(x.signal)}</code>"
                        + (f" <span class=\"muted\">{e(x.field)}</span>" if x.field else "")
                        + f"</td><td><code>{_cut(x.value)}</code></td><td>{e('; '.join(c for c in concl if c))}</td>"
                        f'<td class="num">{x.confidence:.2f}</td></tr>')
        out.append("<h3>Evidence</h3><table class=\"ev\"><thead><tr><th>rule</th><th>signal</th><th>value</th>"
                   '<th>conclusion</th><th class="num">confidence</th></tr></thead><tbody>'
                   + "".join(rows) + "</tbody></table>")
    else:
        out.append('<p class="muted">No rule fired: the host answered but said nothing that names it.</p>')
    if d.concerns:
        out.append("<h3>Concerns</h3><ul>" + "".join(
            f"<li>{e(maker or '')} is named on <strong>{e(names.concern(c))}</strong> <code>{e(c)}</code></li>"
            for c in d.concerns) + "</ul>")
    if d.advisories:
        out.append("<h3>Advisories</h3><ul>" + "".join(
            f"<li><strong>{e(a.id)}</strong> ({e(a.severity)}, {e(a.status)}): {e(a.title)} "
            f'<span class="muted">source: {e(a.source)}</span></li>' for a in d.advisories) + "</ul>")
    if d.conflicts:
        out.append("<h3>Conflicting evidence</h3><ul>" + "".join(
            f"<li>{e(names.maker(c.vendor))} (confidence {c.confidence:.2f}) by "
            + ", ".join(f"<code>{e(r)}</code>" for r in c.rules) + "; no OEM link explains it</li>"
            for c in d.conflicts) + "</ul>")
    if d.channels:
        out.append("<h3>Channels the recorder reports</h3><ul>" + "".join(
            f"<li>{e(c.token)}: {e(c.ip)} {e(c.maker)} {e(c.model)} {e(c.serial)} {e(c.firmware)}</li>"
            for c in d.channels)
            + "</ul>")
    return "".join(out)


_DEVICE_COLS: Final = (
    (None, "", False), ("ip", "Address", False), ("maker", "Maker", False), ("brand", "Brand", False),
    ("model", "Model", False), ("firmware", "Firmware", False), ("category", "Category", False),
    ("survey", "Survey", False), ("confidence", "Confidence", True), ("concerns", "Concerns", False),
    ("advisories", "Advisories", False))


def _device_table(inv: Inventory, names: _Names) -> tuple[str, list[dict[str, Any]]]:
    bodies, rows = [], []
    for i, d in enumerate(inv.devices):
        maker = names.maker(d.vendor) if d.vendor else ""
        brand = names.maker(d.brand) if d.brand else ""
        surv = d.category in SURVEILLANCE_CATEGORIES
        concern_names = [names.concern(c) for c in d.concerns]
        rows.append({
            "k": {"ip": _ip_sort(d.ip), "maker": maker, "brand": brand, "model": d.model or "",
                  "firmware": d.firmware or "", "category": d.category, "survey": d.survey or "",
                  "confidence": d.confidence, "concerns": len(d.concerns), "advisories": len(d.advisories)},
            "t": " ".join(x for x in (d.ip, *d.ips, d.mac or "", maker, brand, d.vendor or "", d.brand or "",
                                      d.model or "", d.firmware or "", d.serial or "", d.category, d.survey or "",
                                      *d.hostnames, *concern_names, *(a.id for a in d.advisories)) if x).lower(),
            "c": d.category, "s": surv})
        concern_tags = "".join(f'<span class="tag concern" title="{e(names.concern(c))}">{e(c)}</span>'
                               for c in d.concerns)
        advisories = "".join(f'<span class="tag adv-{e(a.severity)}">{e(a.id)}</span>' for a in d.advisories)
        brand_cell = e(brand) + (' <span class="muted">(OEM)</span>' if d.brand and d.vendor and d.brand != d.vendor
                                 else "")
        cells = (f'<td class="nw"><button type="button" class="expand" aria-expanded="true" aria-controls="ev-{i}" '
                 f'aria-label="evidence for {e(d.ip)}">evidence</button></td>'
                 f'<td class="ip nw">{e(d.ip)}</td><td class="maker">{e(maker) or "<span class=muted>?</span>"}</td>'
                 f'<td>{brand_cell}</td><td>{e(d.model)}</td><td>{e(d.firmware)}</td>'
                 f'<td class="cat nw">{e(d.category)}</td><td class="nw">{e(d.survey)}</td>'
                 f'<td class="num">{d.confidence:.2f}</td><td>{concern_tags}</td>'
                 f"<td>{advisories}</td>")
        bodies.append(f'<tbody class="device{" surveillance" if surv else ""}" data-i="{i}" data-ip="{e(d.ip)}">'
                      f'<tr class="row">{cells}</tr><tr class="evidence" id="ev-{i}"><td colspan="{len(_DEVICE_COLS)}">'
                      f"{_evidence_panel(d, names)}</td></tr></tbody>")
    present = [c for c in CATEGORIES if any(d.category == c for d in inv.devices)]
    options = [("", "all devices"), ("*surveillance", "surveillance devices")] + [(c, c) for c in present]
    html = (_controls("devices", "devices", options, "Category")
            + '<table id="devices" class="devices" data-rows="devices-rows">'
            + _sortable_head("devices", _DEVICE_COLS) + "".join(bodies) + "</table>")
    return html, rows


def render_inventory(inv: Inventory, *, concern_names: dict[str, str] | None = None,
                     maker_names: dict[str, str] | None = None) -> str:
    """The per-site report as one self-contained HTML page (no request leaves it; every device string escaped).

    concern_names maps concern list ids to their names and maker_names maker and brand slugs to display names
    (see database_names); a slug without a name is shown as the slug.
    """
    names = _Names(maker_names, concern_names)
    scan, site = inv.scan, inv.site
    counts = _headline(inv)
    title = f"camscan inventory: {site.name or 'ad-hoc scan'}"
    status = ('<span class="status-complete" data-complete="true">complete</span>' if scan.complete else
              '<span class="status-partial" data-complete="false">stopped part-way: this lists what it had '
              "found by then</span>")
    meta = [("Site", e(site.name or "ad-hoc scan")), ("Organisation", e(site.organisation or "")),
            ("Targets", e(", ".join(scan.targets))), ("Excluded", e(", ".join(scan.excluded))),
            ("Started", e(scan.started)), ("Finished", e(scan.finished)), ("Scan", status),
            ("Modules", e(", ".join(scan.modules))),
            ("Privileged", "yes" if scan.privileged else "no"),
            ("Versions", f"camscan {e(scan.tool_version)}, fingerprints {e(scan.fingerprints_version)}")]
    if site.ranges:
        meta.append(("Survey tags", e(", ".join(
            f"{r.cidr}{f' (VLAN {r.vlan})' if r.vlan is not None else ''}: {r.survey or 'untagged'}"
            for r in site.ranges))))
    header = ("<header><h1>" + e(title) + "</h1><dl class=\"meta\" id=\"scan-meta\">"
              + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta if v) + "</dl>"
              + ("" if scan.complete else '<p class="note" role="alert">This scan was <strong>stopped part-way'
                 "</strong>; the counts below are what it had found by then, not the whole site.</p>")
              + "</header>")
    cards = [("surveillance", "surveillance devices", ""), ("makers", "makers (named)", ""),
             ("concern", "surveillance devices from makers of concern", "concern"),
             ("advisories", "devices with published advisories", "concern" if counts["advisories"] else ""),
             ("other", "other hosts (not surveillance)", ""), ("unknown", "unidentified hosts", "")]
    summary = ('<section id="summary" aria-labelledby="h-summary"><h2 id="h-summary">Summary</h2><ul class="cards">'
               + "".join(f'<li class="{cls}">{_count(k, counts[k], cls="n big")}'
                         f'<span class="lbl">{e(label)}</span></li>' for k, label, cls in cards)
               + f'</ul><p class="muted">{_count("devices", counts["devices"])} hosts in all.</p></section>')
    chart = ('<section id="by-maker" aria-labelledby="h-chart"><h2 id="h-chart">Surveillance devices by maker and '
             "category</h2>" + _chart(inv, names) + "</section>")
    table, rows = _device_table(inv, names)
    devices = ('<section id="device-list" aria-labelledby="h-devices"><h2 id="h-devices">Devices</h2>'
               '<p class="muted">Click a column heading to sort; "evidence" shows why camscan names the device.</p>'
               + table + "</section>")
    used = sorted({c for d in inv.devices for c in d.concerns}, key=names.concern)
    if used:
        items = "".join(f'<li><strong>{e(names.concern(c))}</strong> <code>{e(c)}</code>: '
                        f'{_count("concern-list." + c, sum(1 for d in inv.devices if c in d.concerns))} '
                        "device(s) flagged</li>" for c in used)
        legend = f"<ul>{items}</ul>"
    else:
        legend = '<p class="muted">No device here is from a maker on a concern list.</p>'
    concerns = ('<section id="concern-lists" aria-labelledby="h-concerns"><h2 id="h-concerns">Concern lists</h2>'
                '<p class="muted">Whether a maker is "of concern" is a policy choice; each list is named with its '
                "id.</p>" + legend + "</section>")
    if scan.errors:
        shown = scan.errors[:MAX_ERRORS]
        more = (f'<p class="muted">{len(scan.errors) - len(shown)} more errors are in inventory.json.</p>'
                if len(scan.errors) > len(shown) else "")
        errs = ("<table><thead><tr><th>module</th><th>address</th><th>error</th></tr></thead><tbody>"
                + "".join(f"<tr><td>{e(x.module)}</td><td>{e(x.ip)}</td><td>{_cut(x.error)}</td></tr>" for x in shown)
                + "</tbody></table>" + more)
    else:
        errs = '<p class="muted">No errors.</p>'
    errors = (f'<section id="errors" aria-labelledby="h-errors"><h2 id="h-errors">Errors '
              f'({_count("errors", counts["errors"])})</h2>{errs}</section>')
    body = (header + "<main>" + summary + chart + devices + concerns + errors + "</main>"
            f"<footer>camscan {e(scan.tool_version)}; one self-contained file, it makes no network request.</footer>")
    return _page(title, body, {"devices-rows": rows})


# --- the survey return ----------------------------------------------------------------------------------

def _get(d: Mapping[str, Any], key: str, default: Any) -> Any:
    v = d.get(key, default)
    return default if v is None else v


def _total(c: Mapping[str, Any] | None, path: str, cls: str = "n") -> str:
    """A category's total as a readable count, marked when an override changed it."""
    c = c or {}
    return _count(path, int(_get(c, "total", 0)), "total" in _get(c, "overridden", []), cls=cls)


def _vendor_table(cat: str, prefix: str, counts: Mapping[str, int], names: _Names, overridden: set[str], what: str,
                  lists: Mapping[str, Sequence[str]] | None = None, list_names: Mapping[str, str] | None = None) -> str:
    if not counts:
        return f'<p class="muted">No devices counted by {e(what)}.</p>'
    rows = sorted(counts.items(), key=lambda kv: (-int(kv[1]), kv[0] == "unknown", names.maker(kv[0])))
    out = [f'<table class="by-{e(what)}"><thead><tr><th>{e(what)}</th><th class="num">devices</th>'
           + ("<th>on concern lists</th>" if lists is not None else "") + "</tr></thead><tbody>"]
    for slug, n in rows:
        key = f"{prefix}.{slug}"
        flagged = list((lists or {}).get(slug, ()))
        out.append(f'<tr data-slug="{e(slug)}"><td class="nw">{e(names.maker(slug))}</td>'
                   f'<td class="num">{_count(f"categories.{cat}.{key}", int(n), key in overridden)}</td>'
                   + (f"<td>{_tags([(list_names or {}).get(x, x) for x in flagged], 'concern')}</td>"
                      if lists is not None else "") + "</tr>")
    return "".join(out) + "</tbody></table>"


def _category_section(cat: str, c: Mapping[str, Any], names: _Names, list_names: Mapping[str, str],
                      devices: Sequence[Mapping[str, Any]]) -> str:
    overridden = set(_get(c, "overridden", []))
    by_vendor = dict(_get(c, "by_vendor", {}))
    by_brand = dict(_get(c, "by_brand", {}))
    concern = {k: int(v) for k, v in dict(_get(c, "concern_vendors", {})).items() if int(v) > 0}
    concern_lists = dict(_get(c, "concern_lists", {}))
    total, video, unknown = int(_get(c, "total", 0)), int(_get(c, "video", 0)), int(_get(c, "unknown", 0))
    p = f"categories.{cat}"
    unnamed = int(by_vendor.get("unknown", 0))
    if concern:
        which = ", ".join(f"{e(names.maker(s))} "
                          f"({_count(f'{p}.concern_vendors.{s}', n, f'concern_vendors.{s}' in overridden)})"
                          for s, n in sorted(concern.items(), key=lambda kv: (-kv[1], kv[0])))
        answer = f'<span class="answer yes" data-answer="yes">Yes</span>: {which}.'
    elif total:
        answer = ('<span class="answer no" data-answer="no">No</span>: no maker on the chosen lists among the '
                  "counted devices")
        answer += (f", though {unnamed} device(s) have no maker named." if unnamed else ".")
    else:
        answer = '<span class="answer no" data-answer="none">No</span>: no surveillance device counted here.'
    how_many = (f"{_count(p + '.total', total, 'total' in overridden)} surveillance device(s); of them "
                f"{_count(p + '.video', video, 'video' in overridden)} of undetermined kind (video). "
                f"Also {_count(p + '.unknown', unknown)} unidentified host(s) in ranges tagged {e(cat)} "
                "(not counted in the total: nothing says they are surveillance devices).")
    out = [f'<section class="category" id="cat-{e(cat)}" data-category="{e(cat)}" aria-labelledby="h-cat-{e(cat)}">'
           f'<h2 id="h-cat-{e(cat)}">{e(SURVEY_TITLES.get(cat, cat))}</h2><dl class="qa">'
           f"<dt>Do you use systems from makers of concern?</dt><dd>{answer}</dd>"
           f"<dt>How many?</dt><dd>{how_many}</dd>"
           "<dt>Which makers? (by real maker)</dt><dd>"
           + _vendor_table(cat, "by_vendor", by_vendor, names, overridden, "maker", concern_lists, list_names)
           + "</dd>"]
    if by_brand:
        out.append("<dt>Sold under another brand</dt><dd>"
                   + _vendor_table(cat, "by_brand", by_brand, names, overridden, "brand") + "</dd>")
    out.append("</dl>")
    if overridden:
        why = sorted({(str(_get(d.get("override") or {}, "reason", "")), str(_get(d.get("override") or {}, "by", "")))
                      for d in devices if d.get("survey") == cat and d.get("origin") in ("override", "added")})
        out.append('<div class="note override-note"><p><span class="dagger">†</span> Changed by an override: '
                   + ", ".join(f"<code>{e(x)}</code>" for x in sorted(overridden)) + ".</p>"
                   + ("<ul>" + "".join(f"<li>{e(r)} <span class=\"muted\">by {e(b)}</span></li>" for r, b in why)
                      + "</ul>" if why else "")
                   + '<p class="muted">Every override, with its reason and who made it, is listed under '
                   "Provenance.</p></div>")
    out.append("</section>")
    return "".join(out)


def _survey_devices(devices: Sequence[Mapping[str, Any]], names: _Names, list_names: Mapping[str, str]
                    ) -> tuple[str, list[dict[str, Any]]]:
    cols = ((None, "", False), ("site", "Site", False), ("ip", "Address", False), ("mac", "MAC", False),
            ("serial", "Serial", False), ("maker", "Maker", False), ("brand", "Brand", False),
            ("model", "Model", False), ("kind", "Kind", False), ("survey", "Survey", False),
            ("concerns", "Concerns", False), ("origin", "Origin", False))
    bodies, rows = [], []
    for i, d in enumerate(devices):
        s = {k: ("" if d.get(k) is None else str(d.get(k))) for k in
             ("site", "ip", "mac", "serial", "vendor", "brand", "model", "kind", "survey", "origin")}
        maker = names.maker(s["vendor"]) if s["vendor"] else ""
        brand = names.maker(s["brand"]) if s["brand"] else ""
        via = d.get("via")
        behind = (f'<br><span class="muted via">behind {e(_get(via, "recorder", ""))} channel '
                  f'{e(_get(via, "channel", ""))}</span>' if isinstance(via, Mapping) else "")
        concerns = [str(x) for x in d.get("concerns") or ()]
        concern_tags = "".join(f'<span class="tag concern" title="{e(list_names.get(c, c))}">{e(c)}</span>'
                               for c in concerns)
        not_counted = ' <span class="muted">(not counted)</span>' if d.get("counted") is False else ""
        ov = d.get("override") or None
        origin = e(s["origin"] or "scan")
        n = d.get("count")
        if isinstance(n, int) and n != 1:
            origin += f' <span class="count">×{n}</span>'
        if s["origin"] in ("override", "added"):
            origin = (f'<span class="overridden" title="{e(_get(ov or {}, "reason", ""))}">{origin}'
                      '<span class="dagger">†</span></span>')
            if ov:
                origin += (f'<br><span class="muted">{e(_get(ov, "reason", ""))} (by {e(_get(ov, "by", ""))})</span>')
        rows.append({"k": {"site": s["site"], "ip": _ip_sort(s["ip"]) if s["ip"] else "", "mac": s["mac"],
                           "serial": s["serial"], "maker": maker, "brand": brand, "model": s["model"],
                           "kind": s["kind"], "survey": s["survey"], "concerns": len(concerns),
                           "origin": s["origin"]},
                     "t": " ".join(x for x in (*s.values(), maker, brand, *concerns) if x).lower(),
                     "c": s["survey"] or "(untagged)", "s": True})
        bodies.append(f'<tbody class="device" data-i="{i}" data-ip="{e(s["ip"])}"><tr class="row"><td></td>'
                      f'<td class="nw">{e(s["site"])}</td><td class="ip nw">{e(s["ip"])}{behind}</td>'
                      f'<td>{e(s["mac"])}</td>'
                      f'<td>{e(s["serial"])}</td><td class="maker">{e(maker)}</td><td>{e(brand)}</td>'
                      f'<td>{e(s["model"])}</td><td class="nw">{e(s["kind"])}{not_counted}</td>'
                      f'<td class="cat nw">{e(s["survey"] or "untagged")}</td>'
                      f'<td>{concern_tags}</td><td>{origin}</td></tr></tbody>')
    present = [c for c in SURVEY_CATEGORIES if any(d.get("survey") == c for d in devices)]
    options = [("", "all")] + [(c, c) for c in present]
    if any(not d.get("survey") for d in devices):
        options.append(("(untagged)", "untagged"))
    html = (_controls("survey-devices", "devices", options, "Survey category")
            + '<table id="survey-devices" class="devices" data-rows="survey-devices-rows">'
            + _sortable_head("survey-devices", cols) + "".join(bodies) + "</table>")
    return html, rows


def _kv(d: Any) -> str:
    """key: value, … of an override's key or set (escaped); empty for none."""
    if not isinstance(d, Mapping):
        return ""
    return e(", ".join(f"{k}: {'none' if v is None else v}" for k, v in d.items()))


def render_survey(survey: dict[str, Any]) -> str:
    """The survey return (contract camscan.survey/1) as one self-contained HTML page; overridden numbers marked †."""
    names = _Names(survey.get("makers") or {}, None)
    chosen = list(survey.get("concern_lists") or [])
    list_names = {str(c.get("id")): str(c.get("name") or c.get("id")) for c in chosen}
    names.concerns = dict(list_names)
    cats: Mapping[str, Any] = survey.get("categories") or {}
    devices: list[Mapping[str, Any]] = list(survey.get("devices") or [])
    prov: Mapping[str, Any] = survey.get("provenance") or {}
    org = str(survey.get("organisation") or "")
    title = f"camscan survey return{': ' + org if org else ''}"
    lists_html = ("<ul>" + "".join(
        f"<li><strong>{e(c.get('name'))}</strong> <code>{e(c.get('id'))}</code>, {e(c.get('date'))}"
        f'<br><span class="muted">source: {e(c.get("source"))}</span></li>' for c in chosen) + "</ul>"
                  if chosen else '<p class="muted">No concern list was chosen.</p>')
    header = (f"<header><h1>{e(title)}</h1><dl class=\"meta\"><dt>Organisation</dt><dd>{e(org or '(not given)')}</dd>"
              f"<dt>Generated</dt><dd>{e(survey.get('generated'))}</dd>"
              f"<dt>Sites</dt><dd>{e(', '.join(str(s.get('name')) for s in survey.get('sites') or []))}</dd>"
              f"<dt>Versions</dt><dd>camscan {e(prov.get('tool_version'))}, fingerprints "
              f"{e(prov.get('fingerprints_version'))}</dd></dl>"
              f'<h2 id="h-lists">Concern lists applied</h2>{lists_html}</header>')
    totals = "".join(
        f'<li>{_total(cats.get(c), f"categories.{c}.total", "n big")}'
        f'<a class="lbl" href="#cat-{c}">{e(SURVEY_TITLES[c])}</a></li>' for c in SURVEY_CATEGORIES if c in cats)
    summary = (f'<section id="summary"><h2>Surveillance devices by survey category</h2><ul class="cards">{totals}'
               f'<li>{_count("untagged", int(survey.get("untagged") or 0), cls="n big")}'
               '<span class="lbl">untagged</span></li></ul>'
               "</section>")
    sections = "".join(_category_section(c, cats[c], names, list_names, devices) for c in SURVEY_CATEGORIES
                       if c in cats)
    untagged_by = dict(survey.get("untagged_by_vendor") or {})
    untagged = ('<section id="untagged"><h2>Untagged</h2><p>'
                f'{_count("untagged", int(survey.get("untagged") or 0))} surveillance device(s) whose survey category '
                "neither their kind nor a range tag settles: tag their range in the site file or correct them with an "
                "override. They are counted here and nowhere else.</p>"
                + ('<table class="by-untagged"><thead><tr><th>maker</th><th class="num">devices</th></tr></thead>'
                   "<tbody>"
                   + "".join(
                    f'<tr data-slug="{e(s)}"><td>{e(names.maker(s))}</td><td class="num">'
                    f'{_count(f"untagged_by_vendor.{s}", int(n))}</td></tr>'
                    for s, n in sorted(untagged_by.items(), key=lambda kv: (-int(kv[1]), kv[0])))
                   + "</tbody></table>" if untagged_by else "") + "</section>")
    site_rows = []
    for i, s in enumerate(survey.get("sites") or []):
        sc = s.get("categories") or {}
        cells = "".join(
            f'<td class="num">{_total(sc.get(c), f"sites.{i}.categories.{c}.total")}</td>'
            for c in SURVEY_CATEGORIES)
        site_rows.append(f"<tr><td>{e(s.get('name'))}</td><td><code>{e(s.get('scan_id'))}</code></td>"
                         f"<td>{e(s.get('scanned'))}</td>{cells}"
                         f'<td class="num">{_count(f"sites.{i}.untagged", int(s.get("untagged") or 0))}</td></tr>')
    per_site = ('<section id="sites"><h2>Per site</h2><table><thead><tr><th>site</th><th>scan</th><th>scanned</th>'
                + "".join(f'<th class="num">{e(c)}</th>' for c in SURVEY_CATEGORIES)
                + '<th class="num">untagged</th></tr></thead><tbody>' + "".join(site_rows)
                + "</tbody></table></section>")
    table, rows = _survey_devices(devices, names, list_names)
    dev = ('<section id="device-list"><h2>Devices counted</h2><p class="muted">Click a column heading to sort. '
           "Devices an override changed or added are marked †.</p>" + table + "</section>")
    psites = "".join(
        f"<tr><td>{e(s.get('name'))}</td><td><code>{e(s.get('scan_id'))}</code></td><td>{e(s.get('started'))}</td>"
        f"<td>{e(s.get('finished'))}</td><td>{e(', '.join(map(str, s.get('targets') or [])))}</td>"
        f"<td>{e(s.get('tool_version'))}</td><td>{e(s.get('fingerprints_version'))}</td>"
        f"<td>{'complete' if s.get('complete') else '<strong class=status-partial>stopped part-way</strong>'}</td>"
        f"<td>{e(s.get('source'))}</td></tr>" for s in prov.get("sites") or [])
    pl = "".join(f"<tr><td><code>{e(c.get('id'))}</code></td><td>{e(c.get('name'))}</td><td>{e(c.get('date'))}</td>"
                 f"<td>{e(c.get('source'))}</td></tr>" for c in prov.get("concern_lists") or [])
    of = prov.get("overrides")
    ofile = (f"<p>Overrides file <code>{e(of.get('file'))}</code>, sha256 <code>{e(of.get('sha256'))}</code>, "
             f"{e(of.get('entries'))} entries.</p>" if of else '<p class="muted">No overrides file.</p>')
    ov_rows = "".join(
        f"<tr><td>{e(o.get('kind'))}</td><td><code>{_kv(o.get('key'))}</code></td>"
        f"<td><code>{_kv(o.get('set'))}</code></td><td class=\"num\">{e(o.get('count'))}</td>"
        f"<td>{e(o.get('site'))}</td><td>{e(o.get('reason'))}</td><td>{e(o.get('by'))}</td></tr>"
        for o in survey.get("overrides") or [])
    ov_table = ("<table id=\"overrides\"><thead><tr><th>kind</th><th>key</th><th>set</th><th class=\"num\">count</th>"
                "<th>site</th><th>reason</th><th>by</th></tr></thead><tbody>" + ov_rows + "</tbody></table>"
                if ov_rows else "")
    provenance = ('<section id="provenance"><h2>Provenance</h2>'
                  f"<p>Generated {e(prov.get('generated'))} by camscan {e(prov.get('tool_version'))}, fingerprints "
                  f"{e(prov.get('fingerprints_version'))}.</p><h3>Scans</h3><table><thead><tr><th>site</th>"
                  "<th>scan</th><th>started</th><th>finished</th><th>targets</th><th>camscan</th><th>fingerprints</th>"
                  f"<th>status</th><th>source</th></tr></thead><tbody>{psites}</tbody></table>"
                  "<h3>Concern lists</h3><table><thead><tr><th>id</th><th>name</th><th>date</th><th>source</th></tr>"
                  f"</thead><tbody>{pl}</tbody></table><h3>Overrides</h3>{ofile}{ov_table}</section>")
    body = (header + "<main>" + summary + sections + untagged + per_site + dev + provenance + "</main>"
            "<footer>camscan survey return (camscan.survey/1); one self-contained file, it makes no network request."
            "</footer>")
    return _page(title, body, {"survey-devices-rows": rows})
