"""The HTML report and survey return without a browser: device strings stay text, the file asks for nothing
outside itself, and the numbers it shows are the inventory's and the survey's."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest

from scanner.inventory.records import Inventory
from scanner.match.load import SURVEILLANCE_CATEGORIES, load_database
from scanner.report.html import database_names, json_for_script, render_inventory, render_survey
from tests.report.survey_sample import HOSTILE, HOSTILE_CLOSE, sample_inventory, sample_survey

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    """A parsed element: tag, attributes, children (Nodes and text strings)."""

    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> list[Node]:
        out = [self]
        for c in self.children:
            if isinstance(c, Node):
                out += c.iter()
        return out

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Tree(HTMLParser):
    """A small DOM from html.parser (entities decoded, as a browser would show them)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.cur = self.root
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), parent=self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.children.append(Node(tag, dict(attrs), parent=self.cur))

    def handle_endtag(self, tag: str) -> None:
        n: Node | None = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        assert n is not None and n.parent is not None, f"stray </{tag}>"
        self.cur = n.parent

    def handle_data(self, data: str) -> None:
        self.cur.children.append(data)


def parse(text: str) -> list[Node]:
    return Tree(text).root.iter()


def counts(nodes: list[Node]) -> dict[str, int]:
    """data-count path -> the number shown (a path may repeat; it must then show the same number)."""
    out: dict[str, int] = {}
    for n in nodes:
        path = n.attrs.get("data-count")
        if path is not None:
            v = int(n.text())
            assert out.setdefault(path, v) == v, path
    return out


@pytest.fixture(scope="module")
def names() -> tuple[dict[str, str], dict[str, str]]:
    return database_names(load_database())


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return sample_inventory()


@pytest.fixture(scope="module")
def page(inv: Inventory, names: tuple[dict[str, str], dict[str, str]]) -> str:
    return render_inventory(inv, concern_names=names[0], maker_names=names[1])


@pytest.fixture(scope="module")
def survey_page() -> str:
    return render_survey(sample_survey())


# --- device strings stay text ----------------------------------------------------------------------

@pytest.mark.parametrize("which", ["inventory", "survey"])
def test_hostile_device_strings_are_text_never_markup(which: str, page: str, survey_page: str) -> None:
    nodes = parse(page if which == "inventory" else survey_page)
    tags = Counter(n.tag for n in nodes)
    assert tags["img"] == 0 and tags["script"] == 2      # the data block and the page's own script, nothing more
    assert [n.attrs.get("type") for n in nodes if n.tag == "script"] == ["application/json", None]
    handlers = [(n.tag, a) for n in nodes for a in n.attrs if a.startswith("on")]
    assert handlers == []
    texts = [n.text() for n in nodes if n.tag in ("td", "code", "li", "span")]
    for s in HOSTILE:
        if which == "survey" and s == HOSTILE[3]:
            continue     # the survey sample has no device with the attribute payload
        assert any(s in t for t in texts), s   # shown as the very characters the device sent


def test_the_data_block_cannot_be_closed_by_a_device_string(page: str) -> None:
    block = re.search(r'<script type="application/json" id="devices-rows">(.*?)</script>', page, re.S)
    assert block is not None
    raw = block.group(1)
    assert "<" not in raw and ">" not in raw and "&" not in raw
    rows = json.loads(raw)
    assert any(HOSTILE_CLOSE.lower() in r["t"] for r in rows)   # the string is there, inert
    assert json.loads(json_for_script({"x": "</script><!--&"})) == {"x": "</script><!--&"}


def test_a_formula_value_is_shown_as_it_is(page: str) -> None:
    # HTML is not a spreadsheet: the report shows the text exactly (neutralising is the CSV's job)
    assert '=HYPERLINK(&quot;http://evil.example/&quot;,&quot;x&quot;)&amp;&quot;&lt;b&gt;&quot;' in page


# --- nothing outside the file ----------------------------------------------------------------------

@pytest.mark.parametrize("which", ["inventory", "survey"])
def test_the_page_refers_to_nothing_outside_itself(which: str, page: str, survey_page: str) -> None:
    text = page if which == "inventory" else survey_page
    nodes = parse(text)
    for n in nodes:
        for a in ("src", "href", "action", "data", "poster", "xlink:href", "srcset"):
            v = n.attrs.get(a)
            if v is not None:
                assert v.startswith(("#", "data:")), (n.tag, a, v)
    assert "@import" not in text
    assert re.findall(r"url\((?!data:)", text) == []
    assert not any(n.tag in ("iframe", "object", "embed", "base", "form") for n in nodes)


