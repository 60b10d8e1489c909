"""Load and validate the fingerprint database (YAML) into typed records; errors name file, rule, field."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import pickle
import re
import sys
import tempfile
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml

from scanner.errors import FingerprintError
from scanner.match.firmware import FirmwareRange, compare_versions, parse_bound, parse_build
from scanner.signals import COMPOSITE, SIGNALS

#: `video`: a surveillance device whose kind (camera, recorder, ...) the evidence does not settle.
CATEGORIES: Final = ("camera", "nvr", "dvr", "anpr", "encoder", "bodyworn", "drone", "video", "other", "unknown")
SURVEILLANCE_CATEGORIES: Final = frozenset(CATEGORIES) - {"other", "unknown"}
FIELD_GROUPS: Final = frozenset({"model", "firmware", "serial", "mac"})
RELATIONS: Final = frozenset({"oem", "subsidiary", "former_subsidiary", "own_brand"})
SPECIAL_FILES: Final = frozenset({"oem.yaml", "concerns.yaml", "advisories.yaml", "generic.yaml", "probes.yaml"})
DEFAULT_OUI_CONFIDENCE: Final = 0.3
CACHE_KEEP: Final = 8   # validated databases kept in the cache (one per fingerprint folder version)
_SLUG = re.compile(r"^[a-z0-9]+$")
_OUI = re.compile(r"^[0-9A-F]{2}(?::[0-9A-F]{2}){2}(?::[0-9A-F])?(?::[0-9A-F]{2})?$")
_GROUP_NAME = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")

_MAKER_KEYS: Final = frozenset({"maker", "name", "legal_name", "aliases", "surveillance", "video_only",
                                "video_only_source", "video_mostly", "video_mostly_source", "oui", "rules",
                                "models", "note"})

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Example:
    """A real value a rule must match; `fields` None means: must extract no fields."""

    value: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One matcher on one signal (and, for composite signals, one field)."""

    id: str
    maker: str | None          # real maker slug; None for generic rules
    brand: str | None
    signal: str
    field: str | None
    kind: str                  # equals | prefix | regex
    pattern: str
    ci: bool
    confidence: float
    category: str | None
    source: str
    examples: tuple[Example, ...]
    file: str
    shared_by: tuple[str, ...] = ()
    mac_in_oui: bool = False   # holds only when its `mac` field lies in a block registered to its maker


@dataclass(frozen=True, slots=True)
class ModelRule:
    """A model-number pattern: gives a category (and maker evidence) for a device's model."""

    id: str
    maker: str
    brand: str | None
    regex: str
    category: str
    confidence: float
    source: str
    examples: tuple[str, ...]
    file: str

    @property
    def kind(self) -> str:
        """Model rules are always regexes."""
        return "regex"

    @property
    def pattern(self) -> str:
        """The regex (the index's name for it)."""
        return self.regex

    @property
    def ci(self) -> bool:
        """Case is part of the regex itself."""
        return False


@dataclass(frozen=True, slots=True)
class Maker:
    """A real maker: names, whether it makes surveillance kit, OUI ownership."""

    slug: str
    name: str
    legal_name: str
    aliases: tuple[str, ...]
    surveillance: bool
    oui_organisations: tuple[str, ...]
    oui_prefixes: tuple[str, ...]
    oui_confidence: float
    file: str
    video_only: bool = False   # every networked product it makes is a video device (cameras, recorders, doorbells)
    video_mostly: bool = False  # nearly all it makes is video kit; its other lines are named by rules (`other`)


