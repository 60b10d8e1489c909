"""What changed between two scans of a site (pure): devices added, removed and changed (schema camscan.diff/1).

A device keeps its identity across scans through address changes: matched by MAC first, then serial
number, then (a camera seen only through a recorder) recorder and channel, then address with the same fingerprint
(maker and model); each match says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from scanner.inventory.records import Device
from scanner.inventory.serialise import device_to_dict

SCHEMA: Final = "camscan.diff/1"
FIELDS: Final = ("ip", "mac", "vendor", "brand", "model", "firmware", "category", "concerns", "advisories",
                 "open_ports", "behind")


@dataclass(frozen=True, slots=True)
class Change:
    """One device present in both scans whose fields differ."""

    device: Device                                # as the newer scan saw it
    matched_by: str                               # mac | serial | channel | address
    changes: dict[str, tuple[Any, Any]]           # field -> (old, new), JSON values


@dataclass(frozen=True, slots=True)
class Diff:
    """Devices added, removed and changed between an older and a newer scan of one site."""

    site: str
    old: tuple[str, str]                          # (scan id, started)
    new: tuple[str, str]
    added: tuple[Device, ...]
    removed: tuple[Device, ...]
    changed: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        """Nothing changed."""
        return not (self.added or self.removed or self.changed)


def match(old: Sequence[Device], new: Sequence[Device]) -> list[tuple[Device, Device, str]]:
    """Pairs (old, new, how) of the same device: by MAC, then serial, then address with the same maker
    and model; every device is in at most one pair."""
    pairs: list[tuple[Device, Device, str]] = []
    left = list(old)
    todo = list(new)
    keys = (("mac", lambda d: d.mac), ("serial", lambda d: (d.vendor, d.serial) if d.serial else None),
            ("channel", _channel_key),
            ("address", lambda d: None if _behind_only(d) else
             (d.ip, d.vendor, d.model) if d.vendor or d.model else (d.ip, d.mac)))
    for how, key in keys:
        index: dict[Any, Device] = {}
        for d in left:
            k = key(d)
            if k is not None and k not in index:
                index[k] = d
        rest: list[Device] = []
        for d in todo:
            k = key(d)
            o = index.pop(k, None) if k is not None else None
            if o is None:
                rest.append(d)
            else:
                pairs.append((o, d, how))
                left.remove(o)
        todo = rest
    return pairs


def _behind_only(d: Device) -> bool:
    return d.via is not None and d.via.matched_by is None


def _channel_key(d: Device) -> tuple[str, str] | None:
    """A camera seen only through a recorder: the recorder (by MAC, serial, else address) and its channel."""
    if d.via is None or not _behind_only(d):
        return None
    return (d.via.recorder_mac or d.via.recorder_serial or d.via.recorder, d.via.channel)


def diff(site: str, old_id: tuple[str, str], new_id: tuple[str, str], old: Sequence[Device],
         new: Sequence[Device]) -> Diff:
    """Compare two scans' devices."""
    pairs = match(old, new)
    paired_old = {id(o) for o, _, _ in pairs}
    paired_new = {id(n) for _, n, _ in pairs}
    changed: list[Change] = []
    for o, n, how in pairs:
        od, nd = device_to_dict(o), device_to_dict(n)
        delta = {f: (od[f], nd[f]) for f in FIELDS if od[f] != nd[f]}
        if delta:
            changed.append(Change(n, how, delta))
    return Diff(site, old_id, new_id, tuple(d for d in new if id(d) not in paired_new),
                tuple(d for d in old if id(d) not in paired_old), tuple(changed))


def to_dict(d: Diff) -> dict[str, Any]:
    """The camscan.diff/1 document."""
    return {
        "schema": SCHEMA, "site": d.site,
        "old": {"id": d.old[0], "started": d.old[1]}, "new": {"id": d.new[0], "started": d.new[1]},
        "added": [device_to_dict(x) for x in d.added],
        "removed": [device_to_dict(x) for x in d.removed],
        "changed": [{"device": device_to_dict(c.device), "matched_by": c.matched_by,
                     "changes": {f: {"old": o, "new": n} for f, (o, n) in c.changes.items()}}
                    for c in d.changed],
    }


def _label(d: Device) -> str:
    what = " ".join(x for x in (d.vendor or "unknown maker", d.model or "", d.category) if x)
    where = f" behind recorder {d.via.recorder} channel {d.via.channel}" if d.via and _behind_only(d) else ""
    return f"{d.ip} {what}" + (f" ({d.mac})" if d.mac else "") + where


def _short(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(str(x.get("id", x)) if isinstance(x, dict) else str(x) for x in v) or "-"
    return "-" if v is None else str(v)


def to_text(d: Diff) -> str:
    """A readable diff for a terminal or a log."""
    lines = [f"site {d.site}: scan {d.old[0]} ({d.old[1]}) -> {d.new[0]} ({d.new[1]})"]
    if d.empty:
        lines.append("no changes")
    lines += [f"+ added   {_label(x)}" for x in d.added]
    lines += [f"- removed {_label(x)}" for x in d.removed]
    for c in d.changed:
        lines.append(f"~ changed {_label(c.device)} [matched by {c.matched_by}]")
        lines += [f"    {f}: {_short(o)} -> {_short(n)}" for f, (o, n) in c.changes.items()]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def to_markdown(d: Diff) -> str:
    """The diff as a Markdown report."""
    lines = [f"# camscan diff: {_md(d.site)}", "", f"Scan `{d.old[0]}` ({d.old[1]}) to `{d.new[0]}` ({d.new[1]}): "
             f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed.", ""]
    for title, devs in (("Added", d.added), ("Removed", d.removed)):
        if devs:
            lines += [f"## {title}", "", "| ip | mac | maker | model | category |", "|---|---|---|---|---|"]
            lines += [f"| {x.ip} | {x.mac or ''} | {_md(x.vendor or '')} | {_md(x.model or '')} | {x.category} |"
                      for x in devs]
            lines.append("")
    if d.changed:
        lines += ["## Changed", "", "| ip | maker | matched by | field | old | new |", "|---|---|---|---|---|---|"]
        for c in d.changed:
            for f, (o, n) in c.changes.items():
                lines.append(f"| {c.device.ip} | {_md(c.device.vendor or '')} | {c.matched_by} | {f} | "
                             f"{_md(_short(o))} | {_md(_short(n))} |")
        lines.append("")
    return "\n".join(lines)
