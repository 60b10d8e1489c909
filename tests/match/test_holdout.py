"""Held-out evaluation: `identify` on real public devices the rule authors never tuned on.

The set lives in tests/fixtures/holdout/*.jsonl (see its README). Rule authors must not read it, so on
failure the tests print figures only.
`bench/holdout.py` writes the same figures to bench/results/holdout.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.evaluate import HoldoutAnswer, HoldoutCase, load_holdout, score_holdout, score_single, single_cases
from scanner.inventory.resolve import identify
from scanner.match.engine import get_engine
from scanner.match.load import CATEGORIES, SURVEILLANCE_CATEGORIES
from scanner.signals import is_signal

HOLDOUT = Path(__file__).resolve().parents[1] / "fixtures" / "holdout"

# Floors that guard what has been reached (bench/results/holdout.json has the figures); issue 7's goal is
# higher: every surveillance device counted and the kind right for 90 %.
MIN_MAKER_ACCURACY = 0.9
MIN_CATEGORY_ACCURACY = 0.65
MIN_COUNTED = 0.8
MAX_WRONG_MAKER = 0.01
# Failures print figures only: rule authors must not see held-out cases. The set's keeper (never a rule
# author) reads the misses with `bench/holdout.py --misses`.
HOLD_DETAIL = "misses: bench/holdout.py --misses, for the held-out set's keeper only"


CASES = load_holdout(HOLDOUT)


def answers(cases: list[HoldoutCase] = CASES) -> list[HoldoutAnswer]:
    """The engine's answer for every case."""
    eng = get_engine()
    out = []
    for c in cases:
        ident = identify(eng, list(c.observations))
        out.append(HoldoutAnswer(c, ident.vendor, ident.brand, ident.category))
    return out


def test_holdout_set_is_well_formed() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for c in CASES:
        assert c.observations, c.id
        assert c.category in CATEGORIES, c.id
        assert c.source.strip(), c.id
        for signal, value in c.observations:
            assert is_signal(signal), (c.id, signal)
            assert value.strip(), (c.id, signal)
    assert len(CASES) >= 300
    # both halves must be present or the accuracy figures mean nothing
    assert sum(c.category in SURVEILLANCE_CATEGORIES for c in CASES) >= 100
    assert sum(c.category not in SURVEILLANCE_CATEGORIES for c in CASES) >= 100


def test_no_non_surveillance_device_is_called_surveillance() -> None:
    wrong = sum(a.case.category not in SURVEILLANCE_CATEGORIES and a.counted for a in answers())
    if wrong:   # pytest.fail, not assert: assertion rewriting would print the held-out cases
        pytest.fail(f"{wrong} non-surveillance devices identified as surveillance ({HOLD_DETAIL})")


def test_maker_counting_and_kind_on_surveillance_devices() -> None:
    fig = score_holdout(answers())
    report = f"figures: {json.dumps(fig)} ({HOLD_DETAIL})"
    print(report)
    if (fig["maker_accuracy"] < MIN_MAKER_ACCURACY or fig["category_accuracy"] < MIN_CATEGORY_ACCURACY
            or fig["surveillance_counted_rate"] < MIN_COUNTED or fig["wrong_maker_rate"] > MAX_WRONG_MAKER):
        pytest.fail(report)


def test_single_strings_name_no_wrong_maker_and_count_no_lookalike() -> None:
    # issue 7's string bar, on each held-out observation alone: < 1 % wrong makers among those named and < 1 %
    # of look-alikes' strings called surveillance (the share named is reported, not yet at the issue's bar)
    fig = score_single(answers(single_cases(CASES)))
    report = f"figures: {json.dumps(fig)} ({HOLD_DETAIL})"
    print(report)
    if fig["wrong_maker_rate"] > MAX_WRONG_MAKER or fig["false_surveillance_rate"] > 0.01:
        pytest.fail(report)