@dataclass(frozen=True, slots=True)
class Brand:
    """A name on the box and the real maker behind it."""

    slug: str
    name: str
    maker: str
    relation: str
    confidence: float
    evidence: str
    source: str
    aliases: tuple[str, ...]
    oui_organisations: tuple[str, ...] = ()   # IEEE MA-L blocks registered in the brand's own name
    oui_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConcernList:
    """A named public list of makers of concern."""

    id: str
    name: str
    source: str
    date: str
    makers: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Advisory:
    """A published vulnerability for a maker's model family; `ranges` empty: the fix is not published."""

    id: str
    maker: str
    title: str
    models: str
    ranges: tuple[FirmwareRange, ...]
    source: str
    severity: str
    kev: str = ""                      # date CISA added it to the Known Exploited Vulnerabilities catalog
    references: tuple[str, ...] = ()   # further public sources (NVD, researcher, CISA)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Database:
    """The whole validated fingerprint database."""

    root: str
    version: str
    makers: dict[str, Maker]
    brands: dict[str, Brand]
    rules: tuple[Rule, ...]
    model_rules: tuple[ModelRule, ...]
    concerns: tuple[ConcernList, ...]
    advisories: tuple[Advisory, ...]
    oui: dict[str, str] = field(default_factory=dict)   # "AABBCC" (or 7/9 hex digits) -> maker slug
    oui_claims: dict[str, tuple[str, ...]] = field(default_factory=dict)  # prefix -> every claimant
    ieee: dict[str, str] = field(default_factory=dict)   # the whole MA-L registry: "AABBCC" -> organisation
    oui_brand: dict[str, str] = field(default_factory=dict)   # prefix -> brand slug, for blocks in a brand's name
    mention_stopwords: frozenset[str] = frozenset()   # aliases too common as words to count as a mention


def default_root() -> Path:
    """The fingerprint folder: $CAMSCAN_FINGERPRINTS, else the wheel's scanner/_fingerprints, else the checkout's."""
    env = os.environ.get("CAMSCAN_FINGERPRINTS")
    if env:
        return Path(env)
    # An installed wheel holds the database as package data; a checkout (editable install, PYTHONPATH) keeps it at
    # the top as fingerprints/, read in place so that rule authors' edits take effect at once.
    shipped = resources.files("scanner") / "_fingerprints"
    if isinstance(shipped, Path) and shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "fingerprints"


class _Ctx:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, msg: str) -> FingerprintError:
        return FingerprintError(f"{self.file}: {where}: {msg}")


def _str(ctx: _Ctx, where: str, d: dict[str, Any], key: str, *, required: bool = True,
         default: str = "") -> str:
    v = d.get(key)
    if v is None:
        if required:
            raise ctx.fail(where, f"field '{key}' is required")
        return default
    if isinstance(v, datetime.date):
        return v.isoformat()   # YAML reads an unquoted 2021-03-12 as a date
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise ctx.fail(where, f"field '{key}' must be a string")
    return str(v)


def _strlist(ctx: _Ctx, where: str, d: dict[str, Any], key: str) -> tuple[str, ...]:
    v = d.get(key)
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ctx.fail(where, f"field '{key}' must be a list of strings")
    return tuple(v)


