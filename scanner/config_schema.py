"""Hand-written config files (site, credentials) read as YAML and checked against their shipped JSON Schemas.

One mechanism for every config file: the file is composed to YAML nodes (which keep their line numbers),
constructed, then validated with jsonschema against scanner/schemas/<kind>-1.json. Every problem becomes an
InputError naming the file, the line and the key. For secret files no message ever shows a value, an
unknown key's text or a YAML error snippet: only file, line, column and the names the schema defines.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scanner.errors import InputError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

MAX_CONFIG_BYTES = 1024 * 1024
_TYPE_WORDS = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "object": "a mapping (key: value)", "array": "a list", "null": "empty"}


def _is_number(_checker: Any, x: object) -> bool:
    # YAML's .nan and .inf are floats: a config number must be finite (a NaN rate would switch the limiter off)
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and math.isfinite(x))


def _is_integer(_checker: Any, x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@cache
def _validator() -> Any:
    """jsonschema's draft 2020-12 validator with finite numbers (imported on first use: a scan without a site or
    credentials file does not pay for jsonschema's import, ~35 ms)."""
    from jsonschema import Draft202012Validator, validators
    return validators.extend(
        Draft202012Validator,
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many({"number": _is_number, "integer": _is_integer}))


@cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a config file kind ("site", "credentials"), shipped as scanner/schemas/<kind>-1.json."""
    text = resources.files("scanner").joinpath(f"schemas/{kind}-1.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@dataclass(frozen=True, slots=True)
class ConfigDoc:
    """A parsed config file: its data, its YAML node tree (for line numbers) and how to name it in messages."""

    path: Path
    what: str          # "site file", "credentials file"
    secret: bool       # never show values or unknown text from this file
    data: Any
    root: yaml.Node | None

    def node(self, where: Sequence[str | int], key: bool = False) -> yaml.Node | None:
        """The YAML node of the value at `where` (of its key if key=True), else of the nearest parent found."""
        node = found = self.root
        for i, part in enumerate(where):
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        found = nxt = v
                        if key and i == len(where) - 1:
                            found = k
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                found = nxt = node.value[part]
            if nxt is None:
                break
            node = nxt
        return found

    def at(self, where: Sequence[str | int], key: bool = False) -> str:
        """'line N' (and column, for secret files, where the key may not be named) of a place in the file."""
        n = self.node(where, key)
        if n is None:
            return "line 1"
        return f"line {n.start_mark.line + 1}" + (f", column {n.start_mark.column + 1}" if self.secret else "")

    def key_path(self, where: Sequence[str | int]) -> str:
        """ranges[0].survey style path; in a secret file it stops before the first key the schema does not name
        (that text may be a mistyped secret): the line and column point at it instead."""
        shown: list[str | int] = []
        for p in where:
            if not (isinstance(p, int) or _showable(self, p)):
                break
            shown.append(p)
        return key_path(shown)

    def error(self, where: Sequence[str | int], message: str, key: bool = False) -> InputError:
        """An InputError naming the file, the line of `where` and its key path."""
        shown = self.key_path(where)
        at = f"{shown}: " if shown else ""
        return InputError(f"{self.what} {self.path}, {self.at(where, key)}: {at}{message}")


def key_path(where: Sequence[str | int]) -> str:
    """ranges[0].survey style path of a place in a document."""
    out = ""
    for p in where:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _read_text(path: Path, what: str) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise InputError(f"{what} {path}: cannot read: {e.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InputError(f"{what} {path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(f"{what} {path}, line {line}, column {col}: not UTF-8 text; save the file as UTF-8") from None


def _yaml_error(path: Path, what: str, secret: bool, e: BaseException, text: str) -> InputError:
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        where = f", line {mark.line + 1}, column {mark.column + 1}"
    elif isinstance(e, yaml.reader.ReaderError):
        line = text.count("\n", 0, e.position) + 1
        where = f", line {line}, column {e.position - (text.rfind(chr(10), 0, e.position) + 1) + 1}"
    else:
        where = ""
    problem = getattr(e, "problem", None) or getattr(e, "reason", None)
    if secret or not isinstance(problem, str):
        # YAML's own message quotes the offending text (for a credentials file: maybe the password line)
        detail = "(the text is not shown: it may hold a secret)" if secret else ""
    else:
        detail = f"({problem})"
    return InputError(f"{what} {path}{where}: not valid YAML {detail}".rstrip())


def load(path: str | Path, kind: str, what: str, secret: bool = False) -> ConfigDoc:
    """Read, parse and schema-check a config file; InputError (file, line, key) for anything wrong."""
    p = Path(path)
    text = _read_text(p, what)
    loader = None
    try:
        loader = yaml.SafeLoader(text)   # its reader already refuses control characters
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as e:
        raise _yaml_error(p, what, secret, e, text) from None
    finally:
        if loader is not None:
            loader.dispose()
    doc = ConfigDoc(p, what, secret, data, root)
    _check_duplicates(doc, root, [])
    errors = sorted(_validator()(schema(kind)).iter_errors(data), key=lambda e: _error_line(doc, e))
    if errors:
        first = _explain(doc, errors[0])
        more = len(errors) - 1
        raise InputError(str(first) + (f" (and {more} more problem{'s' * (more > 1)} after it)" if more else ""))
    return doc


def _check_duplicates(doc: ConfigDoc, node: yaml.Node | None, where: list[str | int]) -> None:
    # PyYAML keeps the last of two equal keys silently; in a config that hides a mistake
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            name = k.value if isinstance(k, yaml.ScalarNode) else "?"
            if name in seen:
                shown = doc.key_path([*where, name])
                raise InputError(f"{doc.what} {doc.path}, line {k.start_mark.line + 1}: {shown + ': ' if shown else ''}"
                                 f"key appears twice (first on line {seen[name]})")
            seen[name] = k.start_mark.line + 1
            _check_duplicates(doc, v, [*where, name])
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _check_duplicates(doc, v, [*where, i])


def _showable(doc: ConfigDoc, key: object) -> bool:
    """May this key's text appear in a message? Always for site files; in secret files only the names the
    schema defines and IPv4 addresses (the hosts keys)."""
    if not doc.secret or key in _schema_names(doc.what):
        return True
    try:
        ipaddress.IPv4Address(str(key))
    except ValueError:
        return False
    return True


@cache
def _schema_names(what: str) -> frozenset[str]:
    kind = what.split()[0]
    names: set[str] = set()

    def walk(s: Any) -> None:
        if isinstance(s, dict):
            names.update(k for k in s.get("properties", {}) if isinstance(k, str))
            for v in s.values():
                walk(v)
        elif isinstance(s, list):
            for v in s:
                walk(v)
    walk(schema(kind))
    return frozenset(names)


def _where(e: ValidationError) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in e.absolute_path]


def _error_line(doc: ConfigDoc, e: ValidationError) -> int:
    n = doc.node(_where(e))
    return n.start_mark.line if n is not None else 0


def _kind_of(x: object) -> str:
    if isinstance(x, bool):
        return "true/false"
    if isinstance(x, int):
        return "a whole number"
    if isinstance(x, float):
        return "a number" if math.isfinite(x) else "nan or infinity"
    if isinstance(x, str):
        return "a string"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "a mapping"
    if x is None:
        return "empty"
    return f"a {type(x).__name__}"


def _types(s: Any) -> list[str]:
    t = s.get("type") if isinstance(s, dict) else None
    return [t] if isinstance(t, str) else list(t or [])


def _branch_types(s: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for b in s.get("anyOf", s.get("oneOf", [])):
        ref = b.get("$ref", "")
        target = schema_at_ref(ref) if ref else b
        out += [t for t in _types(target) if t not in out]
    return out


def schema_at_ref(ref: str) -> dict[str, Any]:
    """The $defs entry a local $ref points to (either schema; names are distinct enough to search both)."""
    name = ref.rsplit("/", 1)[-1]
    for kind in ("site", "credentials"):
        d = schema(kind).get("$defs", {}).get(name)
        if isinstance(d, dict):
            return d
    return {}


def _words(types: list[str]) -> str:
    shown = [_TYPE_WORDS.get(t, t) for t in types if t != "null"]
    return " or ".join(shown) if shown else "empty"


def _explain(doc: ConfigDoc, e: ValidationError) -> InputError:
    """A user's message for one schema error: file, line, key path and what is wrong, values only if allowed."""
    where = _where(e)
    v, s, inst = e.validator, e.schema if isinstance(e.schema, dict) else {}, e.instance
    if v in ("anyOf", "oneOf"):
        # drop branches whose type does not even match: the user meant one of the others
        inner = [c for c in (e.context or []) if not (c.validator == "type" and not c.relative_path)]
        if inner and "x-error" not in s:
            return _explain(doc, sorted(inner, key=lambda c: -len(c.relative_path))[0])
        if "x-error" in s:
            return doc.error(where, str(s["x-error"]))
        return doc.error(where, f"must be {_words(_branch_types(s))}, not {_kind_of(inst)}")
    if v == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted(s.get("properties", {}))
        extra = [k for k in inst if k not in s.get("properties", {})]
        k = str(extra[0])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        if _showable(doc, k):
            return doc.error([*where, k], f"unknown key{hint}", key=True)
        # a secret file's unknown key may be a mistyped secret: point at it, never quote it
        prefix = f"{doc.key_path(where)}: " if doc.key_path(where) else ""
        return InputError(f"{doc.what} {doc.path}, {doc.at([*where, k], key=True)}: {prefix}unknown key{hint}")
    if v == "required" and isinstance(inst, dict):
        missing = [k for k in e.validator_value if k not in inst]
        return doc.error(where, f"'{missing[0]}' is required" if missing else "a required key is missing")
    if v == "type":
        unit = f" ({s['description']})" if "description" in s else ""
        return doc.error(where, f"must be {_words(_types(s))}, not {_kind_of(inst)}{unit}")
    if "x-error" in s and v in ("pattern", "not", "minLength", "minProperties", "maxProperties"):
        return doc.error(where, str(s["x-error"]))
    if v == "enum":
        options = ", ".join(str(o) for o in e.validator_value if o is not None)
        shown = f"{inst!r} " if not doc.secret and isinstance(inst, str) and len(inst) <= 60 else ""
        return doc.error(where, f"{shown}must be one of {options}")
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        lo = s.get("minimum", s.get("exclusiveMinimum"))
        hi = s.get("maximum", s.get("exclusiveMaximum"))
        rng = " and ".join(x for x in (
            f"{'greater than' if 'exclusiveMinimum' in s else 'at least'} {lo:g}" if lo is not None else "",
            f"{'less than' if 'exclusiveMaximum' in s else 'at most'} {hi:g}" if hi is not None else "") if x)
        unit = f" ({s['description']})" if "description" in s else ""
        return doc.error(where, f"must be {rng}{unit}")
    if v == "minItems":
        return doc.error(where, "must not be an empty list")
    if v == "minLength":
        return doc.error(where, "must not be empty")
    return doc.error(where, f"does not match its schema ({v})")
