"""The engine `camscan scan` compiles in a thread while the sweep runs: the same answers as one built at once,
and a multi-site run builds it once."""

from __future__ import annotations

import pytest

from scanner.cli.scan import engine_in_background
from scanner.errors import InputError
from scanner.match.engine import Engine, get_engine
from scanner.match.load import load_database


def test_the_engine_built_in_the_background_answers_as_one_built_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("scanner.cli.scan.loaded_engine", lambda root=None: None)   # built here, in the thread
    eng = engine_in_background(None)()
    ref = Engine(load_database())
    for rule in eng.db.rules[::5]:
        for ex in rule.examples:
            assert eng.match(rule.signal, ex.value) == ref.match(rule.signal, ex.value)


@pytest.mark.parametrize("built", [False, True], ids=["to-build", "already-built"])
def test_an_unknown_concern_list_is_refused_before_anything_runs(built: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if built:
        get_engine()
    else:
        monkeypatch.setattr("scanner.cli.scan.loaded_engine", lambda root=None: None)
    with pytest.raises(InputError, match="unknown list"):
        engine_in_background(["no-such-list"])


def test_a_second_site_or_a_forked_child_reuses_the_engine_already_built() -> None:
    first = get_engine()    # what the --parallel parent builds before forking (check_concerns)
    assert engine_in_background(None)() is first
    assert engine_in_background(None)() is first   # and every later site of the same run