def _confidence(ctx: _Ctx, where: str, d: dict[str, Any], default: float | None = None) -> float:
    v = d.get("confidence", default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < float(v) <= 1:
        raise ctx.fail(where, "field 'confidence' must be a number in (0, 1]")
    return float(v)


def _category(ctx: _Ctx, where: str, d: dict[str, Any], *, required: bool) -> str | None:
    v = d.get("category")
    if v is None:
        if required:
            raise ctx.fail(where, "field 'category' is required")
        return None
    if v not in CATEGORIES:
        raise ctx.fail(where, f"field 'category' is {v!r}; must be one of {', '.join(CATEGORIES)}")
    return str(v)


# patterns this Python's re compiled before (from the cache): a rule edit compiles only what changed
_COMPILED_BEFORE: ContextVar[frozenset[str]] = ContextVar("compiled_before", default=frozenset())


def _check_regex(ctx: _Ctx, where: str, pattern: str) -> None:
    if pattern not in _COMPILED_BEFORE.get():
        try:
            re.compile(pattern)
        except re.error as e:
            raise ctx.fail(where, f"regex does not compile: {e}") from None
    bad = set(_GROUP_NAME.findall(pattern)) - FIELD_GROUPS
    if bad:
        raise ctx.fail(where, f"regex uses named groups {sorted(bad)}; only {sorted(FIELD_GROUPS)} allowed")


def _rule(ctx: _Ctx, raw: Any, maker: str | None, idx: int, forced_brand: str | None = None) -> Rule:
    where = f"rules[{idx}]"
    if not isinstance(raw, dict):
        raise ctx.fail(where, "must be a mapping")
    rid = _str(ctx, where, raw, "id")
    where = f"rule {rid}"
    prefix = f"{maker}." if maker else ("generic." if forced_brand is None else f"{forced_brand}.")
    if not rid.startswith(prefix):
        raise ctx.fail(where, f"id must start with '{prefix}'")
    signal = _str(ctx, where, raw, "signal")
    if signal not in SIGNALS:
        raise ctx.fail(where, f"field 'signal' is {signal!r}, not in the vocabulary (scanner/signals.py)")
    fld = raw.get("field")
    if fld is not None:
        if signal not in COMPOSITE:
            raise ctx.fail(where, f"field 'field' is only allowed on composite signals ({sorted(COMPOSITE)})")
        if not isinstance(fld, str) or not fld:
            raise ctx.fail(where, "field 'field' must be a non-empty string")
    kinds = [k for k in ("equals", "prefix", "regex") if k in raw]
    if len(kinds) != 1:
        raise ctx.fail(where, "exactly one of equals, prefix, regex is required")
    kind = kinds[0]
    pattern = _str(ctx, where, raw, kind)
    if not pattern:
        raise ctx.fail(where, f"field '{kind}' is empty")
    ci = bool(raw.get(f"{kind}_ci", False))
    if kind == "regex":
        _check_regex(ctx, where, pattern)
    else:
        pattern = pattern.strip()
    brand = raw.get("brand", forced_brand)
    if brand is not None and (not isinstance(brand, str) or not _SLUG.match(brand)):
        raise ctx.fail(where, f"field 'brand' must be a slug, got {brand!r}")
    source = _str(ctx, where, raw, "source")
    examples = _examples(ctx, where, raw.get("examples"))
    shared = _strlist(ctx, where, raw, "shared_by")
    known = {"id", "signal", "field", "equals", "prefix", "regex", "equals_ci", "prefix_ci", "confidence",
             "category", "brand", "source", "examples", "shared_by", "note", "mac_in_oui"}
    unknown = set(raw) - known
    if unknown:
        raise ctx.fail(where, f"unknown fields {sorted(unknown)}")
    mac_in_oui = raw.get("mac_in_oui", False)
    if not isinstance(mac_in_oui, bool):
        raise ctx.fail(where, "field 'mac_in_oui' must be true or false")
    if mac_in_oui and (maker is None or fld is not None or kind != "regex" or "(?P<mac>" not in pattern):
        raise ctx.fail(where, "mac_in_oui needs a maker's regex rule on a plain signal with a (?P<mac>...) group")
    return Rule(rid, maker, brand, signal, fld, kind, pattern, ci, _confidence(ctx, where, raw),
                _category(ctx, where, raw, required=False), source, examples, ctx.file, shared, mac_in_oui)


def _examples(ctx: _Ctx, where: str, raw: Any) -> tuple[Example, ...]:
    if not isinstance(raw, list) or not raw:
        raise ctx.fail(where, "field 'examples' must list at least one real example")
    out: list[Example] = []
    for i, e in enumerate(raw):
        if isinstance(e, str | int | float) and not isinstance(e, bool):
            out.append(Example(str(e)))
        elif isinstance(e, dict) and "value" in e:
            fields = e.get("fields") or {}
            if not isinstance(fields, dict) or set(fields) - FIELD_GROUPS:
                raise ctx.fail(where, f"examples[{i}].fields must map {sorted(FIELD_GROUPS)} to strings")
            out.append(Example(str(e["value"]), tuple(sorted((k, str(v)) for k, v in fields.items()))))
        else:
            raise ctx.fail(where, f"examples[{i}] must be a string or {{value, fields}}")
    return tuple(out)


def _model_rule(ctx: _Ctx, raw: Any, maker: str, idx: int) -> ModelRule:
    where = f"models[{idx}]"
    if not isinstance(raw, dict):
        raise ctx.fail(where, "must be a mapping")
    rid = _str(ctx, where, raw, "id")
    where = f"model rule {rid}"
    if not rid.startswith(f"{maker}."):
        raise ctx.fail(where, f"id must start with '{maker}.'")
    rx = _str(ctx, where, raw, "regex")
    _check_regex(ctx, where, rx)
    cat = _category(ctx, where, raw, required=True)
    assert cat is not None
    ex = _strlist(ctx, where, raw, "examples")
    if not ex:
        raise ctx.fail(where, "field 'examples' must list at least one real model number")
    brand = raw.get("brand")
    if brand is not None and (not isinstance(brand, str) or not _SLUG.match(brand)):
        raise ctx.fail(where, f"field 'brand' must be a slug, got {brand!r}")
    return ModelRule(rid, maker, brand, rx, cat, _confidence(ctx, where, raw, 0.9),
                     _str(ctx, where, raw, "source"), ex, ctx.file)


def _video_only(ctx: _Ctx, doc: dict[str, Any], key: str) -> bool:
    v = doc.get(key, False)
    if not isinstance(v, bool):
        raise ctx.fail(f"field '{key}'", "must be true or false")
    if v and not doc.get(f"{key}_source"):
        raise ctx.fail(f"field '{key}'", f"needs '{key}_source': where the product range is published")
    if v and not doc.get("surveillance", True):
        raise ctx.fail(f"field '{key}'", "contradicts surveillance: false")
    return v


def _read(name: str, data: bytes) -> Any:
    try:
        return yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as e:
        raise FingerprintError(f"{name}: not valid YAML: {e}") from None


def _normalise_prefix(ctx: _Ctx, where: str, p: str) -> str:
    up = p.strip().upper().replace("-", ":")
    if not _OUI.match(up):
        raise ctx.fail(where, f"OUI prefix {p!r} must look like AA:BB:CC (or AA:BB:CC:D / AA:BB:CC:DD:E)")
    return up.replace(":", "")


def load_database(root: Path | str | None = None, *, cache: bool | None = None) -> Database:
    """Load every YAML file under root (default: default_root()); FingerprintError on the first problem.

    A database already validated with the same YAML bytes, loader code and IEEE registry is read back
    from the user's cache (see cache_dir(); cache=False or CAMSCAN_FINGERPRINT_CACHE=0 turns it off).
    """
    base = Path(root) if root is not None else default_root()
    if not base.is_dir():
        raise FingerprintError(f"fingerprint folder {base} does not exist")
    blobs = [(path, path.read_bytes()) for path in sorted(base.glob("*.yaml"))]
    digest = hashlib.sha256()
    for path, data in blobs:
        digest.update(path.name.encode() + b"\0" + data)
    use_cache = cache if cache is not None else os.environ.get("CAMSCAN_FINGERPRINT_CACHE", "1") != "0"
    key = _cache_key(digest.hexdigest()) if use_cache else None
    if key is not None:
        cached = _cache_read(key)
        if cached is not None:
            return dataclasses.replace(cached, root=str(base))
    before = _regexes_cached() if use_cache else None
    token = _COMPILED_BEFORE.set(before[1] if before is not None else frozenset())
    try:
        db = _parse(base, blobs, digest.hexdigest()[:12], _ieee_cached() if use_cache else None)
    finally:
        _COMPILED_BEFORE.reset(token)
    if key is not None:
        _cache_write(key, db)
    if before is not None:
        patterns = frozenset(_patterns(db))
        if patterns != before[1]:
            _pickle_to(f"regexes-{before[0]}.pickle", patterns, 2)
    return db


def _patterns(db: Database) -> list[str]:
    """Every regex of a validated database (all compiled)."""
    out = [r.pattern for r in db.rules if r.kind == "regex"] + [m.regex for m in db.model_rules]
    for a in db.advisories:
        out += [a.models] + [r.models for r in a.ranges if r.models is not None]
    return out


def _regexes_cached() -> tuple[str, frozenset[str]]:
    """(cache key, the patterns this Python's re compiled in the last database validated)."""
    key = hashlib.sha256(b"regexes\0" + sys.version.encode()).hexdigest()[:32]   # what compiles is re's (Python's)
    got = _unpickle(cache_dir() / f"regexes-{key}.pickle")
    return key, (got if isinstance(got, frozenset) and all(isinstance(p, str) for p in got) else frozenset())


def cache_dir() -> Path:
    """Where validated databases are cached: $XDG_CACHE_HOME/camscan (default ~/.cache/camscan)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "camscan"


def _cache_key(yaml_digest: str) -> str | None:
    """The cache file key of what yaml_digest names, given the IEEE registry, this loader and Python; None when
    they cannot be read."""
    try:
        import netaddr.eui

        reg = (Path(netaddr.eui.__file__).parent / "oui.txt").stat()
        code = Path(__file__).read_bytes() + (Path(__file__).parent / "firmware.py").read_bytes()
    except OSError:
        return None
    h = hashlib.sha256(yaml_digest.encode() + code + f"{reg.st_size}:{reg.st_mtime_ns}".encode()
                       + sys.version.encode())
    return h.hexdigest()[:32]


def _cache_read(key: str) -> Database | None:
    db = _unpickle(cache_dir() / f"fingerprints-{key}.pickle")
    return db if isinstance(db, Database) else None


def _unpickle(path: Path) -> Any:
    """What a cache file holds, or None (missing, unreadable, or not written by this user in a safe folder)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        dst = os.stat(path.parent)
        # only a file this user wrote, in a folder nobody else can write (a pickle runs code when read)
        if st.st_uid != os.getuid() or st.st_mode & 0o022 or dst.st_uid != os.getuid() or dst.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb") as f:
            fd = -1
            db = pickle.load(f)
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    return db


def _cache_write(key: str, db: Database) -> None:
    _pickle_to(f"fingerprints-{key}.pickle", db, CACHE_KEEP)


def _pickle_to(name: str, obj: Any, keep: int) -> None:
    """Write obj to the cache as name ('<kind>-<key>.pickle'), keeping the newest `keep` files of its kind."""
    folder = cache_dir()
    kind = name.split("-", 1)[0]
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        kept = sorted(folder.glob(f"{kind}-*.pickle"), key=lambda q: q.stat().st_mtime)
        for old in kept[:-keep + 1]:
            old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{kind}-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, folder / name)
    except OSError:
        return   # a read-only home only costs the next run its speed


