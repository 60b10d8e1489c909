"""Firmware strings as devices report them -> (dotted version, build date), and published ranges over them.

Grammars seen in the field (and in tests/match/test_advisories_firmware.py):
  Hikvision ONVIF / ISAPI  "V5.5.53 build 180705"          SADP  "V5.5.82build 190910"
  Dahua ONVIF              "2.800.0000016.0.R, Build Date: 2021-06-28"   DHIP "2.800.0000000.13.R"
  Dahua magicBox           "2.820.0000000.18.R,build:2021-07-05"         file "V2.800.0000000.25.R.210602"
  Tiandy                   "V5.1.1.2 build 20230615"        Axis "10.12.114"   Bosch "7.80.0128"
A version is the first dotted run of numbers (leading V dropped; Dahua's 7-character branch field compares as a
number, an OEM branch with letters such as "00AC006" as text that only equals itself); a build is a date.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Final

Part = int | str

_VERSION: Final = re.compile(r"(?<![0-9A-Za-z])[Vv]?(\d+(?:\.[0-9A-Za-z]+)+)(?:-(\d+)(?![0-9A-Za-z]))?")
_BUILD_ISO: Final = re.compile(r"build(?:\s*date)?\s*:?\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", re.I)
_BUILD_8: Final = re.compile(r"build\s*:?\s*(\d{8})(?!\d)", re.I)
_BUILD_6: Final = re.compile(r"build\s*:?\s*(\d{6})(?!\d)", re.I)
_DAHUA_FILE_DATE: Final = re.compile(r"\.[RT]\.(\d{6}|\d{8})(?!\d)")
_SUFFIX: Final = frozenset({"R", "T", "r", "t"})   # Dahua release / test marks: not part of the number


@dataclass(frozen=True, slots=True)
class Firmware:
    """A parsed firmware string: its version parts (None if it has none) and build date (None if unknown)."""

    version: tuple[Part, ...] | None
    build: datetime.date | None

    @property
    def known(self) -> bool:
        """True when something comparable was found."""
        return self.version is not None or self.build is not None


def _date(y: int, m: int, d: int) -> datetime.date | None:
    try:
        return datetime.date(y, m, d)
    except ValueError:
        return None


def parse_build(text: str) -> datetime.date | None:
    """The build date in a firmware string ('build 210628', 'Build Date: 2021-06-28', '.R.210602'), or None."""
    m = _BUILD_ISO.search(text)
    if m:
        return _date(int(m[1]), int(m[2]), int(m[3]))
    m = _BUILD_8.search(text)
    if m:
        s = m[1]
        return _date(int(s[:4]), int(s[4:6]), int(s[6:]))
    m = _BUILD_6.search(text) or _DAHUA_FILE_DATE.search(text)
    if m:
        s = m[1]
        if len(s) == 8:
            return _date(int(s[:4]), int(s[4:6]), int(s[6:]))
        return _date(2000 + int(s[:2]), int(s[2:4]), int(s[4:]))
    return None


def parse_version(text: str) -> tuple[Part, ...] | None:
    """The first dotted version in a firmware string as parts ('V5.5.82build 190910' -> (5, 5, 82)), or None."""
    for m in _VERSION.finditer(text):
        raw = m[1].split(".")
        parts: list[Part] = []
        for p in raw:
            if p.isdigit():
                parts.append(int(p))
            elif p in _SUFFIX:
                break
            elif re.fullmatch(r"\d+build", p, re.I):   # SADP glues the build word on: "V5.5.82build 190910"
                parts.append(int(p[:-5]))
                break
            elif re.fullmatch(r"[0-9A-Za-z]+", p) and any(c.isdigit() for c in p):
                parts.append(p.upper())   # an OEM branch field: comparable only with itself
            else:
                break
        if len(parts) >= 2 and isinstance(parts[0], int):
            if m[2] is not None and len(parts) == len(raw):
                parts.append(int(m[2]))   # "V2.3.8-8": the build number after a dash
            return tuple(parts)
    return None


def parse_firmware(text: str | None) -> Firmware:
    """A firmware string as a device reports it -> Firmware (both parts None when nothing is comparable)."""
    if not text:
        return Firmware(None, None)
    return Firmware(parse_version(text), parse_build(text))


def compare_versions(a: tuple[Part, ...], b: tuple[Part, ...]) -> int | None:
    """-1, 0 or 1 comparing a with b part by part (missing parts count as 0); None when a text part differs."""
    for i in range(max(len(a), len(b))):
        x: Part = a[i] if i < len(a) else 0
        y: Part = b[i] if i < len(b) else 0
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        return None
    return 0


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a range: a version (compared on its own precision for from/to) and an optional build date."""

    text: str
    version: tuple[Part, ...] | None
    build: datetime.date | None


