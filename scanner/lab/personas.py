"""Load and validate the lab's personas (scanner/lab/personas/*.yaml) into Persona records.

A persona file holds: name (= file stem), vendor (real maker slug or null), brand, model, firmware,
category, oui, services, hostile, source (where its facts come from), notes, and `spec`:

- serial_prefix, serial_alphabet, firmware_alternatives: for the lab machinery (serials, reflash);
- identity.manufacturer: how the device names its maker (ONVIF Manufacturer, NVR channel lists);
- one section per listed service (http, https, rtsp, onvif, wsd, sadp, dhip, ssdp, mdns, snmp, tcp),
  read by scanner.lab.services (see each responder module for its keys);
- expected: extra answers the host must give (e.g. http.title), added to services.expected_answers.

Strings may use ${name} placeholders filled per host (TEMPLATE_VARS: ip, mac12, serial, firmware...);
`behaviour` keys make a section hostile (xml-bomb, huge-body, drip, malformed).
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template
from typing import Any, Final

import yaml

from scanner.errors import CamscanError
from scanner.lab.model import Persona

PERSONA_DIR: Final[Path] = Path(__file__).with_name("personas")

CATEGORIES: Final[frozenset[str]] = frozenset(
    {"camera", "nvr", "dvr", "anpr", "encoder", "bodyworn", "drone", "other"})
SERVICES: Final[frozenset[str]] = frozenset(
    {"http", "https", "rtsp", "onvif", "wsd", "sadp", "dhip", "ssdp", "mdns", "snmp", "tcp"})
# Spec sections that are not services: what the device says about itself, and what truth expects.
EXTRA_SECTIONS: Final[frozenset[str]] = frozenset({"identity", "expected"})
# Plain spec keys read by the lab machinery (scanner/lab/profiles.py): serial prefix, reflash versions.
PLAIN_KEYS: Final[dict[str, type]] = {"serial_prefix": str, "serial_alphabet": str, "firmware_alternatives": list}
# Names a persona template may use as ${name}; values come from the host (services.context).
TEMPLATE_VARS: Final[frozenset[str]] = frozenset({
    "ip", "mac", "MAC", "mac12", "MAC12", "mac_dash", "MAC_dash", "serial", "serial_tail5", "serial_digits",
    "model", "firmware", "fw_version", "fw_build", "hostname", "uuid", "uuid_hik", "ipv6_ll",
    "manufacturer", "boot_time", "nonce", "random", "session", "year", "https_port", "http_port",
    "n", "n2", "outside_ip", "realm", "cam_manufacturer", "cam_model", "cam_firmware",
    "cam_serial", "cam_ip",
})
_SLUG: Final = re.compile(r"^[a-z0-9]+$")
_OUI: Final = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){2}$")
_NAME: Final = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_REQUIRED: Final = ("name", "vendor", "brand", "model", "firmware", "category", "oui", "services", "source")
_ALLOWED_TOP: Final = frozenset((*_REQUIRED, "hostile", "kind_visible", "spec", "notes"))


class PersonaError(CamscanError):
    """A persona file is invalid: the message names the file and the field."""


def _fail(path: Path, field: str, why: str) -> PersonaError:
    return PersonaError(f"{path.name}: field '{field}': {why}")


def _check_templates(path: Path, where: str, value: Any) -> None:
    """Every ${name} in every string of VALUE must be a known template variable."""
    if isinstance(value, str):
        for match in Template.pattern.finditer(value):
            name = match.group("named") or match.group("braced")
            if match.group("invalid") is not None:
                raise _fail(path, where, f"bad template placeholder near {value[match.start():][:20]!r}")
            if name is not None and name not in TEMPLATE_VARS:
                raise _fail(path, where, f"unknown template variable ${{{name}}}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(path, f"{where}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(path, f"{where}[{index}]", item)


def _str(path: Path, raw: dict[str, Any], field: str, *, optional: bool = False) -> str | None:
    value = raw.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, field, "must be a non-empty string" + (" or null" if optional else ""))
    return value


def parse_persona(path: Path, raw: Any) -> Persona:
    """Validate one persona document read from PATH; raise PersonaError naming file and field."""
    if not isinstance(raw, dict):
        raise PersonaError(f"{path.name}: a persona file must hold one mapping")
    for key in raw:
        if key not in _ALLOWED_TOP:
            raise _fail(path, str(key), "unknown field")
    for key in _REQUIRED:
        if key not in raw:
            raise _fail(path, key, "missing")
    name = _str(path, raw, "name")
    assert name is not None
    if name != path.stem or not _NAME.match(name):
        raise _fail(path, "name", f"must equal the file name ({path.stem}) in lower-case-dashed form")
    vendor = _str(path, raw, "vendor", optional=True)
    brand = _str(path, raw, "brand", optional=True)
    for field, slug in (("vendor", vendor), ("brand", brand)):
        if slug is not None and not _SLUG.match(slug):
            raise _fail(path, field, f"{slug!r} is not a slug ([a-z0-9]+)")
    category = _str(path, raw, "category")
    if category not in CATEGORIES:
        raise _fail(path, "category", f"{category!r} not in {sorted(CATEGORIES)}")
    hostile = raw.get("hostile", False)
    if not isinstance(hostile, bool):
        raise _fail(path, "hostile", "must be true or false")
    kind_visible = raw.get("kind_visible", True)
    if not isinstance(kind_visible, bool):
        raise _fail(path, "kind_visible", "must be true or false")
    if (vendor is None) != (category == "other"):
        raise _fail(path, "vendor", "must be null exactly when category is 'other'")
    if hostile and vendor is not None:
        raise _fail(path, "vendor", "hostile personas have no vendor")
    oui = _str(path, raw, "oui")
    assert oui is not None
    if not _OUI.match(oui):
        raise _fail(path, "oui", f"{oui!r} is not 'AA:BB:CC' (upper-case hex)")
    services = raw["services"]
    # an empty list is a host where nothing listens (it answers ARP and ICMP only, like a docked camera)
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise _fail(path, "services", "must be a list of service names")
    for service in services:
        if service not in SERVICES:
            raise _fail(path, "services", f"unknown service {service!r} (known: {sorted(SERVICES)})")
    if len(set(services)) != len(services):
        raise _fail(path, "services", "lists a service twice")
    spec = raw.get("spec", {})
    if not isinstance(spec, dict):
        raise _fail(path, "spec", "must be a mapping")
    for section, body in spec.items():
        if section in PLAIN_KEYS:
            if not isinstance(body, PLAIN_KEYS[section]):
                raise _fail(path, f"spec.{section}", f"must be a {PLAIN_KEYS[section].__name__}")
            continue
        if section not in SERVICES and section not in EXTRA_SECTIONS:
            raise _fail(path, f"spec.{section}", "unknown section")
        if section in SERVICES and section not in services:
            raise _fail(path, f"spec.{section}", "configures a service the persona does not list")
        if not isinstance(body, dict):
            raise _fail(path, f"spec.{section}", "must be a mapping")
    for service in services:
        if service not in spec and service not in ("ssdp",):
            raise _fail(path, f"spec.{service}", "listed in services but not configured")
    if "onvif" in services and "http" not in services:
        raise _fail(path, "services", "onvif is served over http: list http too")
    if "https" in services and "http" not in spec:
        raise _fail(path, "spec.http", "https serves the http routes: configure http")
    _check_templates(path, "spec", spec)
    _check_templates(path, "model", raw["model"])
    source = raw["source"]
    if not isinstance(source, (str, list)) or not source:
        raise _fail(path, "source", "must name where the persona's facts come from")
    model = _str(path, raw, "model")
    firmware = _str(path, raw, "firmware")
    assert model is not None and firmware is not None
    return Persona(name=name, vendor=vendor, brand=brand, model=model, firmware=firmware,
                   category=category, oui=oui, services=tuple(services), hostile=hostile,
                   kind_visible=kind_visible,
                   spec={**spec, "source": source})


def load_persona_file(path: Path) -> Persona:
    """Read and validate one persona YAML file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PersonaError(f"{path.name}: not valid YAML: {exc}") from exc
    return parse_persona(path, raw)


def load_personas(directory: Path = PERSONA_DIR) -> dict[str, Persona]:
    """Every persona in DIRECTORY keyed by name; raises PersonaError naming the bad file and field."""
    personas: dict[str, Persona] = {}
    for path in sorted(directory.glob("*.yaml")):
        persona = load_persona_file(path)
        personas[persona.name] = persona
    if not personas:
        raise PersonaError(f"no persona files in {directory}")
    return personas

