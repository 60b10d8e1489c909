"""The matching engine: one observation -> the evidence of every rule that fires (pure, no I/O).

Resolving a device from all its evidence is scanner.inventory.resolve.identify.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final, cast

from scanner.macaddr import normalise_mac
from scanner.match.composite import PARSERS, CompositeError
from scanner.match.firmware import Firmware, FirmwareRange, parse_firmware
from scanner.match.index import KeyIndex, build
from scanner.match.load import Database, ModelRule, Rule, load_database
from scanner.models import AdvisoryHit, Evidence
from scanner.signals import COMPOSITE, SIGNALS

MENTION_CONFIDENCE: Final = 0.4   # a device naming a maker in its own banner: names it, never makes a category
#: Signals in which a device describes itself: a maker's name there (as a whole word) is a mention.
MENTION_SIGNALS: Final = frozenset({
    "http.server", "http.title", "http.www_authenticate", "rtsp.server", "rtsp.www_authenticate", "ssdp.server",
    "upnp.manufacturer", "onvif.manufacturer", "snmp.sysdescr", "tls.subject", "tls.issuer", "telnet.banner",
    "dhcp.vendor_class"})
#: Fields in which a device states its maker and nothing else: their whole value being a maker's or brand's name,
#: legal name or alias (letter case, spacing and a company suffix aside; stopwords too: no free text) names it.
MANUFACTURER_SIGNALS: Final = frozenset({"onvif.manufacturer", "upnp.manufacturer"})
MANUFACTURER_CONFIDENCE: Final = 0.6   # above a mention (a name in free text): the field says only this
MEMO_SIZE: Final = 65536          # (signal, value) answers remembered per engine
MEMO_MAX_VALUE: Final = 2048      # longer values (page bodies, whole replies) are not remembered


_VERSION = re.compile(r"(\d+(?:\.\d+)+)")
_COLON_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_GROUP_OR_LOCAL: Final = frozenset("1235679abdef")   # a MAC's second hex digit when its group or local bit is set
_new = tuple.__new__   # builds an Evidence from a ready tuple without NamedTuple's Python-level __new__


# The steps of a signal's match() without the memo (Engine._written), each written out only for a signal that
# has it: the plain index's hits (its own steps come first: they leave them in `out`), the composite parser and
# its fields' indexes, the MAC's OUI, a maker named in the value (when no evidence names one).
_PLAN_STEPS: Final = {
    "start": """