def parse_bound(text: str) -> Bound:
    """A range end as published ('V5.4.0 build 160530', '5.5.800', '2021-06-28'); ValueError if it has neither."""
    fw = parse_firmware(text)
    build = fw.build
    if fw.version is None and build is None:
        m = re.fullmatch(r"\s*(\d{4})-(\d{2})-(\d{2})\s*|\s*(\d{6})\s*|\s*(\d{8})\s*", text)
        if m:
            build = parse_build(f"build {text.strip()}")
    if fw.version is None and build is None:
        raise ValueError(f"{text!r} is neither a version nor a build date")
    return Bound(text, fw.version, build)


def _cmp_at(fw: Firmware, bound: Bound, *, precision: bool) -> int | None:
    """Compare a device's firmware with a bound: by version, then (versions equal) by build; None if unknown."""
    if bound.version is not None:
        if fw.version is None:
            return None
        mine = fw.version[:len(bound.version)] if precision and bound.build is None else fw.version
        c = compare_versions(mine, bound.version)
        if c != 0 or bound.build is None:
            return c
    if bound.build is None:
        return 0
    if fw.build is None:
        return None
    return (fw.build > bound.build) - (fw.build < bound.build)


@dataclass(frozen=True, slots=True)
class FirmwareRange:
    """A published range: from/to inclusive (a version bound covers its whole line: to 11.5 holds 11.5.64),
    below exclusive, build_from inclusive and build_before exclusive dates. `models` narrows the advisory's."""

    models: str | None = None
    from_: Bound | None = None
    to: Bound | None = None
    below: Bound | None = None
    build_from: datetime.date | None = None
    build_before: datetime.date | None = None
    fixed: str = ""   # the fixed firmware as the vendor names it (shown; `below` is what compares)

    def contains(self, fw: Firmware) -> bool | None:
        """True inside, False outside, None when the device's firmware does not say (e.g. no build date)."""
        unknown = False
        checks: list[int | None] = []
        if self.from_ is not None:
            c = _cmp_at(fw, self.from_, precision=True)
            checks.append(None if c is None else (1 if c >= 0 else 0))
        if self.to is not None:
            c = _cmp_at(fw, self.to, precision=True)
            checks.append(None if c is None else (1 if c <= 0 else 0))
        if self.below is not None:
            c = _cmp_at(fw, self.below, precision=False)
            checks.append(None if c is None else (1 if c < 0 else 0))
        if self.build_from is not None:
            checks.append(None if fw.build is None else int(fw.build >= self.build_from))
        if self.build_before is not None:
            checks.append(None if fw.build is None else int(fw.build < self.build_before))
        for c in checks:
            if c == 0:
                return False
            if c is None:
                unknown = True
        return None if unknown else True

    def describe(self) -> str:
        """The range in words ('V5.4.0 or later, build before 2021-06-28')."""
        out = []
        if self.from_ is not None and self.to is not None:
            out.append(f"{self.from_.text} to {self.to.text}")
        elif self.from_ is not None:
            out.append(f"{self.from_.text} or later")
        elif self.to is not None:
            out.append(f"up to {self.to.text}")
        if self.below is not None:
            out.append(f"below {self.below.text}")
        if self.build_from is not None:
            out.append(f"build {self.build_from.isoformat()} or later")
        if self.build_before is not None:
            out.append(f"build before {self.build_before.isoformat()}")
        text = ", ".join(out) or "any firmware"
        if self.fixed:
            text += f" (fixed in {self.fixed})"
        return text