@pytest.mark.parametrize("which", ["inventory", "survey"])
def test_the_csp_forbids_fetches_and_allows_exactly_the_pages_style_and_script(which: str, page: str,
                                                                              survey_page: str) -> None:
    text = page if which == "inventory" else survey_page
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text)
    assert csp is not None
    policy = dict([*d.strip().split(" ", 1), ""][:2] for d in csp.group(1).replace("&#x27;", "'").split(";"))
    assert policy["default-src"] == "'none'" and policy["img-src"] == "data:"

    def sha(s: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"

    script = re.search(r"<script>(.*?)</script>", text, re.S)
    style = re.search(r"<style>(.*?)</style>", text, re.S)
    assert script and style
    assert policy["script-src"] == sha(script.group(1))   # else the browser would refuse the page's own script
    assert policy["style-src"] == sha(style.group(1))
    assert "unsafe" not in csp.group(1)


# --- the numbers shown are the inventory's ---------------------------------------------------------

def test_headline_counts_are_the_inventorys(inv: Inventory, page: str) -> None:
    surv = [d for d in inv.devices if d.category in SURVEILLANCE_CATEGORIES]
    shown = counts(parse(page))
    assert shown["surveillance"] == len(surv) == 6
    assert shown["makers"] == len({d.vendor for d in surv if d.vendor}) == 2
    assert shown["concern"] == sum(1 for d in surv if d.concerns) == 5
    assert shown["advisories"] == sum(1 for d in inv.devices if d.advisories) == 1
    assert shown["other"] == 1 and shown["unknown"] == 1
    assert shown["devices"] == len(inv.devices) and shown["errors"] == len(inv.scan.errors) == 2
    assert shown["concern-list.uk-bscc-police-survey-2022"] == 5


def test_the_chart_adds_up_to_the_inventory(inv: Inventory, page: str) -> None:
    want: Counter[tuple[str, str]] = Counter((d.vendor or "", d.category) for d in inv.devices
                                             if d.category in SURVEILLANCE_CATEGORIES)
    got: Counter[tuple[str, str]] = Counter()
    nodes = parse(page)
    for g in (n for n in nodes if n.tag == "g" and "bar" in n.classes()):
        for r in (x for x in g.iter() if x.tag == "rect"):
            got[(str(g.attrs["data-maker"]), str(r.attrs["data-category"]))] += int(str(r.attrs["data-n"]))
        assert any(c.tag == "title" for c in g.children if isinstance(c, Node))
    assert got == want and got[("hikvision", "video")] == 2
    legend = [n.text() for n in nodes if n.tag == "ul" and n.attrs.get("aria-label") == "categories"]
    assert legend == ["cameranvrvideo"]


def test_every_device_has_a_row_with_its_evidence(inv: Inventory, page: str) -> None:
    nodes = parse(page)
    bodies = [n for n in nodes if n.tag == "tbody" and "device" in n.classes()]
    assert [b.attrs["data-ip"] for b in bodies] == [d.ip for d in inv.devices]
    for b, d in zip(bodies, inv.devices, strict=True):
        panel = next(n for n in b.iter() if n.tag == "tr" and "evidence" in n.classes()).text()
        for ev in d.evidence:
            assert ev.rule_id in panel
        for c in d.concerns:
            assert c in panel
        for a in d.advisories:
            assert a.id in panel and a.title in panel
    lts = next(b for b, d in zip(bodies, inv.devices, strict=True) if d.brand == "lts")
    assert "Sold under the brand LTS; made by Hikvision" in lts.text()


def test_a_stopped_scan_says_so(names: tuple[dict[str, str], dict[str, str]]) -> None:
    stopped = render_inventory(sample_inventory(complete=False), concern_names=names[0], maker_names=names[1])
    assert 'data-complete="false"' in stopped and "stopped part-way" in stopped
    assert 'data-complete="true"' in render_inventory(sample_inventory())


def test_without_names_slugs_are_shown(inv: Inventory) -> None:
    bare = render_inventory(inv)
    assert ">uk-bscc-police-survey-2022<" in bare and ">hikvision<" in bare


# --- the survey return -----------------------------------------------------------------------------

def resolve(doc: Any, path: str) -> Any:
    """The value at a dotted path (list indices as numbers; the longest key that fits, as a slug may hold dots)."""
    parts = path.split(".")
    while parts:
        if isinstance(doc, list):
            doc, parts = doc[int(parts[0])], parts[1:]
            continue
        n = next(n for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in doc)
        doc, parts = doc[".".join(parts[:n])], parts[n:]
    return doc


def check_survey_numbers(survey: dict[str, Any], text: str) -> dict[str, int]:
    """Every number shown is the survey's, overridden ones (and only they) marked; the numbers by path."""
    nodes = parse(text)
    shown = counts(nodes)
    for path, n in shown.items():
        assert resolve(survey, path) == n, path
    for node in (n for n in nodes if "data-count" in n.attrs):
        path = str(node.attrs["data-count"])
        parts = path.split(".")
        if parts[0] == "sites" and parts[2] == "categories":
            cat, rest = resolve(survey, ".".join(parts[:4])), ".".join(parts[4:])
        elif parts[0] == "categories":
            cat, rest = survey["categories"][parts[1]], ".".join(parts[2:])
        else:
            cat, rest = {}, path
        marked = node.parent is not None and "overridden" in node.parent.classes()
        assert marked == (rest in cat.get("overridden", [])), path
    for cat, c in survey["categories"].items():    # every number of the return is on the page
        for key in ("total", "video", "unknown"):
            assert shown[f"categories.{cat}.{key}"] == c[key]
        for part in ("by_vendor", "by_brand", "concern_vendors"):
            for slug, n in c[part].items():
                assert shown[f"categories.{cat}.{part}.{slug}"] == n
    for i, s in enumerate(survey["sites"]):
        for cat, c in s["categories"].items():
            assert shown[f"sites.{i}.categories.{cat}.total"] == c["total"]
    assert shown["untagged"] == survey["untagged"]
    return shown


def test_survey_numbers_are_the_returns_and_overrides_are_marked(survey_page: str) -> None:
    survey = sample_survey()
    shown = check_survey_numbers(survey, survey_page)
    assert shown["categories.drones.total"] == 1 and shown["categories.internal.by_vendor.hikvision"] == 3
    nodes = parse(survey_page)
    marked = [n for n in nodes if "overridden" in n.classes()]
    assert all("†" in n.text() for n in marked)
    notes = [n.text() for n in nodes if "override-note" in n.classes()]
    assert len(notes) == 2 and "a drone in the store cupboard" in notes[1] and "PC 1234 Smith" in notes[1]


def test_survey_answers_the_commissioners_questions(survey_page: str) -> None:
    nodes = parse(survey_page)
    sections = {n.attrs["data-category"]: n for n in nodes if n.tag == "section" and "category" in n.classes()}
    assert list(sections) == ["external", "internal", "anpr", "bodyworn", "drones"]

    def answer(cat: str) -> str:
        return str(next(n for n in sections[cat].iter() if "answer" in n.classes()).attrs["data-answer"])

    assert [answer(c) for c in sections] == ["yes", "yes", "yes", "none", "yes"]
    assert "US FCC Covered List" in sections["external"].text()       # which list flagged the maker
    assert "LTS" in sections["external"].text() and "ANNKE" in sections["external"].text()   # by brand
    assert "(maker not named)" in sections["internal"].text()
    provenance = next(n for n in nodes if n.attrs.get("id") == "provenance").text()
    for want in ("20261207T020000Z-depot", "2021-03-12", "https://www.fcc.gov/supplychain/coveredlist",
                 "overrides.yaml", "A. Jones", "kind corrected"):
        assert want in provenance


def test_survey_devices_table_holds_every_device(survey_page: str) -> None:
    survey = sample_survey()
    bodies = [n for n in parse(survey_page) if n.tag == "tbody" and "device" in n.classes()]
    assert [b.attrs["data-ip"] for b in bodies] == [d["ip"] or "" for d in survey["devices"]]
    added = next(b for b, d in zip(bodies, survey["devices"], strict=True) if d["origin"] == "added")
    assert "†" in added.text() and "PC 1234 Smith" in added.text()
