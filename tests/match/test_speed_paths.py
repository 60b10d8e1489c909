"""The matcher's fast paths answer exactly what the slow, obviously right paths would, on every real example of
the database and on random and hostile strings: the index against trying every rule, the one-scan search for
required texts against `in`, the engine against a reference built from the rules alone, the MAC shortcut against
normalise_mac, the mention pre-check and the WS-Discovery scrub shortcut against their plain forms."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterator

import pytest

from scanner.macaddr import normalise_mac
from scanner.match import composite
from scanner.match.engine import MENTION_CONFIDENCE, MENTION_SIGNALS, Engine, get_engine
from scanner.match.index import _TextScan, build, required_options
from scanner.match.load import Rule
from scanner.match.verify import example_value
from scanner.signals import COMPOSITE
from tests.match.test_index import _naive

# characters that trip case folding, Unicode lowering and UTF-8 writers, beside what banners are made of
TRICKY = "İıKΣςßﬁ\u0307\ud800\x00\t\n é中"
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =\"'/:._-<>,;()" + TRICKY


@pytest.fixture(scope="module")
def engine() -> Engine:
    return get_engine()


def _examples(eng: Engine) -> list[tuple[str, str]]:
    db = eng.db
    out = [(r.signal, ex.value) for r in db.rules for ex in r.examples]
    out += [(r.signal, example_value(r, ex.value)) for r in db.rules for ex in r.examples if r.field]
    return list(dict.fromkeys(out))


def _hostile(rng: random.Random, values: list[str], n: int) -> Iterator[str]:
    """Mutated, spliced, re-cased, repeated and random strings around the real values."""
    for _ in range(n):
        k = rng.random()
        base = rng.choice(values)
        if k < 0.35:
            chars = list(base)
            for _ in range(rng.randrange(1, 5)):
                i = rng.randrange(len(chars) + 1)
                op = rng.random()
                if op < 0.3 and i < len(chars):
                    del chars[i]
                elif op < 0.6 and i < len(chars):
                    chars[i] = rng.choice(ALPHABET)
                else:
                    chars.insert(i, rng.choice(ALPHABET))
            yield "".join(chars)
        elif k < 0.5:
            other = rng.choice(values)
            yield base[: rng.randrange(len(base) + 1)] + other[rng.randrange(len(other) + 1):]
        elif k < 0.6:
            yield base.swapcase() if rng.random() < 0.5 else base.upper()
        elif k < 0.7:
            yield rng.choice(["", " ", "\t", "x"]) + base + rng.choice(["", " ", "İ", base])
        elif k < 0.8:
            yield base * rng.randrange(2, 5)
        else:
            yield "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 80)))


def test_index_equals_trying_every_rule_on_hostile_strings(engine: Engine) -> None:
    keyed: dict[tuple[str, str | None], list[Rule]] = defaultdict(list)
    for r in engine.db.rules:
        keyed[(r.signal, r.field)].append(r)
    rng = random.Random(20)
    checked = 0
    for rules in keyed.values():
        idx = build(rules)
        own = [example_value(r, ex.value) for r in rules for ex in r.examples] or ["x"]
        for v in list(_hostile(rng, own, 150)) + own:
            hits = idx.match(v)
            got = {(r.id, tuple(sorted(f))) for r, f in hits}
            assert got == _naive(rules, v), (rules[0].signal, rules[0].field, v)
            assert len(hits) == len(got), ("a rule reported twice", v)   # one hit per rule, once
            checked += 1
    assert checked > 5_000


def test_text_scan_finds_exactly_the_texts_in_the_value(engine: Engine) -> None:
    """Every key's required texts (and a hostile set: overlapping, nested, repeated), scanned against `in`."""
    values = [v for _, v in _examples(engine)]
    rng = random.Random(21)
    sets: list[list[tuple[str, bool]]] = []
    by_signal: dict[str, dict[tuple[str, bool], None]] = defaultdict(dict)
    for r in engine.db.rules:
        if r.kind == "regex":
            for option in required_options(r.pattern):
                by_signal[r.signal].update(dict.fromkeys(option))
    sets += [list(texts) for texts in by_signal.values()]
    sets.append([("aa", False), ("aaa", False), ("aab", True), ("ab", False), ("b", True), ("realm=\"", False),
                 ("REALM", False), ("realm=\"x", True), ("k", True), ("i", True)])
    # overlapping texts on one anchor, within each other and not; and a long-value sample that makes the
    # texts whose every character is common into 'in' tests
    sets.append([("type", False), ("devicetype", False), ("<devicetype>ipcamera", True), ("prodtype", True),
                 ("mini", True), ("solo", True), ("pe>", False), ("ety", True)])
    samples: list[list[str]] = [[], [v.lower() for v in values[:400]], ["mini solo type " * 20] * 5]
    for n, texts in enumerate(sets):
        for sample in samples if n >= len(sets) - 2 else samples[:2]:
            scan = _TextScan([(i, t, ci) for i, (t, ci) in enumerate(texts)], sample)
            for v in list(_hostile(rng, values, 300)) + values[:300] + ["aaaa", "AAB", "xRealm=\"X", "İ", "K",
                                                                      "<DeviceType>IPCamera", "deviceTYPE mini"]:
                low = v.lower()
                want = {i for i, (t, ci) in enumerate(texts) if t in (low if ci else v)}
                assert (scan.find(v, low) or set()) == want, (texts[:3], v)
                # what the index does inline: the regex's search, then its texts, then the loose texts by 'in'
                got: set[int] = set()
                m = scan.quick(low) if scan.quick is not None else None
                got |= (scan.part(v, low, m) or set()) if m is not None else set()
                got |= {i for i, t, exact in scan.loose if t in low and (exact is None or exact in v)}
                assert got == want, (texts[:3], v)


