"""Score an inventory against a lab's ground truth (used by the lab-scan tests and the benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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
    misses: list[str] = field(default_factory=list)

    def rate(self, n: int) -> float:
        """n as a share of the surveillance devices in the truth."""
        return n / self.surveillance_truth if self.surveillance_truth else 1.0

    def as_dict(self) -> dict[str, Any]:
        """Figures for a results file."""
        return {"surveillance_devices": self.surveillance_truth, "found": self.found,
                "maker_accuracy": round(self.rate(self.maker_right), 4),
                "model_accuracy": round(self.rate(self.model_right), 4),
                "category_accuracy": round(self.rate(self.category_right), 4),
                "rebrands": self.rebrands, "rebrands_right": self.rebrands_right,
                "false_surveillance": self.false_surveillance}


def _norm(s: str | None) -> str:
    return (s or "").strip().upper()


def score(truth: dict[str, Any], devices: Iterable[dict[str, Any]], *,
          ignore_hostile: bool = True) -> Score:
    """Compare inventory devices (by IP) with truth devices."""
    by_ip = {d["ip"]: d for d in devices}
    sc = Score()
    for t in truth["devices"]:
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
            sc.misses.append(f"{t['ip']} ({t['persona']}): not found")
            continue
        sc.found += 1
        if d["vendor"] == t["vendor"]:
            sc.maker_right += 1
        else:
            sc.misses.append(f"{t['ip']} ({t['persona']}): maker {d['vendor']} != {t['vendor']}")
        if _norm(d["model"]) == _norm(t["model"]):
            sc.model_right += 1
        else:
            sc.misses.append(f"{t['ip']} ({t['persona']}): model {d['model']} != {t['model']}")
        if d["category"] == t["category"]:
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
