"""Score an inventory against a lab's ground truth (used by the lab-scan tests and the benchmarks)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.match.load import SURVEILLANCE_CATEGORIES


@dataclass(slots=True)
class Score:
    """How an inventory compares with the truth; `misses` lists every disagreement in words."""

    surveillance_truth: int = 0
    found: int = 0
    maker_right: int = 0
    model_right: int = 0
    category_right: int = 0
    rebrands: int = 0
    rebrands_right: int = 0
    false_surveillance: int = 0
    kind_hidden: int = 0          # surveillance devices whose model and kind nothing on the network shows
    behind: int = 0               # surveillance devices of the truth seen only through a recorder
    behind_found: int = 0
    duplicates: int = 0           # truth devices the inventory counts more than once
    misses: list[str] = field(default_factory=list)

    def rate(self, n: int) -> float:
        """n as a share of the surveillance devices in the truth."""
        return n / self.surveillance_truth if self.surveillance_truth else 1.0

    def category_rate(self) -> float:
        """Right kinds among the surveillance devices whose kind the network can show."""
        n = self.surveillance_truth - self.kind_hidden
        return self.category_right / n if n else 1.0

    def model_rate(self) -> float:
        """Right models among the surveillance devices whose model the network can show."""
        n = self.surveillance_truth - self.kind_hidden
        return self.model_right / n if n else 1.0

    def as_dict(self) -> dict[str, Any]:
        """Figures for a results file."""
        return {"surveillance_devices": self.surveillance_truth, "found": self.found,
                "maker_accuracy": round(self.rate(self.maker_right), 4),
                "model_accuracy": round(self.model_rate(), 4),
                "category_accuracy": round(self.category_rate(), 4), "kind_hidden": self.kind_hidden,
                "rebrands": self.rebrands, "rebrands_right": self.rebrands_right,
                "false_surveillance": self.false_surveillance, "behind_recorders": self.behind,
                "behind_recorders_found": self.behind_found, "counted_twice": self.duplicates}


def _norm(s: str | None) -> str:
    return (s or "").strip().upper()


def score(truth: dict[str, Any], devices: Iterable[dict[str, Any]], *,
          ignore_hostile: bool = True) -> Score:
    """Compare inventory devices with truth devices: by address (a directly seen device owns its address; a camera
    seen only through a recorder is found at the address the recorder reports), and count any truth device the
    inventory holds more than once (same address or serial)."""
    listed = list(devices)
    by_ip: dict[str, dict[str, Any]] = {}
    for dev in listed:
        if not dev.get("via") or dev["via"].get("matched_by"):
            by_ip.setdefault(dev["ip"], dev)
    for dev in listed:
        by_ip.setdefault(dev["ip"], dev)
    surv = [x for x in listed if x["category"] in SURVEILLANCE_CATEGORIES]
    sc = Score()
    for t in truth["devices"]:
        if t["category"] in SURVEILLANCE_CATEGORIES and not (ignore_hostile and t.get("hostile")):
            same = [x for x in surv if x["ip"] == t["ip"] or (t.get("serial") and x.get("serial") == t["serial"])]
            if len(same) > 1:
                sc.duplicates += 1
                sc.misses.append(f"{t['ip']} ({t.get('persona')}): counted {len(same)} times")
            if t.get("via") and t.get("hidden"):
                sc.behind += 1
                sc.behind_found += bool(same)
        if ignore_hostile and t.get("hostile"):
            continue
        d = by_ip.get(t["ip"])
        is_surv = t["category"] in SURVEILLANCE_CATEGORIES
        if not is_surv:
            if d is not None and d["category"] in SURVEILLANCE_CATEGORIES:
                sc.false_surveillance += 1
                sc.misses.append(f"{t['ip']} ({t['persona']}): not surveillance kit but reported as "
                                 f"{d['vendor']} {d['category']}")
            continue
        sc.surveillance_truth += 1
        if d is None:
            sc.misses.append(f"{t['ip']} ({t.get('persona')}): not found")
            continue
        sc.found += 1
        if d["vendor"] == t["vendor"]:
            sc.maker_right += 1
        else:
            sc.misses.append(f"{t['ip']} ({t['persona']}): maker {d['vendor']} != {t['vendor']}")
        if not t.get("kind_visible", True):
            sc.kind_hidden += 1
            sc.misses.append(f"{t['ip']} ({t['persona']}): model and kind not visible on the network (reported "
                             f"{d['model']} {d['category']}, truly {t['model']} {t['category']})")
        elif _norm(d["model"]) == _norm(t["model"]):
            sc.model_right += 1
        else:
            sc.misses.append(f"{t['ip']} ({t['persona']}): model {d['model']} != {t['model']}")
        if not t.get("kind_visible", True):
            pass
        elif d["category"] == t["category"]:
            sc.category_right += 1
        else:
            sc.misses.append(f"{t['ip']} ({t['persona']}): category {d['category']} != {t['category']}")
        if t.get("brand") and t["brand"] != t["vendor"]:
            sc.rebrands += 1
            if d["brand"] == t["brand"] and d["vendor"] == t["vendor"]:
                sc.rebrands_right += 1
            else:
                sc.misses.append(f"{t['ip']} ({t['persona']}): brand/maker {d['brand']}/{d['vendor']} != "
                                 f"{t['brand']}/{t['vendor']}")
    return sc


#: The 23 best-known surveillance makers (issue 7): the held-out score reports them apart.
BEST_KNOWN: frozenset[str] = frozenset({
    "hikvision", "dahua", "huawei", "uniview", "axis", "hanwha", "bosch", "honeywell", "nuuo", "dji", "tiandy",
    "milesight", "reolink", "vivotek", "mobotix", "geovision", "avigilon", "panasonic", "sony", "pelco",
    "xiongmai", "kedacom", "tplink"})


@dataclass(frozen=True, slots=True)
class HoldoutCase:
    """One held-out real device: its observations and the right answer."""

    id: str
    observations: tuple[tuple[str, str], ...]
    vendor: str | None
    category: str
    source: str


@dataclass(frozen=True, slots=True)
class HoldoutAnswer:
    """What the engine said about one held-out device."""

    case: HoldoutCase
    vendor: str | None
    brand: str | None
    category: str

    @property
    def counted(self) -> bool:
        """Reported as surveillance kit (of any kind, `video` included)."""
        return self.category in SURVEILLANCE_CATEGORIES

    @property
    def kind_right(self) -> bool:
        """The category is right; a case whose source does not settle the kind (`video`) needs only counting."""
        if self.case.category == "video":
            return self.counted
        return self.category == self.case.category


def load_holdout(folder: Path) -> list[HoldoutCase]:
    """Every case of every *.jsonl file in a held-out folder (tests/fixtures/holdout)."""
    cases: list[HoldoutCase] = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            d: dict[str, Any] = json.loads(line)
            exp = d["expect"]
            cases.append(HoldoutCase(
                id=d["id"], observations=tuple((o["signal"], o["value"]) for o in d["observations"]),
                vendor=exp["vendor"], category=exp["category"], source=d["source"]))
    return cases


def _share(n: int, d: int) -> float | None:
    """n / d rounded for a results file; None when there is nothing to divide by."""
    return round(n / d, 4) if d else None


def score_holdout(answers: Iterable[HoldoutAnswer]) -> dict[str, Any]:
    """Maker accuracy, counted rate, kind accuracy and false surveillance over held-out answers."""
    rows = list(answers)
    surv = [a for a in rows if a.case.category in SURVEILLANCE_CATEGORIES]
    look = [a for a in rows if a.case.category not in SURVEILLANCE_CATEGORIES]
    with_maker = [a for a in surv if a.case.vendor is not None]
    best = [a for a in with_maker if a.case.vendor in BEST_KNOWN]
    named = [a for a in rows if a.vendor is not None and a.case.vendor is not None]

    return {
        "devices": len(rows), "surveillance_devices": len(surv), "lookalikes": len(look),
        "maker_accuracy": _share(sum(a.vendor == a.case.vendor for a in with_maker), len(with_maker)),
        "maker_accuracy_best_known": _share(sum(a.vendor == a.case.vendor for a in best), len(best)),
        "best_known_devices": len(best),
        "wrong_maker_rate": _share(sum(a.vendor != a.case.vendor for a in named), len(named)),
        "surveillance_counted_rate": _share(sum(a.counted for a in surv), len(surv)),
        "category_accuracy": _share(sum(a.kind_right for a in surv), len(surv)),
        "false_surveillance": sum(a.counted for a in look),
        "false_surveillance_rate": _share(sum(a.counted for a in look), len(look)),
    }


def single_cases(cases: Iterable[HoldoutCase]) -> list[HoldoutCase]:
    """Every observation of every case as a case of its own (one real string, the device's right answer)."""
    return [HoldoutCase(f"{c.id}#{i}", (o,), c.vendor, c.category, c.source)
            for c in cases for i, o in enumerate(c.observations)]


#: Observations that are not among issue 7's string families (banners, titles, realms, TLS subjects, favicon hashes,
#: hostnames, OUIs, ONVIF/SNMP strings): open ports, request paths, a unit's serial, its WS-Discovery address and id.
NOT_STRINGS: frozenset[str] = frozenset({"tcp.port", "http.path", "onvif.serial", "snmp.serial", "wsd.epr",
                                         "wsd.xaddrs"})


def score_single(answers: Iterable[HoldoutAnswer]) -> dict[str, Any]:
    """Issue 7's string figures over single observations of its string families (NOT_STRINGS left out; the share
    named over every observation is given too): the maker named (all, best-known), a wrong maker among those named,
    and look-alikes' strings reported as surveillance kit."""
    every = list(answers)
    rows = [a for a in every if a.case.observations[0][0] not in NOT_STRINGS]
    with_maker = [a for a in every if a.case.category in SURVEILLANCE_CATEGORIES and a.case.vendor is not None]
    surv = [a for a in rows if a.case.category in SURVEILLANCE_CATEGORIES and a.case.vendor is not None]
    best = [a for a in surv if a.case.vendor in BEST_KNOWN]
    look = [a for a in rows if a.case.category not in SURVEILLANCE_CATEGORIES]
    named = [a for a in rows if a.vendor is not None and a.case.vendor is not None]

    return {
        "strings": len(rows), "surveillance_strings_with_maker": len(surv), "best_known_strings": len(best),
        "lookalike_strings": len(look),
        "maker_named": _share(sum(a.vendor == a.case.vendor for a in surv), len(surv)),
        "maker_named_best_known": _share(sum(a.vendor == a.case.vendor for a in best), len(best)),
        "wrong_maker_rate": _share(sum(a.vendor != a.case.vendor for a in named), len(named)),
        "false_surveillance_rate": _share(sum(a.counted for a in look), len(look)),
        "maker_named_every_observation": _share(sum(a.vendor == a.case.vendor for a in with_maker), len(with_maker)),
        "observations": len(every),
    }