def _reference(eng: Engine, signal: str, value: str) -> list[tuple[object, ...]]:
    """What matching must answer, from the rules alone: every rule tried, composite parsed, OUI looked up."""
    db = eng.db
    link = {b.slug: b.confidence for b in db.brands.values()}
    by_id = {r.id: r for r in db.rules}
    out = []

    def ev(rule_id: str, text: str, fields: tuple[tuple[str, str], ...], fld: str | None) -> None:
        r = by_id[rule_id]
        conf = r.confidence * (link.get(r.brand, 1.0) if r.brand is not None and r.brand != r.maker else 1.0)
        out.append((r.id, signal, text, r.maker, r.brand, conf, r.category, fields, fld))

    plain = [r for r in db.rules if r.signal == signal and r.field is None]
    for rid, fields in _naive(plain, value):
        ev(rid, value, fields, None)
    if signal in COMPOSITE:
        try:
            parsed = composite.PARSERS[signal](value)
        except composite.CompositeError:
            parsed = {}
        for fld, fv in parsed.items():
            for rid, fields in _naive([r for r in db.rules if r.signal == signal and r.field == fld], fv):
                ev(rid, fv, fields, fld)
    elif signal == "mac":
        mac = normalise_mac(value)
        if mac is not None and not int(mac[:2], 16) & 0x03:
            hexd = mac.replace(":", "").upper()
            for n in sorted({len(p) for p in db.oui}, reverse=True):
                maker = db.oui.get(hexd[:n])
                if maker is not None:
                    brand = db.oui_brand.get(hexd[:n])
                    conf = db.makers[maker].oui_confidence * (link.get(brand, 1.0) if brand else 1.0)
                    out.append((f"oui.{maker}", "mac", mac, maker, brand, conf, None, (("mac", mac),), None))
                    break
    if signal in MENTION_SIGNALS and not any(e[3] for e in out):
        hit = eng._mentions.find(value)
        if hit is not None:
            maker, brand = hit
            conf = MENTION_CONFIDENCE * (link.get(brand, 1.0) if brand else 1.0)
            out.append((f"mention.{maker}", signal, value, maker, brand, conf, None, (), None))
    return sorted(out, key=repr)


def test_engine_equals_the_reference_on_examples_and_hostile_strings(engine: Engine) -> None:
    cold = Engine(engine.db, memo=0)
    obs = _examples(engine)
    rng = random.Random(22)
    signals = sorted({s for s, _ in obs})
    values = [v for _, v in obs]
    obs += [(rng.choice(signals), v) for v in _hostile(rng, values, 3000)]
    obs += [("mac", ":".join(f"{rng.randrange(256):02x}" for _ in range(6))) for _ in range(300)]
    for s, v in obs:
        got = sorted(((*e[:7], tuple(sorted(e.fields)), e.field) for e in cold.match(s, v)[0]), key=repr)
        assert got == _reference(engine, s, v), (s, v)
        assert engine.match(s, v) == cold.match(s, v)   # the memo answers what matching does


def test_mac_shortcut_equals_normalise_mac(engine: Engine) -> None:
    rng = random.Random(23)
    hexes = "0123456789abcdefABCDEFgG:-. İK"
    cases = ["00:1A:2b:3C:4d:5E", " 00:1a:2b:3c:4d:5e\t", "00:1a:2b:3c:4d:5e:", "0:1a:2b:3c:4d:5e", "001a.2b3c.4d5e",
             "001A2B3C4D5E", "00-1a-2b-3c-4d-5e", "00:1a:2b:3c:4d:5\u0130", "\uff10\uff10:1a:2b:3c:4d:5e"]
    cases += ["".join(rng.choice(hexes) for _ in range(rng.randrange(10, 19))) for _ in range(3000)]
    cases += [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(500)]
    # MA-M and MA-S blocks (7 and 9 hex digits) and their MA-L block around them: the longest prefix wins
    for p in [p for p in engine.db.oui if len(p) > 6]:
        for hexd in (p + "".join(rng.choice("0123456789ABCDEF") for _ in range(12 - len(p))),
                     p[:6] + "".join(rng.choice("0123456789ABCDEF") for _ in range(6))):
            cases.append(":".join(hexd[i:i + 2] for i in range(0, 12, 2)))
    assert any(len(p) > 6 for p in engine.db.oui)
    for c in cases:
        ev = engine.oui_evidence(c)
        assert ([tuple(ev)] if ev is not None else []) == _reference(engine, "mac", c), c