def _ieee_cached() -> dict[str, str] | None:
    """ieee_registry() kept in the cache beside the databases, keyed by the registry file and this loader: a
    rule edit (a database cache miss) does not re-read the 5.7 MB registry. None when it cannot be keyed."""
    key = _cache_key("ieee")   # keyed as a database is (registry file, loader code, Python), by another name
    if key is None:
        return None
    got = _unpickle(cache_dir() / f"ieee-{key}.pickle")
    if isinstance(got, dict):
        return got
    registry = ieee_registry()
    _pickle_to(f"ieee-{key}.pickle", registry, 2)
    return registry


def _parse(base: Path, blobs: list[tuple[Path, bytes]], version: str,
           ieee: dict[str, str] | None = None) -> Database:
    makers: dict[str, Maker] = {}
    rules: list[Rule] = []
    model_rules: list[ModelRule] = []
    raw_special: dict[str, Any] = {}
    for path, data in blobs:
        doc = _read(path.name, data)
        ctx = _Ctx(path.name)
        if path.name in SPECIAL_FILES:
            raw_special[path.name] = doc
            continue
        if not isinstance(doc, dict):
            raise ctx.fail("top level", "must be a mapping")
        extra = set(doc) - _MAKER_KEYS
        if extra:
            raise ctx.fail("top level", f"unknown fields {sorted(extra)}")
        slug = _str(ctx, "top level", doc, "maker")
        if slug != path.stem or not _SLUG.match(slug):
            raise ctx.fail("field 'maker'", f"{slug!r} must be a slug equal to the file name {path.stem!r}")
        oui = doc.get("oui") or {}
        if not isinstance(oui, dict):
            raise ctx.fail("oui", "must be a mapping")
        prefixes = tuple(_normalise_prefix(ctx, "oui.prefixes", p)
                         for p in _strlist(ctx, "oui", oui, "prefixes"))
        if (oui.get("organisations") or prefixes) and not oui.get("source"):
            raise ctx.fail("oui", "field 'source' is required")
        makers[slug] = Maker(
            slug, _str(ctx, "top level", doc, "name"),
            _str(ctx, "top level", doc, "legal_name", required=False),
            _strlist(ctx, "top level", doc, "aliases"), bool(doc.get("surveillance", True)),
            _strlist(ctx, "oui", oui, "organisations"), prefixes,
            _confidence(ctx, "oui", oui, DEFAULT_OUI_CONFIDENCE), path.name, _video_only(ctx, doc, "video_only"),
            _video_only(ctx, doc, "video_mostly"))
        for i, r in enumerate(doc.get("rules") or []):
            rules.append(_rule(ctx, r, slug, i))
        for i, m in enumerate(doc.get("models") or []):
            model_rules.append(_model_rule(ctx, m, slug, i))

    brands = _load_brands(raw_special.get("oem.yaml"), rules)
    gen = raw_special.get("generic.yaml")
    if gen is not None:
        ctx = _Ctx("generic.yaml")
        if not isinstance(gen, dict):
            raise ctx.fail("top level", "must be a mapping")
        for i, r in enumerate(gen.get("rules") or []):
            rules.append(_rule(ctx, r, None, i))
    stop = frozenset(_strlist(_Ctx("generic.yaml"), "top level", gen if isinstance(gen, dict) else {},
                              "mention_stopwords"))
    concerns = _load_concerns(raw_special.get("concerns.yaml"))
    advisories = _load_advisories(raw_special.get("advisories.yaml"))
    db = Database(str(base), version, makers, brands, tuple(rules), tuple(model_rules),
                  concerns, advisories, mention_stopwords=stop)
    _cross_check(db)
    _resolve_ouis(db, ieee)
    return db


