"""MAC address notation: one normaliser for discovery modules and the engine."""

from __future__ import annotations

import re

_MAC_SEP = re.compile(r"[:.-]")
_MAC_HEX12 = re.compile(r"^[0-9a-f]{12}$")


def normalise_mac(text: str) -> str | None:
    """Any common MAC notation (aa:bb:.., aa-bb-.., aabb.ccdd.eeff, bare hex, net-snmp's 0:2:d1:..)
    -> 'aa:bb:cc:dd:ee:ff', or None if it is not a MAC."""
    t = text.strip().lower()
    if not 11 <= len(t) <= 17:
        return None
    parts = _MAC_SEP.split(t)
    if len(parts) == 6 and all(1 <= len(p) <= 2 for p in parts):
        digits = "".join(p.rjust(2, "0") for p in parts)
    elif len(parts) == 3 and all(len(p) == 4 for p in parts):
        digits = "".join(parts)
    elif len(parts) == 1 and len(t) == 12:
        digits = t
    else:
        return None
    if not _MAC_HEX12.match(digits):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))