def test_mention_precheck_equals_the_word_loop(engine: Engine) -> None:
    mentions = engine._mentions
    names = list(mentions.names)

    def loop(value: str) -> tuple[str, str | None] | None:
        for word in re.findall(r"[A-Za-z0-9]+", value):
            for name, rx in mentions._by_first.get(word, ()):
                if rx is None or rx.search(value):
                    return mentions.names[name]
        return None

    rng = random.Random(24)
    values = [v for _, v in _examples(engine)] + [f"x {n} y" for n in names] + [f"{n}x" for n in names]
    # several first words of names, in either order, some only the start of a longer name: the earliest that
    # begins a name the value holds wins
    firsts = [re.match(r"[A-Za-z0-9]+", n).group(0) for n in names]   # type: ignore[union-attr]
    values += [f"{rng.choice(firsts)} - {rng.choice(names)}; {rng.choice(firsts)} {rng.choice(names)}"
               for _ in range(2000)]
    for v in values + list(_hostile(rng, values, 3000)):
        assert mentions.find(v) == loop(v), v


def test_scopes_scrub_shortcut_equals_scrubbing_every_field() -> None:
    def plain(text: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for scope in re.split(r"\s+", text.strip()):
            if scope[: len(composite.ONVIF_SCOPE_PREFIX)].lower() != composite.ONVIF_SCOPE_PREFIX:
                continue
            key, _, rest = scope[len(composite.ONVIF_SCOPE_PREFIX):].partition("/")
            key = composite._scrub(key.lower())
            if not key:
                continue
            value = composite._scrub(composite.unquote(rest, errors="replace").strip())
            if key in composite._MULTI_KEYS and key in out:
                if value and value not in out[key].split(" "):
                    out[key] = f"{out[key]} {value}".strip()
            elif key not in out or not out[key]:
                out[key] = value
        return out

    rng = random.Random(25)
    base = ["onvif://www.onvif.org/name/Cam%20One onvif://www.onvif.org/hardware/DS-2CD2143G0-I "
            "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/type/ptz",
            "ONVIF://www.onvif.org/Location/country/china onvif://www.onvif.org/mac/%ED%A0%80%FF",
            "onvif://www.onvif.org/name/\ud800x onvif://www.onvif.org/name/y"]
    bits = ["%ED%A0%80", "%F0%90%80%80", "%C3", "%25", "%", "\ud800", "\udfff", "/", " ", "İ", "\x1c", "\u2003",
            "\xa0", "\u0085", "\u200b", "\t\n", "onvif://www.onvif.org/", "ONVIF://WWW.ONVIF.ORG/"]
    for v in base + [b + "".join(rng.choice(bits) for _ in range(rng.randrange(4))) for b in base * 300]:
        assert composite.parse_scopes(v) == plain(v), v


def test_dhip_scrub_shortcut_equals_scrubbing_every_field() -> None:
    """DHIP fields are scrubbed only when the text holds a surrogate or a \\u escape: the same as always."""
    def plain(text: str) -> dict[str, str]:
        doc = composite.json.loads(text[text.find("{"):text.rfind("}") + 1])
        out = {k: composite._scrub(doc[k]) for k in ("method", "mac") if isinstance(doc.get(k), str)}
        params = doc.get("params")
        info = params.get("deviceInfo") if isinstance(params, dict) else None
        if isinstance(info, dict):
            composite._flatten("deviceInfo.", info, out, 0, True)
        return out

    rng = random.Random(26)
    keys = ["DeviceType", "SerialNo", "Version", "Name\\ud800", "a\\u00e9", "\ud83d", "x"]
    vals = ['"IPC-HDW1230"', '"\\udc00"', '"\\ud83d\\ude00"', '"\ud800"', "12", "true", "1.5", '{"k": "\\udfff"}',
            '"\\u0041"', '"plain"']
    for _ in range(2000):
        info = ", ".join(f'"{rng.choice(keys)}": {rng.choice(vals)}' for _ in range(rng.randrange(1, 5)))
        head = f'{{"mac": {rng.choice(vals)}, "method": "client.notifyDevInfo", '
        text = head + f'"params": {{"deviceInfo": {{{info}}}}}}}'
        try:
            want = plain(text)
        except ValueError:
            continue
        assert composite.parse_dhip(text) == want, text
