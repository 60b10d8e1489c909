"""What discovery asks devices for, as data: fingerprints/probes.yaml (design.md "Probe knowledge is data too").

The ports TCP connect-probes, the ports the ONVIF device service and RTSP are tried on, the read-only web
paths asked of an application no evidence has named yet, and the SNMP enterprise objects asked with a
community; each entry says why and where the fact comes from.
Loaded once per process from the fingerprint folder (scanner.match.load.default_root); a bad file is a
FingerprintError naming the entry, raised before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

from scanner.errors import FingerprintError

FILE: Final = "probes.yaml"
PORT_LISTS: Final = ("tcp_ports", "onvif_ports", "rtsp_ports")
METHODS: Final = frozenset({"GET", "POST"})
SNMP_SIGNALS: Final = frozenset({"snmp.model", "snmp.firmware", "snmp.serial", "snmp.object"})
_OID: Final = re.compile(r"1(?:\.(?:0|[1-9]\d*)){4,40}")
MAX_BODY: Final = 4096
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Probe:
    """One read-only request whose answer (200 or 401) shows the path exists."""

    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Probes:
    """Everything probes.yaml lists, in its order."""

    tcp_ports: tuple[int, ...]
    onvif_ports: tuple[int, ...]
    rtsp_ports: tuple[int, ...]
    http_paths: tuple[Probe, ...]
    snmp_objects: tuple[tuple[str, str], ...] = ()   # (OID, the signal its value becomes)


def _text(entry: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    v = entry.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip():
        raise FingerprintError(f"{FILE}: {where}: `{key}` must be a non-empty text")
    return v


def _ports(doc: dict[str, Any], key: str) -> tuple[int, ...]:
    items = doc.get(key)
    if not isinstance(items, list) or not items:
        raise FingerprintError(f"{FILE}: `{key}` must be a non-empty list")
    out: list[int] = []
    for n, e in enumerate(items, 1):
        where = f"{key} entry {n}"
        if not isinstance(e, dict) or set(e) - {"port", "why", "source"}:
            raise FingerprintError(f"{FILE}: {where}: a mapping of port, why and source")
        p = e.get("port")
        if isinstance(p, bool) or not isinstance(p, int) or not 0 < p < 65536:
            raise FingerprintError(f"{FILE}: {where}: port must be a whole number 1-65535, not {p!r}")
        if p in out:
            raise FingerprintError(f"{FILE}: {where}: port {p} is listed twice")
        _text(e, "why", where)
        _text(e, "source", where)
        out.append(p)
    return tuple(out)


def _paths(doc: dict[str, Any]) -> tuple[Probe, ...]:
    items = doc.get("http_paths")
    if not isinstance(items, list):
        raise FingerprintError(f"{FILE}: `http_paths` must be a list")
    out: list[Probe] = []
    for n, e in enumerate(items, 1):
        where = f"http_paths entry {n}"
        if not isinstance(e, dict) or set(e) - {"method", "path", "why", "source", "body", "content_type"}:
            raise FingerprintError(f"{FILE}: {where}: a mapping of method, path, why, source [, body, content_type]")
        method = _text(e, "method", where)
        if method not in METHODS:
            raise FingerprintError(f"{FILE}: {where}: method must be GET or POST (read-only probes), not {method!r}")
        path = _text(e, "path", where) or ""
        if not path.startswith("/") or any(c.isspace() or ord(c) < 32 for c in path):
            raise FingerprintError(f"{FILE}: {where}: path must start with / and hold no spaces or control "
                                   f"characters: {path!r}")
        _text(e, "why", where)
        source = _text(e, "source", where) or ""
        body = _text(e, "body", where, required=False)
        ctype = _text(e, "content_type", where, required=False)
        if (body is None) != (ctype is None) or (body is not None and method != "POST"):
            raise FingerprintError(f"{FILE}: {where}: a body (with its content_type) goes with POST, and only there")
        raw = (body or "").encode("utf-8")
        if len(raw) > MAX_BODY:
            raise FingerprintError(f"{FILE}: {where}: body longer than {MAX_BODY} bytes")
        if any(p.method == method and p.path == path for p in out):
            raise FingerprintError(f"{FILE}: {where}: {method} {path} is listed twice")
        out.append(Probe(method, path, raw, ctype, source))
    return tuple(out)


def _snmp_objects(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    items = doc.get("snmp_objects", [])
    if not isinstance(items, list):
        raise FingerprintError(f"{FILE}: `snmp_objects` must be a list")
    out: list[tuple[str, str]] = []
    for n, e in enumerate(items, 1):
        where = f"snmp_objects entry {n}"
        if not isinstance(e, dict) or set(e) - {"oid", "signal", "why", "source"}:
            raise FingerprintError(f"{FILE}: {where}: a mapping of oid, signal, why and source")
        oid = str(e.get("oid", ""))
        if not _OID.fullmatch(oid):
            raise FingerprintError(f"{FILE}: {where}: oid must be a dotted object identifier, not {oid!r}")
        signal = _text(e, "signal", where)
        if signal not in SNMP_SIGNALS:
            raise FingerprintError(f"{FILE}: {where}: signal must be one of {', '.join(sorted(SNMP_SIGNALS))}")
        _text(e, "why", where)
        _text(e, "source", where)
        if any(o == oid for o, _ in out):
            raise FingerprintError(f"{FILE}: {where}: {oid} is listed twice")
        out.append((oid, signal))
    return tuple(out)


def parse(text: str | bytes) -> Probes:
    """Probes from the text of a probes.yaml; FingerprintError naming the entry if it is not valid."""
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise FingerprintError(f"{FILE}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise FingerprintError(f"{FILE}: the top level must be a mapping")
    extra = set(doc) - {*PORT_LISTS, "http_paths", "snmp_objects"}
    if extra:
        raise FingerprintError(f"{FILE}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
    tcp, onvif, rtsp = (_ports(doc, k) for k in PORT_LISTS)
    return Probes(tcp, onvif, rtsp, _paths(doc), _snmp_objects(doc))


@cache
def load(root: str | None = None) -> Probes:
    """The probes of a fingerprint folder (default: the shipped one), read once per process."""
    from scanner.match.load import default_root
    path = Path(root) / FILE if root else default_root() / FILE
    try:
        text = path.read_bytes()
    except OSError as e:
        raise FingerprintError(f"{FILE}: cannot be read ({path}): {e.strerror or e}") from None
    return parse(text)