def _load_brands(doc: Any, rules: list[Rule]) -> dict[str, Brand]:
    ctx = _Ctx("oem.yaml")
    brands: dict[str, Brand] = {}
    if doc is None:
        return brands
    if not isinstance(doc, dict) or not isinstance(doc.get("brands", []), list):
        raise ctx.fail("top level", "must be a mapping with a 'brands' list")
    for i, b in enumerate(doc.get("brands") or []):
        where = f"brands[{i}]"
        if not isinstance(b, dict):
            raise ctx.fail(where, "must be a mapping")
        slug = _str(ctx, where, b, "brand")
        where = f"brand {slug}"
        if not _SLUG.match(slug):
            raise ctx.fail(where, "brand must be a slug [a-z0-9]+")
        if slug in brands:
            raise ctx.fail(where, "listed twice")
        relation = _str(ctx, where, b, "relation")
        if relation not in RELATIONS:
            raise ctx.fail(where, f"relation {relation!r} must be one of {sorted(RELATIONS)}")
        maker = _str(ctx, where, b, "maker")
        oui = b.get("oui") or {}
        if not isinstance(oui, dict) or set(oui) - {"organisations", "prefixes", "source"}:
            raise ctx.fail(f"{where}: oui", "must be a mapping of organisations, prefixes and source")
        prefixes = tuple(_normalise_prefix(ctx, f"{where}: oui.prefixes", p)
                         for p in _strlist(ctx, f"{where}: oui", oui, "prefixes"))
        if oui and not oui.get("source"):
            raise ctx.fail(f"{where}: oui", "field 'source' is required")
        brands[slug] = Brand(slug, _str(ctx, where, b, "name"), maker, relation,
                             _confidence(ctx, where, b), _str(ctx, where, b, "evidence"),
                             _str(ctx, where, b, "source"), _strlist(ctx, where, b, "aliases"),
                             _strlist(ctx, f"{where}: oui", oui, "organisations"), prefixes)
        for j, r in enumerate(b.get("rules") or []):
            rule = _rule(ctx, r, maker, j, forced_brand=slug)
            rules.append(rule)
    return brands