def planned(value):
    evs = []
    named = False""",
    "plain": """
    for rule, fields in out:
        rid, maker, brand, conf, cat = carry[rule.id]
        evs.append(new(evidence, (rid, signal, value, maker, brand, conf, cat, fields, None)))
        if maker:
            named = True""",
    # the same, for a signal with rules that hold only when their `mac` field lies in their maker's blocks
    "plain_bound": """
    for rule, fields in out:
        rid, maker, brand, conf, cat = carry[rule.id]
        if rid in bound and not in_blocks(maker, fields):
            continue
        evs.append(new(evidence, (rid, signal, value, maker, brand, conf, cat, fields, None)))
        if maker:
            named = True""",
    "composite": """
    try:
        parsed = parser(value)
    except CompositeError:
        parsed = {}
    for fld, findex in field_index:
        fv = parsed.get(fld)
        if fv is None:
            continue
        for rule, fields in findex.match(fv):
            rid, maker, brand, conf, cat = carry[rule.id]
            evs.append(new(evidence, (rid, signal, fv, maker, brand, conf, cat, fields, fld)))
            if maker:
                named = True""",
    "oui": """
    ev = oui(value)
    if ev is not None:
        evs.append(ev)""",
    # (the usual answer, no first word of a name among the value's words, decided here as find() would: a word is
    # a run of ASCII letters and digits, and every byte of a character beyond ASCII, or of a lone surrogate, is not)
    "mentions": """
    if not named and not first_words.isdisjoint(
            (value.encode() if value.isascii() else value.encode("utf-8", "surrogatepass"))
            .translate(word_bytes).split()):
        hit = mentions(value)
        if hit is not None:
            maker, brand = hit
            conf = MENTION_CONFIDENCE * (link_conf.get(brand, 1.0) if brand else 1.0)
            evs.append(Evidence(f"mention.{maker}", signal, value, maker, brand, conf, None, (), None))""",
    "end": """
    return evs, parsed""",
    "end_plain": """
    return evs, {}""",
}


def version_tuple(text: str) -> tuple[int, ...] | None:
    """The first dotted number in a firmware string as ints ('V5.5.82 build 190910' -> (5, 5, 82))."""
    m = _VERSION.search(text)
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


class ObservationError(ValueError):
    """An observation is not usable (unknown signal, non-string value)."""


class Engine:
    """A compiled fingerprint database; match() turns one observation into evidence (pure, thread-safe)."""

    def __init__(self, db: Database, memo: int = MEMO_SIZE) -> None:
        self.db = db
        # a site repeats itself (a hundred cameras send the same Server header): remember recent answers
        self._memo: dict[tuple[str, str], tuple[tuple[Evidence, ...], dict[str, str]]] = {}   # (memo 0: unused)
        self._memo_size = memo
        keyed: dict[tuple[str, str | None], list[Rule]] = {}
        for r in db.rules:
            keyed.setdefault((r.signal, r.field), []).append(r)
        self._index: dict[tuple[str, str | None], KeyIndex[Rule]] = {k: build(v) for k, v in keyed.items()}
        self._plain: dict[str, KeyIndex[Rule] | None] = {s: self._index.get((s, None)) for s in SIGNALS}
        self._fields_for: dict[str, tuple[str, ...]] = {}
        for sig, fld in keyed:
            if fld is not None:
                self._fields_for[sig] = (*self._fields_for.get(sig, ()), fld)
        self._models: KeyIndex[ModelRule] = build(db.model_rules)
        self._link_conf = {b.slug: b.confidence for b in db.brands.values()}
        self._related: set[frozenset[str]] = set()
        for b in db.brands.values():
            self._related.add(frozenset((b.slug, b.maker)))
        self._mentions = Mentions(db)
        self._oui = _OuiLookup(db, self._link_conf)
        # what each rule's evidence carries beyond the observation, computed once (the brand's link folded in);
        # keyed by rule id (unique in a database: load checks), a str whose hash is kept, cheaper than id(rule)
        self._carry: dict[str, tuple[str, str | None, str | None, float, str | None]] = {}
        for r in db.rules:
            conf = r.confidence
            if r.brand is not None and r.brand != r.maker:
                conf *= self._link_conf.get(r.brand, 1.0)
            self._carry[r.id] = (r.id, r.maker, r.brand, conf, r.category)
        # per signal, decided once: a function doing just that signal's work (its plain index, its composite
        # parser and field indexes, the MAC lookup, mentions)
        self._plan: dict[str, Callable[[str], tuple[list[Evidence], dict[str, str]]]] = {}
        for sig in SIGNALS:
            self._plan[sig] = self._planned(sig)
        plan = self._plan

        def unremembered(signal: str, value: str) -> tuple[list[Evidence], dict[str, str]]:
            try:
                planned = plan[signal]
            except KeyError:
                raise ObservationError(f"unknown signal {signal!r}") from None
            return planned(value)

        # Evidence from every rule that matches (signal, value), and the composite fields parsed
        self.match: Callable[[str, str], tuple[list[Evidence], dict[str, str]]] = \
            self._remembered if memo else unremembered
        self._advisories: dict[str, list[Any]] = {}
        for a in db.advisories:
            ranges = [(None if r.models is None else re.compile(r.models), r) for r in a.ranges]
            self._advisories.setdefault(a.maker, []).append((re.compile(a.models), ranges, a))

    # ---- matching -------------------------------------------------------------------------

    def _remembered(self, signal: str, value: str) -> tuple[list[Evidence], dict[str, str]]:
        """match() with the memo."""
        memo = self._memo
        got = memo.get((signal, value))
        if got is not None:
            return list(got[0]), dict(got[1])
        try:
            planned = self._plan[signal]
        except KeyError:
            raise ObservationError(f"unknown signal {signal!r}") from None
        out, parsed = planned(value)
        if len(value) <= MEMO_MAX_VALUE:
            if len(memo) >= self._memo_size:
                memo.clear()
            memo[(signal, value)] = (tuple(out), parsed)
            parsed = dict(parsed)
        return out, parsed

    def _planned(self, signal: str) -> Callable[[str], tuple[list[Evidence], dict[str, str]]]:
        """match() for one signal without the memo, written on its first value (see _written)."""
        plan = self._plan

        def first(value: str) -> tuple[list[Evidence], dict[str, str]]:
            planned = plan[signal] = self._written(signal)
            return planned(value)

        return first

    def _written(self, signal: str) -> Callable[[str], tuple[list[Evidence], dict[str, str]]]:
        """match() for one signal without the memo: only the steps the signal has, its plain index's own steps
        written in (no call and no list of hits handed back), their lookups bound as names."""
        names: dict[str, Any] = {
            "signal": signal, "carry": self._carry, "new": _new, "evidence": Evidence, "Evidence": Evidence,
            "link_conf": self._link_conf, "MENTION_CONFIDENCE": MENTION_CONFIDENCE, "CompositeError": CompositeError}
        steps = [_PLAN_STEPS["start"]]
        index = self._plain[signal]
        if index is not None:
            body, index_names = index.body()
            names.update(index_names)   # (the index's names and the steps' names are distinct)
            bound = {r.id for r in self.db.rules if r.mac_in_oui and r.signal == signal}
            names.update(bound=bound, in_blocks=self._in_blocks)
            steps += [body, _PLAN_STEPS["plain_bound" if bound else "plain"]]
        if signal in COMPOSITE:
            names["parser"] = PARSERS[signal]
            names["field_index"] = tuple((f, self._index[(signal, f)]) for f in self._fields_for.get(signal, ()))
            steps.append(_PLAN_STEPS["composite"])
        elif signal == "mac":
            names["oui"] = self._oui.evidence
            steps.append(_PLAN_STEPS["oui"])
        if signal in MENTION_SIGNALS:
            names.update(mentions=self._mentions.find, first_words=self._mentions.first_bytes, word_bytes=_WORD_BYTES)
            steps.append(_PLAN_STEPS["mentions"])
        steps.append(_PLAN_STEPS["end" if signal in COMPOSITE else "end_plain"])
        exec(compile("".join(steps), f"<Engine.match {signal}>", "exec"), names)
        return cast(Callable[[str], tuple[list[Evidence], dict[str, str]]], names["planned"])

    def _in_blocks(self, maker: str | None, fields: tuple[tuple[str, str], ...]) -> bool:
        """Whether a hit's `mac` field lies in an IEEE block registered to maker (or to one of its brands)."""
        mac = dict(fields).get("mac")
        ev = self._oui.evidence(mac) if mac is not None else None
        return ev is not None and ev.vendor == maker

    def stated_maker(self, signal: str, value: str) -> Evidence | None:
        """Evidence `manufacturer.<maker>` when a manufacturer field's whole value is a maker's or brand's name (at
        MANUFACTURER_CONFIDENCE, times the brand's link), else None."""
        got = self._mentions.companies.get(company_key(value))
        if got is None:
            return None
        maker, brand = got
        conf = MANUFACTURER_CONFIDENCE * (self._link_conf.get(brand, 1.0) if brand else 1.0)
        return Evidence(f"manufacturer.{maker}", signal, value, maker, brand, conf, None)

    def oui_evidence(self, mac_text: str) -> Evidence | None:
        """OUI evidence for a MAC (None if unknown, malformed, multicast or locally administered)."""
        return self._oui.evidence(mac_text)

    def match_model(self, model: str) -> list[tuple[ModelRule, tuple[tuple[str, str], ...]]]:
        """Every model rule whose pattern matches this model number."""
        return self._models.match(model)

    # ---- identification ---------------------------------------------------------------------

    @property
    def link_conf(self) -> dict[str, float]:
        """Brand slug -> how sure its link to the real maker is (oem.yaml)."""
        return self._link_conf

    @property
    def related_pairs(self) -> set[frozenset[str]]:
        """{brand, maker} pairs linked in oem.yaml."""
        return self._related

    def ieee_org(self, mac: str) -> str | None:
        """The IEEE MA-L organisation of a normalised MAC's prefix (bundled registry, never downloaded)."""
        if int(mac[:2], 16) & 0x02:
            return "locally administered (randomised or private)"
        return self.db.ieee.get(mac.replace(":", "")[:6].upper())

    def concerns_for(self, vendor: str | None, brand: str | None,
                     lists: Iterable[str] | None = None) -> tuple[str, ...]:
        """Ids of the concern lists (all, or those named) that name the vendor or the brand."""
        wanted = None if lists is None else set(lists)
        out = []
        for c in self.db.concerns:
            if wanted is not None and c.id not in wanted:
                continue
            if (vendor is not None and vendor in c.makers) or (brand is not None and brand in c.makers):
                out.append(c.id)
        return tuple(out)

    def advisories_for(self, vendor: str | None, model: str | None,
                       firmware: str | None) -> tuple[AdvisoryHit, ...]:
        """Advisories whose maker and model family fit: 'affected' when the firmware is known and inside a
        published range, 'possible' when it is unknown, unparseable or no range is published; none when outside."""
        if vendor is None or not model:
            return ()
        fw = parse_firmware(firmware)
        out: list[AdvisoryHit] = []
        for rx, ranges, a in self._advisories.get(vendor, ()):
            if not rx.search(model):
                continue
            status = advisory_status(fw, [r for r_rx, r in ranges if r_rx is None or r_rx.search(model)])
            if status is not None:
                out.append(AdvisoryHit(a.id, a.title, a.severity, status, a.source))
        return tuple(out)


