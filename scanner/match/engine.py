"""The identification engine: observations -> evidence -> one identified device (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from scanner.macaddr import normalise_mac
from scanner.match.composite import ATTRIBUTE_FIELDS, PARSERS, CompositeError
from scanner.match.index import KeyIndex, build
from scanner.match.load import SURVEILLANCE_CATEGORIES, Database, ModelRule, Rule, load_database
from scanner.models import Evidence, Identification, Observation
from scanner.signals import ATTRIBUTE_SIGNALS, COMPOSITE, SIGNALS

MIN_VENDOR_SCORE: Final = 0.25     # below this no maker is named
MIN_CATEGORY_SCORE: Final = 0.5    # a surveillance category needs at least this (one weak signal never does)
MOSTLY_SCORE: Final = 0.75         # how surely a video_mostly maker must be named (no OUI, no mention) to count
MIN_KIND_SCORE: Final = 0.25       # once it is surveillance kit, this much says which kind (else `video`)
MENTION_CONFIDENCE: Final = 0.4   # a device naming a maker in its own banner: names it, never makes a category
#: Signals in which a device describes itself: a maker's name there (as a whole word) is a mention.
MENTION_SIGNALS: Final = frozenset({
    "http.server", "http.title", "http.www_authenticate", "rtsp.server", "rtsp.www_authenticate", "ssdp.server",
    "upnp.manufacturer", "onvif.manufacturer", "snmp.sysdescr", "tls.subject", "tls.issuer", "telnet.banner",
    "dhcp.vendor_class"})
#: Signals whose free text may carry the device's model number as a word (a title "DS-7608NI-K2 login").
MODEL_TEXT_SIGNALS: Final = frozenset({
    "http.title", "http.server", "http.www_authenticate", "rtsp.server", "rtsp.www_authenticate", "ssdp.server",
    "snmp.sysdescr", "snmp.sysname", "tls.subject", "tls.issuer", "telnet.banner", "hostname", "mdns.name",
    "onvif.hardware_id"})
_MODEL_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_/.+-]{2,47}")
MEMO_SIZE: Final = 65536          # (signal, value) answers remembered per engine
MEMO_MAX_VALUE: Final = 2048      # longer values (page bodies, whole replies) are not remembered
CONFLICT_SCORE: Final = 0.5        # a second maker this sure, with no OEM link, is reported as a conflict

# Attribute source priorities (higher wins): operator-authenticated ONVIF beats discovery replies,
# which beat values pulled out of banners, which beat free-text UPnP/WSD names.
_PRIO_SIGNAL: Final = {"onvif.model": 90, "onvif.firmware": 90, "onvif.serial": 90, "mac": 95,
                       "upnp.model_number": 50, "upnp.model": 30}
_PRIO_COMPOSITE: Final = {"sadp.reply": 80, "dhip.reply": 80, "wsd.scopes": 40}
_PRIO_RULE_FIELD: Final = 60
_PRIO_OBS_MAC: Final = 70

_VERSION = re.compile(r"(\d+(?:\.\d+)+)")


def version_tuple(text: str) -> tuple[int, ...] | None:
    """The first dotted number in a firmware string as ints ('V5.5.82 build 190910' -> (5, 5, 82))."""
    m = _VERSION.search(text)
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


class ObservationError(ValueError):
    """An observation is not usable (unknown signal, non-string value)."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    value: str
    prio: int
    vendor: str | None


