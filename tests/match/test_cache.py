"""The validated-database cache: same answers, invalidated by any YAML change, never read when others could write it."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import pytest

from scanner.errors import FingerprintError
from scanner.inventory.resolve import identify
from scanner.match.engine import Engine
from scanner.match.load import cache_dir, load_database
from tests.match.test_engine import write_db


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("CAMSCAN_FINGERPRINT_CACHE", raising=False)
    return home / "camscan"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("fingerprints-*.pickle")) if folder.exists() else []


def test_second_load_comes_from_the_cache_with_the_same_answers(tmp_path: Path, cache_home: Path) -> None:
    (tmp_path / "db").mkdir()
    root = write_db(tmp_path / "db")
    assert cache_dir() == cache_home
    first = load_database(root)
    assert len(_files(cache_home)) == 1
    (cache_home / "marker").write_text("")   # the folder stays; a second write would not add a file
    second = load_database(root)
    assert second.version == first.version and second.rules == first.rules and second.oui == first.oui
    obs = [("http.server", "AcmeWeb/1.2.3"), ("mac", "C0:56:E3:01:02:03")]
    assert identify(Engine(second), obs) == identify(Engine(first), obs)
    assert len(_files(cache_home)) == 1
    assert (os.stat(cache_home).st_mode & 0o777) == 0o700


def test_a_changed_yaml_is_parsed_again_and_errors_still_surface(tmp_path: Path, cache_home: Path) -> None:
    (tmp_path / "db").mkdir()
    root = write_db(tmp_path / "db")
    load_database(root)
    (root / "beta.yaml").write_text("maker: beta\nname: Beta\nrules: [{id: nope}]\n")
    with pytest.raises(FingerprintError, match=r"beta\.yaml"):
        load_database(root)


def test_a_cache_file_others_can_write_is_ignored(tmp_path: Path, cache_home: Path) -> None:
    (tmp_path / "db").mkdir()
    root = write_db(tmp_path / "db")
    real = load_database(root)
    (path,) = _files(cache_home)
    planted = pickle.dumps(dataclasses.replace(real, makers={}))
    path.write_bytes(planted)
    os.chmod(path, 0o666)
    assert load_database(root).makers, "a world-writable cache file was unpickled"
    path.write_bytes(planted)
    os.chmod(path, 0o600)
    assert not load_database(root).makers   # the same file, private to this user, is what the cache reads
    path.write_bytes(b"not a pickle")
    assert load_database(root).makers   # a broken cache file: parsed again, no error


def test_a_rule_edit_takes_the_ieee_registry_from_its_cache_with_the_same_answers(tmp_path: Path,
                                                                                    cache_home: Path) -> None:
    (tmp_path / "db").mkdir()
    root = write_db(tmp_path / "db")
    uncached = load_database(root, cache=False)
    assert not cache_home.exists()   # cache=False writes nothing
    first = load_database(root)
    (ieee,) = sorted(cache_home.glob("ieee-*.pickle"))
    assert first.ieee == uncached.ieee and first.oui == uncached.oui
    (root / "acme.yaml").write_text((root / "acme.yaml").read_text() + "\n# a rule author's edit\n")
    edited = load_database(root)   # the database is parsed again; the registry is what the cache holds
    assert edited.ieee == uncached.ieee and edited.oui == uncached.oui and edited.version != first.version
    real = pickle.loads(ieee.read_bytes())
    ieee.write_bytes(pickle.dumps({**real, "C056E3": "Planted Org"}))
    os.chmod(ieee, 0o666)
    (root / "acme.yaml").write_text((root / "acme.yaml").read_text() + "# another edit\n")
    assert load_database(root).ieee == uncached.ieee, "a world-writable registry cache was unpickled"
    ieee.write_bytes(pickle.dumps({**real, "C056E3": "Planted Org"}))
    os.chmod(ieee, 0o600)
    (root / "acme.yaml").write_text((root / "acme.yaml").read_text() + "# a third edit\n")
    assert load_database(root).ieee["C056E3"] == "Planted Org"   # the private file is what is read


def test_a_rule_edit_compiles_what_changed_and_a_broken_regex_still_fails(tmp_path: Path, cache_home: Path) -> None:
    (tmp_path / "db").mkdir()
    root = write_db(tmp_path / "db")
    first = load_database(root)
    (regexes,) = sorted(cache_home.glob("regexes-*.pickle"))
    assert "^AcmeWeb/(?P<firmware>[\\d.]+)$" in pickle.loads(regexes.read_bytes())
    acme = (root / "acme.yaml").read_text()
    (root / "acme.yaml").write_text(acme.replace("regex: '^AcmeWeb/", "regex: '^AcmeWeb(?<=a+)/"))
    with pytest.raises(FingerprintError, match=r"acme\.yaml: .*regex does not compile"):
        load_database(root)   # a changed pattern is compiled, even with the others known
    (root / "acme.yaml").write_text(acme.replace("regex: '^AcmeWeb/", "regex: '^(?:AcmeWeb|ACMEWEB)/"))
    edited = load_database(root)
    assert [r.pattern for r in edited.rules] != [r.pattern for r in first.rules]
    assert "^(?:AcmeWeb|ACMEWEB)/(?P<firmware>[\\d.]+)$" in pickle.loads(regexes.read_bytes())
    assert identify(Engine(edited), [("http.server", "ACMEWEB/2.0")]).vendor == "acme"