def advisory_status(fw: Firmware, ranges: list[FirmwareRange]) -> str | None:
    """'affected' (inside a range), 'possible' (firmware or range unknown) or None (known and outside all)."""
    if not fw.known or not ranges:
        return "possible"
    verdicts = [r.contains(fw) for r in ranges]
    if any(v is True for v in verdicts):
        return "affected"
    if any(v is None for v in verdicts):
        return "possible"
    return None


def _as_mac_start(prefix: str) -> str:
    """A hex prefix as the start of a normalised MAC ('001A2B3' -> '00:1a:2b:3')."""
    low = prefix.lower()
    return ":".join(low[i:i + 2] for i in range(0, len(low), 2))


class _OuiLookup:
    """The longest registered prefix of a MAC -> its evidence."""

    __slots__ = ("_block_lengths", "_hits", "_split_blocks")

    def __init__(self, db: Database, link_conf: dict[str, float]) -> None:
        # a normalised MAC's start -> what its evidence carries: a block registered in a brand's name (Ring LLC,
        # Amcrest Technologies) names the brand, its confidence scaled by the brand's link
        self._hits: dict[str, tuple[str, str, str | None, float]] = {}
        for prefix, maker in db.oui.items():
            brand = db.oui_brand.get(prefix)
            conf = db.makers[maker].oui_confidence * (link_conf.get(brand, 1.0) if brand is not None else 1.0)
            self._hits[_as_mac_start(prefix)] = (f"oui.{maker}", maker, brand, conf)
        # prefix lengths in a normalised MAC's characters, longest first; only a few MA-L blocks hold longer
        # (MA-M, MA-S) prefixes: they look up every length, the others only the block lengths
        lengths = [n + (n - 1) // 2 for n in sorted({len(p) for p in db.oui}, reverse=True)]
        self._block_lengths = tuple(n for n in lengths if n <= 8)
        self._split_blocks = {_as_mac_start(p[:6]): tuple(lengths) for p in db.oui if len(p) > 6}

    def evidence(self, mac_text: str) -> Evidence | None:
        """Engine.oui_evidence."""
        t = mac_text.strip()
        # the usual notation's shape (six pairs joined by colons): normalise_mac makes it t.lower() when the pairs
        # are hex digits, else nothing; that is checked (a regex) only when a prefix is found, so an unknown MAC costs
        # no regex
        shaped = len(t) == 17 and t[2::3] == ":::::"
        mac = t.lower() if shaped else normalise_mac(mac_text)
        if mac is None or mac[1] in _GROUP_OR_LOCAL:
            return None   # group or locally administered: IEEE prefix lookup is meaningless
        hits = self._hits
        for n in self._split_blocks.get(mac[:8], self._block_lengths):   # the longest registered prefix wins
            got = hits.get(mac[:n])
            if got is not None:
                if shaped and _COLON_MAC.fullmatch(t) is None:
                    return None   # not a MAC after all
                rid, maker, brand, conf = got
                return _new(Evidence, (rid, "mac", mac, maker, brand, conf, None, (("mac", mac),), None))
        return None


_WORD = re.compile(r"[A-Za-z0-9]+")


# bytes -> themselves when an ASCII letter or digit, else a space: an ASCII value's words are then one split away
_WORD_BYTES: Final = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256))