class Engine:
    """A compiled fingerprint database; match() and identify() are pure and thread-safe."""

    def __init__(self, db: Database, memo: int = MEMO_SIZE) -> None:
        self.db = db
        # a site repeats itself (a hundred cameras send the same Server header): remember recent answers
        self._memo: dict[tuple[str, str], tuple[tuple[Evidence, ...], dict[str, str]]] = {}
        self._memo_size = memo
        keyed: dict[tuple[str, str | None], list[Rule]] = {}
        for r in db.rules:
            keyed.setdefault((r.signal, r.field), []).append(r)
        self._index: dict[tuple[str, str | None], KeyIndex[Rule]] = {k: build(v) for k, v in keyed.items()}
        self._plain: dict[str, KeyIndex[Rule] | None] = {s: self._index.get((s, None)) for s in SIGNALS}
        self._brand_factor: dict[str, float] = {}
        self._fields_for: dict[str, tuple[str, ...]] = {}
        for sig, fld in keyed:
            if fld is not None:
                self._fields_for[sig] = (*self._fields_for.get(sig, ()), fld)
        self._models: KeyIndex[ModelRule] = build(db.model_rules)
        self._oui_lengths = sorted({len(p) for p in db.oui}, reverse=True)
        self._link_conf = {b.slug: b.confidence for b in db.brands.values()}
        self._related: set[frozenset[str]] = set()
        for b in db.brands.values():
            self._related.add(frozenset((b.slug, b.maker)))
        self._mentions = Mentions(db)
        self._advisories: dict[str, list[Any]] = {}
        for a in db.advisories:
            self._advisories.setdefault(a.maker, []).append((re.compile(a.models), a))

    # ---- matching -------------------------------------------------------------------------

    def _evidence(self, rule: Rule, signal: str, value: str, fields: tuple[tuple[str, str], ...],
                  fld: str | None) -> Evidence:
        conf = rule.confidence
        if rule.brand is not None and rule.brand != rule.maker:
            conf *= self._link_conf.get(rule.brand, 1.0)
        return Evidence(rule.id, signal, value, rule.maker, rule.brand, conf, rule.category, fields, fld)

    def match(self, signal: str, value: str) -> tuple[list[Evidence], dict[str, str]]:
        """Evidence from every rule that matches (signal, value), and the composite fields parsed."""
        key = (signal, value)
        got = self._memo.get(key)
        if got is not None:
            return list(got[0]), dict(got[1])
        evs, parsed = self._match(signal, value)
        if self._memo_size and len(value) <= MEMO_MAX_VALUE:
            if len(self._memo) >= self._memo_size:
                self._memo.clear()
            self._memo[key] = (tuple(evs), parsed)
            parsed = dict(parsed)
        return evs, parsed

    def _match(self, signal: str, value: str) -> tuple[list[Evidence], dict[str, str]]:
        try:
            idx = self._plain[signal]
        except KeyError:
            raise ObservationError(f"unknown signal {signal!r}") from None
        out: list[Evidence] = []
        parsed: dict[str, str] = {}
        if idx is not None:
            for rule, fields in idx.match(value):
                out.append(self._evidence(rule, signal, value, fields, None))
        if signal in COMPOSITE:
            try:
                parsed = PARSERS[signal](value)
            except CompositeError:
                parsed = {}
            for fld in self._fields_for.get(signal, ()):
                fv = parsed.get(fld)
                if fv is None:
                    continue
                fidx = self._index[(signal, fld)]
                for rule, fields in fidx.match(fv):
                    out.append(self._evidence(rule, signal, fv, fields, fld))
        elif signal == "mac":
            ev = self.oui_evidence(value)
            if ev is not None:
                out.append(ev)
        if signal in MENTION_SIGNALS and not any(e.vendor for e in out):
            hit = self._mentions.find(value)
            if hit is not None:
                maker, brand = hit
                conf = MENTION_CONFIDENCE * (self._link_conf.get(brand, 1.0) if brand else 1.0)
                out.append(Evidence(f"mention.{maker}", signal, value, maker, brand, conf, None, (), None))
        return out, parsed

    def oui_evidence(self, mac_text: str) -> Evidence | None:
        """OUI evidence for a MAC (None if unknown, malformed, multicast or locally administered)."""
        mac = normalise_mac(mac_text)
        if mac is None:
            return None
        first = int(mac[:2], 16)
        if first & 0x03:
            return None   # group or locally administered: IEEE prefix lookup is meaningless
        hexd = mac.replace(":", "").upper()
        for n in self._oui_lengths:
            maker = self.db.oui.get(hexd[:n])
            if maker is not None:
                conf = self.db.makers[maker].oui_confidence
                brand = self.db.oui_brand.get(hexd[:n])
                if brand is not None:   # a block registered in a brand's name (Ring LLC, Amcrest Technologies)
                    conf *= self._link_conf.get(brand, 1.0)
                return Evidence(f"oui.{maker}", "mac", mac, maker, brand, conf, None, (("mac", mac),))
        return None

    def match_model(self, model: str) -> list[tuple[ModelRule, tuple[tuple[str, str], ...]]]:
        """Every model rule whose pattern matches this model number."""
        return self._models.match(model)

    # ---- identification ---------------------------------------------------------------------

    def identify(self, observations: Iterable[Observation | tuple[str, str]],
                 concern_lists: Iterable[str] | None = None) -> Identification:
        """Resolve a device from all its observations; ObservationError for an unknown signal."""
        evidence: list[Evidence] = []
        seen_ev: set[tuple[str, str, str | None]] = set()
        cands: dict[str, list[_Candidate]] = {"model": [], "firmware": [], "serial": [], "mac": []}
        texts: list[str] = []
        for ob in observations:
            if isinstance(ob, Observation):
                signal, value, obs_mac = ob.signal, ob.value, ob.mac
            else:
                signal, value = ob
                obs_mac = None
            if not isinstance(value, str):
                raise ObservationError(f"value of {signal!r} must be a string")
            evs, parsed = self.match(signal, value)
            if signal in MODEL_TEXT_SIGNALS:
                texts.append(value)
            for ev in evs:
                # the same fact seen twice (port 80 and 8080, multicast and directed) is one piece of evidence
                key = (ev.rule_id, ev.value, ev.field)
                if key not in seen_ev:
                    seen_ev.add(key)
                    evidence.append(ev)
            attr = ATTRIBUTE_SIGNALS.get(signal)
            if attr is not None and value.strip():
                v = normalise_mac(value) if attr == "mac" else value.strip()
                if v:
                    cands[attr].append(_Candidate(v, _PRIO_SIGNAL.get(signal, 50), None))
            if parsed:
                prio = _PRIO_COMPOSITE[signal]
                for fld, a in ATTRIBUTE_FIELDS[signal].items():
                    fv = parsed.get(fld, "").strip()
                    if a == "mac":
                        fv = normalise_mac(fv) or ""
                    if fv:
                        cands[a].append(_Candidate(fv, prio, None))
            if obs_mac:
                m = normalise_mac(obs_mac)
                if m:
                    cands["mac"].append(_Candidate(m, _PRIO_OBS_MAC, None))
                    if signal != "mac":
                        oev = self.oui_evidence(m)
                        if oev is not None and (oev.rule_id, oev.value, None) not in seen_ev:
                            seen_ev.add((oev.rule_id, oev.value, None))
                            evidence.append(oev)
            for ev in evs:
                for a, fv in ev.fields:
                    if a in cands and not ev.rule_id.startswith("oui."):
                        cands[a].append(_Candidate(normalise_mac(fv) or fv if a == "mac" else fv,
                                                   _PRIO_RULE_FIELD, ev.vendor))
        mac = _best(cands["mac"], None)
        if mac and not any(e.signal == "mac" and e.rule_id.startswith("oui.") for e in evidence):
            mev = self.oui_evidence(mac)
            if mev is not None:
                evidence.append(mev)

        # model rules on every distinct model candidate: maker and category evidence
        seen_models: set[str] = set()
        for c in cands["model"]:
            if c.value in seen_models:
                continue
            seen_models.add(c.value)
            for mr, _ in self._models.match(c.value):
                evidence.append(Evidence(mr.id, "model", c.value, mr.maker, mr.brand, mr.confidence,
                                         mr.category))

        scores: dict[str, float] = {}
        for e in evidence:
            if e.vendor is not None:
                scores[e.vendor] = 1 - (1 - scores.get(e.vendor, 0.0)) * (1 - e.confidence)
        vendor: str | None = None
        confidence = 0.0
        if scores:
            vendor, confidence = max(scores.items(), key=lambda kv: (kv[1], kv[0]))
            if confidence < MIN_VENDOR_SCORE:
                vendor, confidence = None, 0.0

        brand = self._brand(vendor, evidence)
        related = self._related_to(vendor, evidence)
        conflicts = tuple(
            {"vendor": v, "confidence": round(s, 3),
             "rules": sorted({e.rule_id for e in evidence if e.vendor == v})}
            for v, s in sorted(scores.items(), key=lambda kv: -kv[1])
            if v != vendor and s >= CONFLICT_SCORE and v not in related)

        model = _best(cands["model"], vendor)
        if vendor is not None and texts:
            # the named maker's own model numbering inside a title, banner, realm or certificate settles the kind
            # (never the maker: a word that looks like another maker's part number names nobody)
            for tok in dict.fromkeys(t for text in texts for t in model_tokens(text)):
                if tok in seen_models:
                    continue
                for mr, _ in self._models.match(tok):
                    if mr.maker in related:
                        evidence.append(Evidence(mr.id, "model", tok, mr.maker, mr.brand, mr.confidence,
                                                 mr.category))
                        model = model or tok
        category = self._category(vendor, related, evidence)
        firmware = _best(cands["firmware"], vendor)
        serial = _best(cands["serial"], vendor)
        return Identification(
            vendor=vendor, brand=brand, model=model, firmware=firmware, serial=serial, mac=mac,
            category=category, confidence=round(confidence, 3),
            concerns=self.concerns_for(vendor, brand, concern_lists),
            advisories=self.advisories_for(vendor, model, firmware),
            evidence=tuple(evidence), conflicts=conflicts,
            oui_org=self.ieee_org(mac) if mac else None)

    def ieee_org(self, mac: str) -> str | None:
        """The IEEE MA-L organisation of a normalised MAC's prefix (bundled registry, never downloaded)."""
        if int(mac[:2], 16) & 0x02:
            return "locally administered (randomised or private)"
        return self.db.ieee.get(mac.replace(":", "")[:6].upper())

    def _brand(self, vendor: str | None, evidence: list[Evidence]) -> str | None:
        if vendor is None:
            return None
        best: tuple[float, str] | None = None
        for e in evidence:
            if e.brand is not None and e.vendor == vendor and (best is None or e.confidence > best[0]):
                best = (e.confidence, e.brand)
        if best is not None:
            return best[1]
        if any(e.vendor == vendor and not e.rule_id.startswith("oui.") for e in evidence):
            return vendor
        return None

    def _related_to(self, vendor: str | None, evidence: list[Evidence]) -> set[str]:
        if vendor is None:
            return set()
        rel = {vendor}
        for e in evidence:
            if e.brand is not None:
                rel.add(e.brand)
        for pair in self._related:
            if vendor in pair:
                rel |= pair
        return rel

    def _category(self, vendor: str | None, related: set[str], evidence: list[Evidence]) -> str:
        # A model number is the most specific fact about what a device is: an NVR also announces itself
        # as an ONVIF NetworkVideoTransmitter, so a matching model rule decides over protocol hints.
        by_model = [e for e in evidence if e.signal == "model" and e.category is not None
                    and (vendor is None or e.vendor in related) and e.confidence >= MIN_CATEGORY_SCORE]
        if by_model:
            return max(by_model, key=lambda e: e.confidence).category or "unknown"
        cat_scores: dict[str, float] = {}
        surveillance = 0.0   # how sure we are that it is surveillance kit at all, whatever its kind
        for e in evidence:
            if e.category is None:
                continue
            if e.vendor is not None and vendor is not None and e.vendor not in related:
                continue
            cat_scores[e.category] = 1 - (1 - cat_scores.get(e.category, 0.0)) * (1 - e.confidence)
            if e.category in SURVEILLANCE_CATEGORIES:
                surveillance = 1 - (1 - surveillance) * (1 - e.confidence)
        if cat_scores:
            other = cat_scores.get("other", 0.0)
            if surveillance >= MIN_CATEGORY_SCORE and surveillance > other:
                # a video device: the most likely kind when any evidence names one, else `video`
                kinds = [(s, c) for c, s in cat_scores.items() if c in SURVEILLANCE_CATEGORIES and c != "video"]
                if kinds:
                    best = max(kinds)
                    if best[0] >= MIN_KIND_SCORE:
                        return best[1]
                return "video"
            if other >= MIN_CATEGORY_SCORE:
                return "other"
        if vendor is not None:
            maker = self.db.makers[vendor]
            if not maker.surveillance:
                return "other"
            if maker.video_only or maker.video_mostly:
                # the maker makes nothing (or next to nothing) but video devices, and its other lines are named
                # by rules of their own: named surely enough by more than its OUI, this is one of its video devices
                named = 0.0
                for e in evidence:
                    if e.vendor == vendor and not e.rule_id.startswith(("oui.", "mention.")):
                        named = 1 - (1 - named) * (1 - e.confidence)
                contrary = maker.video_mostly and cat_scores.get("other", 0.0) > 0   # a hint of its other lines
                if named >= (MIN_CATEGORY_SCORE if maker.video_only else MOSTLY_SCORE) and not contrary:
                    hints = [(s, c) for c, s in cat_scores.items() if c in SURVEILLANCE_CATEGORIES and c != "video"]
                    hint = max(hints) if hints else (0.0, "video")
                    return hint[1] if hint[0] >= MIN_KIND_SCORE else "video"
        return "unknown"

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
                       firmware: str | None) -> tuple[dict[str, Any], ...]:
        """Advisories whose maker and model pattern fit; status 'affected' when the firmware is in range,
        'possible' when the firmware is unknown."""
        if vendor is None or model is None:
            return ()
        fw = version_tuple(firmware) if firmware else None
        out: list[dict[str, Any]] = []
        for rx, a in self._advisories.get(vendor, ()):
            if not rx.match(model):
                continue
            status = "possible"
            if fw is not None:
                lo = version_tuple(a.firmware_from) if a.firmware_from else None
                hi = version_tuple(a.firmware_below) if a.firmware_below else None
                if (lo is not None and fw < lo) or (hi is not None and fw >= hi):
                    continue
                status = "affected"
            out.append({"id": a.id, "title": a.title, "severity": a.severity, "status": status,
                        "source": a.source})
        return tuple(out)


