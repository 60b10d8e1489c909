"""Held-out evaluation: `identify` on real public device observations the rule authors never tuned on.

The set lives in tests/fixtures/holdout/devices.jsonl (see its README). Rule authors must not read
the expectations; on failure the tests print what the engine answered so they can see what to fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scanner.match.engine import get_engine
from scanner.signals import is_signal

HOLDOUT = Path(__file__).resolve().parents[1] / "fixtures" / "holdout" / "devices.jsonl"

SURVEILLANCE = frozenset({"camera", "nvr", "dvr", "anpr", "encoder", "bodyworn", "drone"})
CATEGORIES = SURVEILLANCE | {"other", "unknown"}
MIN_MAKER_ACCURACY = 0.9
MIN_CATEGORY_ACCURACY = 0.8


@dataclass(frozen=True, slots=True)
class Case:
    """One held-out device: its observations and what a correct answer is."""

    id: str
    observations: tuple[tuple[str, str], ...]
    vendor: str | None
    brand: str | None
    category: str
    source: str


@dataclass(frozen=True, slots=True)
class Answer:
    """What the engine said about one case."""

    case: Case
    vendor: str | None
    brand: str | None
    category: str


def _load() -> list[Case]:
    cases: list[Case] = []
    for line in HOLDOUT.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d: dict[str, Any] = json.loads(line)
        exp = d["expect"]
        cases.append(Case(
            id=d["id"],
            observations=tuple((o["signal"], o["value"]) for o in d["observations"]),
            vendor=exp["vendor"], brand=exp.get("brand"), category=exp["category"],
            source=d["source"]))
    return cases


CASES = _load()


def _answers() -> list[Answer]:
    eng = get_engine()
    out = []
    for c in CASES:
        ident = eng.identify(list(c.observations))
        out.append(Answer(c, ident.vendor, ident.brand, ident.category))
    return out


def _table(rows: list[Answer]) -> str:
    lines = [f"{'id':<34} {'got vendor':<14} {'got brand':<10} {'got category':<12} signals"]
    for a in rows:
        sigs = ",".join(sorted({s for s, _ in a.case.observations}))
        lines.append(f"{a.case.id:<34} {a.vendor or '-':<14} {a.brand or '-':<10} "
                     f"{a.category:<12} {sigs}")
    return "\n".join(lines)


def test_holdout_set_is_well_formed() -> None:
    ids = [c.id for c in CASES]
    assert 40 <= len(CASES) <= 80, len(CASES)
    assert len(ids) == len(set(ids)), "duplicate ids"
    for c in CASES:
        assert c.observations, c.id
        assert c.category in CATEGORIES, c.id
        assert c.source.strip(), c.id
        for signal, value in c.observations:
            assert is_signal(signal), (c.id, signal)
            assert value.strip(), (c.id, signal)
    # both halves must be present or the accuracy figures mean nothing
    assert sum(c.category in SURVEILLANCE for c in CASES) >= 25
    assert sum(c.category not in SURVEILLANCE for c in CASES) >= 8


def test_no_non_surveillance_device_is_called_surveillance() -> None:
    wrong = [a for a in _answers()
             if a.case.category not in SURVEILLANCE and a.category in SURVEILLANCE]
    assert not wrong, "non-surveillance devices identified as surveillance:\n" + _table(wrong)


def test_maker_and_category_accuracy_on_surveillance_devices() -> None:
    answers = [a for a in _answers() if a.case.category in SURVEILLANCE]
    maker_miss = [a for a in answers if a.vendor != a.case.vendor]
    cat_miss = [a for a in answers if a.category != a.case.category]
    maker_acc = 1 - len(maker_miss) / len(answers)
    cat_acc = 1 - len(cat_miss) / len(answers)
    report = (f"maker accuracy {maker_acc:.3f} (need {MIN_MAKER_ACCURACY}), "
              f"category accuracy {cat_acc:.3f} (need {MIN_CATEGORY_ACCURACY}) "
              f"over {len(answers)} surveillance devices\n"
              f"maker misses (engine answers only):\n{_table(maker_miss)}\n"
              f"category misses (engine answers only):\n{_table(cat_miss)}")
    print(report)
    if maker_acc < MIN_MAKER_ACCURACY or cat_acc < MIN_CATEGORY_ACCURACY:
        pytest.fail(report)
