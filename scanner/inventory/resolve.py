"""Resolve one device from all its observations: maker, brand, model, firmware, serial, MAC, category,
conflicts (pure; the engine supplies the evidence of each observation)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from scanner.macaddr import normalise_mac
from scanner.match.composite import ATTRIBUTE_FIELDS
from scanner.match.engine import MANUFACTURER_SIGNALS, Engine, ObservationError
from scanner.match.load import SURVEILLANCE_CATEGORIES
from scanner.models import Conflict, Evidence, Identification, Observation
from scanner.signals import ATTRIBUTE_SIGNALS

MIN_VENDOR_SCORE: Final = 0.25     # below this no maker is named
MIN_CATEGORY_SCORE: Final = 0.5    # a surveillance category needs at least this (one weak signal never does)
MOSTLY_SCORE: Final = 0.75         # how surely a video_mostly maker must be named (no OUI, no mention) to count
MIN_KIND_SCORE: Final = 0.25       # once it is surveillance kit, this much says which kind (else `video`)
CONFLICT_SCORE: Final = 0.5        # a second maker this sure, with no OEM link, is reported as a conflict

# Attribute source priorities (higher wins): operator-authenticated ONVIF beats discovery replies,
# which beat values pulled out of banners, which beat free-text UPnP/WSD names.
_PRIO_SIGNAL: Final = {"onvif.model": 90, "onvif.firmware": 90, "onvif.serial": 90, "mac": 95,
                       "snmp.model": 70, "snmp.firmware": 70, "snmp.serial": 70,
                       "upnp.model_number": 50, "upnp.model": 30}
_PRIO_COMPOSITE: Final = {"sadp.reply": 80, "dhip.reply": 80, "wsd.scopes": 40}
_PRIO_RULE_FIELD: Final = 60
_PRIO_OBS_MAC: Final = 70

#: Signals whose free text may carry the device's model number as a word (a title "DS-7608NI-K2 login").
MODEL_TEXT_SIGNALS: Final = frozenset({
    "http.title", "http.server", "http.www_authenticate", "rtsp.server", "rtsp.www_authenticate", "ssdp.server",
    "snmp.sysdescr", "snmp.sysname", "tls.subject", "tls.issuer", "telnet.banner", "hostname", "mdns.name",
    "onvif.hardware_id"})
_MODEL_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_/.+-]{2,47}")


@dataclass(frozen=True, slots=True)
class _Candidate:
    value: str
    prio: int
    vendor: str | None


def identify(engine: Engine, observations: Iterable[Observation | tuple[str, str]],
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
        evs, parsed = engine.match(signal, value)
        if signal in MANUFACTURER_SIGNALS and not any(e.vendor and not e.rule_id.startswith("mention.") for e in evs):
            stated = engine.stated_maker(signal, value)
            if stated is not None:   # the field's own statement, in place of the weaker mention of the same name
                evs = [e for e in evs if not e.rule_id.startswith("mention.")] + [stated]
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
                    oev = engine.oui_evidence(m)
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
        mev = engine.oui_evidence(mac)
        if mev is not None:
            evidence.append(mev)

    # model rules on every distinct model candidate: maker and category evidence
    seen_models: set[str] = set()
    for c in cands["model"]:
        if c.value in seen_models:
            continue
        seen_models.add(c.value)
        for mr, _ in engine.match_model(c.value):
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

    brand = _brand(vendor, evidence)
    related = _related_to(engine, vendor, evidence)
    conflicts = tuple(
        Conflict(v, round(s, 3), tuple(sorted({e.rule_id for e in evidence if e.vendor == v})))
        for v, s in sorted(scores.items(), key=lambda kv: -kv[1])
        if v != vendor and s >= CONFLICT_SCORE and v not in related)

    model = _best(cands["model"], vendor)
    if vendor is not None and texts:
        # the named maker's own model numbering inside a title, banner, realm or certificate settles the kind
        # (never the maker: a word that looks like another maker's part number names nobody)
        for tok in dict.fromkeys(t for text in texts for t in model_tokens(text)):
            if tok in seen_models:
                continue
            for mr, _ in engine.match_model(tok):
                if mr.maker in related:
                    evidence.append(Evidence(mr.id, "model", tok, mr.maker, mr.brand, mr.confidence,
                                             mr.category))
                    model = model or tok
    category = _category(engine, vendor, related, evidence)
    if mac is None:
        # a MAC the named maker's own rule read (a realm carrying the unit's MAC) when nothing observed one
        mac = _best(cands["mac"], vendor)
    firmware = _best(cands["firmware"], vendor)
    serial = _best(cands["serial"], vendor)
    return Identification(
        vendor=vendor, brand=brand, model=model, firmware=firmware, serial=serial, mac=mac,
        category=category, confidence=round(confidence, 3),
        concerns=engine.concerns_for(vendor, brand, concern_lists),
        advisories=engine.advisories_for(vendor, model, firmware),
        evidence=tuple(evidence), conflicts=conflicts,
        oui_org=engine.ieee_org(mac) if mac else None)


def _brand(vendor: str | None, evidence: list[Evidence]) -> str | None:
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

def _related_to(engine: Engine, vendor: str | None, evidence: list[Evidence]) -> set[str]:
    if vendor is None:
        return set()
    rel = {vendor}
    for e in evidence:
        if e.brand is not None:
            rel.add(e.brand)
    for pair in engine.related_pairs:
        if vendor in pair:
            rel |= pair
    return rel

def _category(engine: Engine, vendor: str | None, related: set[str], evidence: list[Evidence]) -> str:
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
        maker = engine.db.makers[vendor]
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


def model_tokens(text: str) -> list[str]:
    """Words of a free text that could be model numbers: letters and digits both, 4-48 characters."""
    out = []
    for m in _MODEL_TOKEN.finditer(text[:512]):
        tok = m.group(0).rstrip("./-_+")
        if len(tok) >= 4 and any(c.isdigit() for c in tok) and any(c.isalpha() for c in tok):
            out.append(tok)
    return out


def _best(cands: list[_Candidate], vendor: str | None) -> str | None:
    pool = [c for c in cands if c.vendor is None or c.vendor == vendor]
    if not pool:
        return None
    return max(pool, key=lambda c: c.prio).value


def identification_to_dict(ident: Identification, device_id: str | None = None) -> dict[str, Any]:
    """The `camscan identify` JSON shape for one device."""
    d: dict[str, Any] = {}
    if device_id is not None:
        d["id"] = device_id
    d.update({
        "vendor": ident.vendor, "brand": ident.brand, "model": ident.model, "firmware": ident.firmware,
        "category": ident.category, "confidence": ident.confidence, "concerns": list(ident.concerns),
        "advisories": [a.to_dict() for a in ident.advisories], "evidence": [e.to_dict() for e in ident.evidence],
        "conflicts": [c.to_dict() for c in ident.conflicts],
    })
    return d