def _load_concerns(doc: Any) -> tuple[ConcernList, ...]:
    ctx = _Ctx("concerns.yaml")
    if doc is None:
        return ()
    if not isinstance(doc, dict) or not isinstance(doc.get("lists", []), list):
        raise ctx.fail("top level", "must be a mapping with a 'lists' list")
    out: list[ConcernList] = []
    for i, c in enumerate(doc.get("lists") or []):
        where = f"lists[{i}]"
        if not isinstance(c, dict):
            raise ctx.fail(where, "must be a mapping")
        cid = _str(ctx, where, c, "id")
        out.append(ConcernList(cid, _str(ctx, where, c, "name"), _str(ctx, where, c, "source"),
                               _str(ctx, where, c, "date"), _strlist(ctx, where, c, "makers"),
                               _str(ctx, where, c, "note", required=False)))
    return tuple(out)


_ADVISORY_KEYS: Final = frozenset({"id", "maker", "title", "models", "firmware", "source", "severity", "kev",
                                   "references", "note"})
_RANGE_KEYS: Final = frozenset({"models", "from", "to", "below", "build_from", "build_before", "fixed"})
SEVERITIES: Final = ("critical", "high", "medium", "low", "unknown")


def _range(ctx: _Ctx, where: str, raw: Any) -> FirmwareRange:
    if not isinstance(raw, dict) or not raw:
        raise ctx.fail(where, "each firmware range must be a non-empty mapping")
    bad = set(raw) - _RANGE_KEYS
    if bad:
        raise ctx.fail(where, f"firmware range has unknown keys {sorted(bad)}; allowed: {sorted(_RANGE_KEYS)}")
    if not set(raw) & {"from", "to", "below", "build_from", "build_before"}:
        raise ctx.fail(where, "firmware range needs at least one of from, to, below, build_from, build_before")
    models = _str(ctx, where, raw, "models", required=False) or None
    if models is not None:
        _check_regex(ctx, where, models)
    bounds = {}
    for key in ("from", "to", "below"):
        if raw.get(key) is None:
            continue
        try:
            b = parse_bound(_str(ctx, where, raw, key))
        except ValueError as e:
            raise ctx.fail(where, f"firmware '{key}': {e}") from None
        if b.version is None:
            raise ctx.fail(where, f"firmware '{key}' {b.text!r} has no version; use build_from/build_before")
        bounds[key] = b
    dates = {}
    for key in ("build_from", "build_before"):
        if raw.get(key) is None:
            continue
        text = _str(ctx, where, raw, key)
        d = parse_build(f"build {text}")
        if d is None or not re.fullmatch(r"\d{6}|\d{8}|\d{4}-\d{2}-\d{2}", text.strip()):
            raise ctx.fail(where, f"firmware '{key}' {text!r} is not a date (YYMMDD, YYYYMMDD or YYYY-MM-DD)")
        dates[key] = d
    if "build_from" in dates and "build_before" in dates and dates["build_from"] >= dates["build_before"]:
        raise ctx.fail(where, "firmware build_from must be before build_before")
    rng = FirmwareRange(models, bounds.get("from"), bounds.get("to"), bounds.get("below"), dates.get("build_from"),
                        dates.get("build_before"), _str(ctx, where, raw, "fixed", required=False))
    lo = rng.from_
    for hi, strict in ((rng.to, False), (rng.below, True)):
        if lo is None or hi is None or lo.version is None or hi.version is None:
            continue
        c = compare_versions(lo.version, hi.version)
        if c is None or c > 0 or (strict and c == 0 and (lo.build is None or hi.build is None
                                                          or lo.build >= hi.build)):
            raise ctx.fail(where, f"firmware range is empty or not comparable: {lo.text!r} .. {hi.text!r}")
    return rng


