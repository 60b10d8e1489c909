"""Pure parsers for composite signals (SADP ProbeMatch XML, DHIP JSON, WS-Discovery Scopes) into fields."""

from __future__ import annotations

import json
import re
from typing import Any, Final
from urllib.parse import unquote
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

MAX_COMPOSITE_BYTES: Final = 64 * 1024
ONVIF_SCOPE_PREFIX: Final = "onvif://www.onvif.org/"
_MULTI_KEYS: Final = frozenset({"type", "profile", "location", "extension"})

# Device attributes each composite field carries (protocol facts from protocols.md sections 1, 3, 4).
ATTRIBUTE_FIELDS: Final[dict[str, dict[str, str]]] = {
    "sadp.reply": {"DeviceDescription": "model", "SoftwareVersion": "firmware", "DeviceSN": "serial",
                   "MAC": "mac"},
    "dhip.reply": {"deviceInfo.DeviceType": "model", "deviceInfo.Version": "firmware",
                   "deviceInfo.SerialNo": "serial", "mac": "mac"},
    "wsd.scopes": {"hardware": "model", "mac": "mac"},
}


class CompositeError(ValueError):
    """A composite value could not be parsed (too large, malformed); the only error its parsers raise."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrub(text: str) -> str:
    # JSON escapes ("\ud800") and identify's input can carry lone surrogates; no output may (UTF-8 writers fail).
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _clean(text: str) -> bool:
    """Whether text holds no lone surrogate (an ASCII text holds none: no search)."""
    return text.isascii() or _SURROGATE.search(text) is None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Leaves:
    """What parse_sadp keeps of a document as defusedxml's parser reads it, in place of ElementTree's TreeBuilder
    (which builds every element): the root's tag, and the text of each of the root's children that holds no element
    (all its character data, as TreeBuilder joins it into child.text; comments and processing instructions, which
    TreeBuilder does not insert, neither split nor add to it), in document order."""

    __slots__ = ("depth", "leaf", "out", "root", "tag", "texts")

    def __init__(self) -> None:
        self.depth = 0
        self.root: str | None = None
        self.tag = ""
        self.leaf = False   # the current child of the root has held no element so far
        self.texts: list[str] = []
        self.out: list[tuple[str, str]] = []   # (tag, text) of the root's children holding no element

    def start(self, tag: str, attrs: Any) -> None:
        """An element opens (expat's handler: attributes unused)."""
        self.depth += 1
        if self.depth == 2:
            self.tag, self.leaf, self.texts = tag, True, []
        elif self.depth == 3:
            self.leaf = False
        elif self.depth == 1:
            self.root = tag

    def end(self, tag: str) -> None:
        """An element closes."""
        if self.depth == 2 and self.leaf and self.texts:
            self.out.append((self.tag, "".join(self.texts)))
        self.depth -= 1

    def data(self, text: str) -> None:
        """Character data (entities expanded, CDATA sections included)."""
        if self.depth == 2 and self.leaf:
            self.texts.append(text)

    def close(self) -> str | None:
        """The root's tag (the document was well formed: expat said so at its end)."""
        return self.root


def parse_sadp(text: str) -> dict[str, str]:
    """Hikvision SADP ProbeMatch XML -> {child element name: text}; CompositeError if not a ProbeMatch."""
    if len(text) > MAX_COMPOSITE_BYTES:
        raise CompositeError("SADP reply too large")
    leaves = _Leaves()
    try:
        # defusedxml's parser and guards (DTDs, entities, external references refused), read into _Leaves by
        # expat's own handlers (no ElementTree element, no Python-level name fixing per event)
        parser = DefusedXMLParser(target=leaves, forbid_dtd=True)
        expat = parser.parser
        expat.StartElementHandler, expat.EndElementHandler = leaves.start, leaves.end
        expat.CharacterDataHandler = leaves.data
        parser.feed(text.strip().encode("utf-8", "replace"))
        root = parser.close()
    except (ParseError, DefusedXmlException) as e:
        raise CompositeError(f"SADP reply is not XML: {e}") from None
    except Exception as e:  # expat: LookupError for encoding="x-unknown", UnicodeError, RecursionError
        raise CompositeError(f"SADP reply is not XML: {type(e).__name__}: {str(e)[:200]}") from None
    if root is None or _local(root).lower() != "probematch":
        raise CompositeError(f"SADP reply root is <{_local(root or '')}>, not <ProbeMatch>")
    out: dict[str, str] = {}
    for tag, child_text in leaves.out:
        if child_text.strip():
            out.setdefault(_local(tag), _scrub(child_text.strip()))
    return out


def _flatten(prefix: str, obj: dict[str, Any], out: dict[str, str], depth: int = 0, dirty: bool = True) -> None:
    # dirty False: the JSON text held no surrogate and no \u escape, so no string in obj holds one
    # json makes exactly these types (no subclasses): one type() test each, not isinstance chains
    for k, v in obj.items():
        key = f"{prefix}{k}"
        kind = type(v)
        if kind is str:
            out[_scrub(key) if dirty else key] = _scrub(v) if dirty else v
        elif kind is int or kind is float:
            out[_scrub(key) if dirty else key] = str(v)
        elif kind is dict:
            if depth < 3:
                _flatten(key + ".", v, out, depth + 1, dirty)
        elif kind is bool:
            out[_scrub(key) if dirty else key] = "true" if v else "false"


def parse_dhip(text: str) -> dict[str, str]:
    """Dahua DHIP discovery reply JSON (header or trailing bytes tolerated) -> flat fields."""
    if len(text) > MAX_COMPOSITE_BYTES:
        raise CompositeError("DHIP reply too large")
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise CompositeError("DHIP reply holds no JSON object")
    try:
        doc = json.loads(text[start:end + 1])
    except (ValueError, RecursionError) as e:
        raise CompositeError(f"DHIP reply is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise CompositeError("DHIP reply JSON is not an object")
    out: dict[str, str] = {}
    dirty = "\\u" in text or not _clean(text)
    for k in ("method", "mac"):
        v = doc.get(k)
        if isinstance(v, str):
            out[k] = _scrub(v) if dirty else v
    params = doc.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if isinstance(info, dict):
        _flatten("deviceInfo.", info, out, 0, dirty)
    if not out:
        raise CompositeError("DHIP reply has neither method, mac nor deviceInfo")
    return out




def parse_scopes(text: str) -> dict[str, str]:
    """WS-Discovery Scopes -> {first path segment lower-cased: percent-decoded rest}; multi keys joined."""
    if len(text) > MAX_COMPOSITE_BYTES:
        raise CompositeError("Scopes too large")
    out: dict[str, str] = {}
    # percent-decoding makes no lone surrogate (bad UTF-8 becomes U+FFFD): without one in text, none to scrub
    dirty = not _clean(text)
    n = len(ONVIF_SCOPE_PREFIX)
    for scope in text.split():   # str.split() and re's \s agree on what whitespace is
        if not scope.startswith(ONVIF_SCOPE_PREFIX) and scope[:n].lower() != ONVIF_SCOPE_PREFIX:
            continue
        key, _, rest = scope[n:].partition("/")
        key = key.lower()
        if dirty:
            key = _scrub(key)
        if not key:
            continue
        value = (unquote(rest, errors="replace") if "%" in rest else rest).strip()
        if dirty:
            value = _scrub(value)
        if key in _MULTI_KEYS and key in out:
            if value and value not in out[key].split(" "):
                out[key] = f"{out[key]} {value}".strip()
        elif key not in out or not out[key]:
            out[key] = value
    return out


PARSERS: Final = {"sadp.reply": parse_sadp, "dhip.reply": parse_dhip, "wsd.scopes": parse_scopes}