def model_tokens(text: str) -> list[str]:
    """Words of a free text that could be model numbers: letters and digits both, 4-48 characters."""
    out = []
    for m in _MODEL_TOKEN.finditer(text[:512]):
        tok = m.group(0).rstrip("./-_+")
        if len(tok) >= 4 and any(c.isdigit() for c in tok) and any(c.isalpha() for c in tok):
            out.append(tok)
    return out


_WORD = re.compile(r"[A-Za-z0-9]+")


class Mentions:
    """Finds a maker's or brand's name (as written in its aliases) as a whole word in a value.

    Names are filed by their first word, so a value costs one pass over its words and a dict lookup each.
    """

    def __init__(self, db: Database) -> None:
        of: dict[str, tuple[str, str | None]] = {}
        for m in db.makers.values():
            for name in (m.name, *m.aliases):
                of.setdefault(name, (m.slug, None))
        for b in db.brands.values():
            for name in (b.name, *b.aliases):
                of.setdefault(name, (b.maker, b.slug))
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

    def find(self, value: str) -> tuple[str, str | None] | None:
        """(maker, brand or None) of the first name the value mentions, longest name first."""
        by_first = self._by_first
        for word in _WORD.findall(value):
            cands = by_first.get(word)
            if cands:
                for name, rx in cands:
                    if rx is None or rx.search(value):
                        return self.names[name]
        return None


def _best(cands: list[_Candidate], vendor: str | None) -> str | None:
    pool = [c for c in cands if c.vendor is None or c.vendor == vendor]
    if not pool:
        return None
    return max(pool, key=lambda c: c.prio).value


_ENGINE: dict[str, Engine] = {}


def get_engine(root: str | None = None) -> Engine:
    """The engine for a fingerprint folder, loaded once per process."""
    key = root or ""
    eng = _ENGINE.get(key)
    if eng is None:
        eng = _ENGINE[key] = Engine(load_database(root))
    return eng


def identification_to_dict(ident: Identification, device_id: str | None = None) -> dict[str, Any]:
    """The `camscan identify` JSON shape for one device."""
    d: dict[str, Any] = {}
    if device_id is not None:
        d["id"] = device_id
    d.update({
        "vendor": ident.vendor, "brand": ident.brand, "model": ident.model, "firmware": ident.firmware,
        "category": ident.category, "confidence": ident.confidence, "concerns": list(ident.concerns),
        "advisories": list(ident.advisories), "evidence": [e.to_dict() for e in ident.evidence],
        "conflicts": list(ident.conflicts),
    })
    return d