def _load_advisories(doc: Any) -> tuple[Advisory, ...]:
    ctx = _Ctx("advisories.yaml")
    if doc is None:
        return ()
    if not isinstance(doc, dict) or not isinstance(doc.get("advisories", []), list):
        raise ctx.fail("top level", "must be a mapping with an 'advisories' list")
    out: list[Advisory] = []
    seen: set[str] = set()
    for i, a in enumerate(doc.get("advisories") or []):
        where = f"advisories[{i}]"
        if not isinstance(a, dict):
            raise ctx.fail(where, "must be a mapping")
        aid = _str(ctx, where, a, "id")
        where = f"advisory {aid}"
        if aid in seen:
            raise ctx.fail(where, "id used twice")
        seen.add(aid)
        bad = set(a) - _ADVISORY_KEYS
        if bad:
            raise ctx.fail(where, f"unknown keys {sorted(bad)}; allowed: {sorted(_ADVISORY_KEYS)}")
        models = _str(ctx, where, a, "models")
        _check_regex(ctx, where, models)
        fw = a.get("firmware")
        raw_ranges = [] if fw is None else [fw] if isinstance(fw, dict) else fw
        if not isinstance(raw_ranges, list):
            raise ctx.fail(where, "field 'firmware' must be a range or a list of ranges")
        ranges = tuple(_range(ctx, f"{where}: firmware[{j}]", r) for j, r in enumerate(raw_ranges))
        source = _str(ctx, where, a, "source").strip()
        if not source:
            raise ctx.fail(where, "field 'source' must name where the advisory is published")
        severity = _str(ctx, where, a, "severity", required=False, default="unknown")
        if severity not in SEVERITIES:
            raise ctx.fail(where, f"field 'severity' is {severity!r}; must be one of {', '.join(SEVERITIES)}")
        kev = _str(ctx, where, a, "kev", required=False)
        if kev and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", kev):
            raise ctx.fail(where, f"field 'kev' is {kev!r}; must be the date CISA added it (YYYY-MM-DD)")
        out.append(Advisory(aid, _str(ctx, where, a, "maker"), _str(ctx, where, a, "title"), models, ranges, source,
                            severity, kev, _strlist(ctx, where, a, "references"),
                            _str(ctx, where, a, "note", required=False)))
    return tuple(out)


