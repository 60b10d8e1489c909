"""Every inventory a test produces is checked against the shipped JSON Schema (scanner/schemas/inventory-1.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from scanner.inventory.serialise import json_schema


def valid_inventory(path: Path) -> dict[str, Any]:
    """The inventory.json at path, after checking it against the JSON Schema (AssertionError if not)."""
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    try:
        jsonschema.validate(doc, json_schema(), format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError as e:
        raise AssertionError(f"{path}: not a valid camscan.inventory/1: "
                             f"{'/'.join(map(str, e.absolute_path))}: {e.message}") from None
    return doc