_COMPANY_SUFFIX = re.compile(
    r"(?:[\s,]+(?:co\.?,?\s*ltd\.?|ltd\.?|limited|inc\.?|incorporated|corporation|corp\.?|gmbh|ag|s\.?p\.?a\.?|"
    r"llc|l\.l\.c\.|s\.a\.|b\.v\.|plc|company|co\.))+\s*$")


def company_key(name: str) -> str:
    """A company name as compared in a manufacturer field: letter case, spacing and a company suffix aside."""
    key = " ".join(name.casefold().split())
    return _COMPANY_SUFFIX.sub("", key).strip(" ,.")


class Mentions:
    """Finds a maker's or brand's name (as written in its aliases) as a whole word in a value.

    Names are filed by their first word, so a value costs one pass over its words and a set test (the common
    answer: no first word of a name among them); only then is each word looked up.
    """

    def __init__(self, db: Database) -> None:
        of: dict[str, tuple[str, str | None]] = {}
        # a whole manufacturer field -> (maker, brand or None): legal names too (see MANUFACTURER_SIGNALS)
        companies: dict[str, tuple[str, str | None]] = {}
        for m in db.makers.values():
            for name in (m.name, *m.aliases):
                of.setdefault(name, (m.slug, None))
            for name in (m.name, m.legal_name, *m.aliases):
                companies.setdefault(company_key(name), (m.slug, None))
        for b in db.brands.values():
            for name in (b.name, *b.aliases):
                of.setdefault(name, (b.maker, b.slug))
                companies.setdefault(company_key(name), (b.maker, b.slug))
        self.companies = {k: v for k, v in companies.items() if len(k) >= 3}
        # short or all-lower-case names are words, not names ("DH", "Mi", "zte"); stopwords are data
        self.names = {n: v for n, v in of.items() if n not in db.mention_stopwords and n != n.lower()
                      and (len(n) >= 4 or (len(n) == 3 and n.isupper()))}
        self._by_first: dict[str, list[tuple[str, re.Pattern[str] | None]]] = {}
        for n in sorted(self.names, key=len, reverse=True):
            first = _WORD.match(n)
            if first is None:
                continue
            exact = first.group(0) == n   # a one-word name needs no second look
            rx = None if exact else re.compile(rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])")
            self._by_first.setdefault(first.group(0), []).append((n, rx))
        self.first_bytes = frozenset(w.encode() for w in self._by_first)
        self._first_words = frozenset(self._by_first)
        self._by_first_bytes = {w.encode(): c for w, c in self._by_first.items()}

    def find(self, value: str) -> tuple[str, str | None] | None:
        """(maker, brand or None) of the first name the value mentions, longest name first."""
        if value.isascii():   # the common case: words split in C (bytes.translate and split, no regex)
            words: list[Any] = value.encode().translate(_WORD_BYTES).split()
            if self.first_bytes.isdisjoint(words):   # the usual answer, no set built
                return None
            firsts: frozenset[Any] = self.first_bytes.intersection(words)
            by_first: dict[Any, list[tuple[str, re.Pattern[str] | None]]] = self._by_first_bytes
        else:
            words = _WORD.findall(value)
            firsts = self._first_words.intersection(words)
            by_first = self._by_first
        if not firsts:
            return None
        # a name's regex looks at the whole value: only the order of the words' first places matters
        for word in (sorted(firsts, key=words.index) if len(firsts) > 1 else firsts):
            for name, rx in by_first[word]:
                if rx is None or rx.search(value):
                    return self.names[name]
        return None


_ENGINE: dict[str, Engine] = {}


def get_engine(root: str | None = None) -> Engine:
    """The engine for a fingerprint folder, loaded once per process."""
    key = root or ""
    eng = _ENGINE.get(key)
    if eng is None:
        eng = _ENGINE[key] = Engine(load_database(root))
    return eng


def loaded_engine(root: str | None = None) -> Engine | None:
    """The engine get_engine(root) would give, if this process has built it already; else None (nothing built)."""
    return _ENGINE.get(root or "")


def keep_engine(eng: Engine, root: str | None = None) -> None:
    """Let get_engine(root) give eng from now on (an engine built elsewhere for the same folder)."""
    _ENGINE.setdefault(root or "", eng)