def _cross_check(db: Database) -> None:
    for b in db.brands.values():
        if b.maker not in db.makers:
            raise FingerprintError(f"oem.yaml: brand {b.slug}: maker {b.maker!r} has no maker file")
    seen: dict[str, str] = {}
    for r in db.rules:
        if r.id in seen:
            raise FingerprintError(f"{r.file}: rule {r.id}: id also used in {seen[r.id]}")
        seen[r.id] = r.file
        if r.brand is not None:
            linked = db.brands.get(r.brand)
            if r.maker is not None and r.brand != r.maker and (linked is None or linked.maker != r.maker):
                raise FingerprintError(f"{r.file}: rule {r.id}: brand {r.brand!r} is not linked to maker "
                                       f"{r.maker!r} in oem.yaml")
        for s in r.shared_by:
            if s not in db.makers:
                raise FingerprintError(f"{r.file}: rule {r.id}: shared_by names unknown maker {s!r}")
    for m in db.model_rules:
        if m.id in seen:
            raise FingerprintError(f"{m.file}: model rule {m.id}: id also used in {seen[m.id]}")
        seen[m.id] = m.file
    for c in db.concerns:
        for mk in c.makers:
            if mk not in db.makers and mk not in db.brands:
                raise FingerprintError(f"concerns.yaml: list {c.id}: {mk!r} is neither a maker nor a brand")
    for a in db.advisories:
        if a.maker not in db.makers:
            raise FingerprintError(f"advisories.yaml: advisory {a.id}: maker {a.maker!r} has no maker file")


_IEEE_LINE = re.compile(rb"^([0-9A-F]{2})-([0-9A-F]{2})-([0-9A-F]{2})\s+\(hex\)\s+(.+?)\s*$", re.M)


def ieee_registry() -> dict[str, str]:
    """OUI ("AABBCC") -> IEEE organisation name, from netaddr's bundled MA-L registry (no download)."""
    import netaddr.eui

    path = Path(netaddr.eui.__file__).parent / "oui.txt"
    out: dict[str, str] = {}
    for m in _IEEE_LINE.finditer(path.read_bytes()):
        out[(m.group(1) + m.group(2) + m.group(3)).decode()] = m.group(4).decode("utf-8", "replace")
    return out


def _resolve_ouis(db: Database, ieee: dict[str, str] | None = None) -> None:
    by_org: dict[str, list[str]] = {}
    db.ieee.update(ieee if ieee is not None else ieee_registry())
    for prefix, org in db.ieee.items():
        by_org.setdefault(org, []).append(prefix)
    claims: dict[str, list[str]] = {}
    for m in db.makers.values():
        for org in m.oui_organisations:
            if org not in by_org:
                raise FingerprintError(f"{m.file}: oui.organisations: {org!r} is not an organisation name "
                                       "in the IEEE MA-L registry bundled with netaddr")
            for p in by_org[org]:
                claims.setdefault(p, []).append(m.slug)
        for p in m.oui_prefixes:
            claims.setdefault(p, []).append(m.slug)
    for b in db.brands.values():
        for org in b.oui_organisations:
            if org not in by_org:
                raise FingerprintError(f"oem.yaml: brand {b.slug}: oui.organisations: {org!r} is not an "
                                       "organisation name in the IEEE MA-L registry bundled with netaddr")
        for p in [q for org in b.oui_organisations for q in by_org[org]] + list(b.oui_prefixes):
            claims.setdefault(p, []).append(b.maker)
            db.oui_brand[p] = b.slug
    for p, owners in claims.items():
        uniq = tuple(dict.fromkeys(owners))
        db.oui_claims[p] = uniq
        db.oui[p] = uniq[0]
