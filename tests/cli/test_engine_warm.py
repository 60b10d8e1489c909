"""The engine `camscan scan` compiles and warms in a thread while the sweep runs: same answers, and it stops
warming the moment the scan asks for it."""

from __future__ import annotations

import threading

import pytest

from scanner.cli.scan import engine_in_background, warm_engine
from scanner.match.engine import Engine, get_engine
from scanner.match.load import load_database


def test_warming_matches_every_example_and_changes_no_answer() -> None:
    db = load_database()
    warm, cold = Engine(db), Engine(db, memo=0)
    total = sum(len(r.examples) for r in db.rules) + sum(len(m.examples) for m in db.model_rules)
    assert warm_engine(warm, threading.Event()) == total
    for rule in db.rules[::7]:
        for ex in rule.examples:
            got, want = warm.match(rule.signal, ex.value), cold.match(rule.signal, ex.value)
            assert [e.rule_id for e in got[0]] == [e.rule_id for e in want[0]] and got[1] == want[1]
    for model in db.model_rules[::5]:
        for value in model.examples:
            assert warm.match_model(value) == cold.match_model(value)


def test_warming_stops_when_the_engine_is_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    enough = threading.Event()
    enough.set()
    assert warm_engine(Engine(load_database()), enough) == 0
    monkeypatch.setattr("scanner.cli.scan.loaded_engine", lambda root=None: None)   # built here, in the thread
    eng = engine_in_background(None)()    # asked for at once: the warming is cut short, the engine is whole
    assert eng.match("http.server", "App-webs/")[0] == Engine(load_database()).match("http.server", "App-webs/")[0]


def test_a_second_site_or_a_forked_child_reuses_the_engine_already_built() -> None:
    first = get_engine()    # what the --parallel parent builds before forking (check_concerns)
    assert engine_in_background(None)() is first
    assert engine_in_background(None)() is first   # and every later site of the same run
