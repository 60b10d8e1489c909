"""Advisories: statuses on the shipped database, the loader's and the database check's verdicts, the CLI list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scanner.cli.advisories import advisories
from scanner.errors import FingerprintError, InputError
from scanner.inventory.resolve import identify
from scanner.match.engine import Engine, get_engine
from scanner.match.load import load_database
from scanner.match.verify import check_advisories
from tests.match.test_engine import write_db

KEV = {"CVE-2021-36260", "CVE-2021-33044", "CVE-2021-33045", "CVE-2019-11001", "CVE-2021-40407", "CVE-2017-7921",
       "CVE-2018-14933", "CVE-2022-23227"}


@pytest.fixture(scope="module")
def eng() -> Engine:
    return get_engine()


def hits(eng: Engine, vendor: str, model: str, firmware: str | None) -> list[tuple[str, str]]:
    return [(a.id, a.status) for a in eng.advisories_for(vendor, model, firmware)]


def test_hikvision_cve_2021_36260_by_build_date(eng: Engine) -> None:
    """Affected before build 210628 (SADP, ONVIF and ISAPI spellings), not from the fixed build on; possible
    when the firmware is unknown; nothing for a model outside the family."""
    for fw in ("V5.5.82build 190910", "V5.5.82 build 190910", "V5.7.1 build 210619"):
        assert ("CVE-2021-36260", "affected") in hits(eng, "hikvision", "DS-2CD2143G0-I", fw), fw
    for fw in ("V5.5.800 build 210628", "V5.7.3 build 220112"):
        assert hits(eng, "hikvision", "DS-2CD2143G0-I", fw) == [], fw
    assert hits(eng, "hikvision", "DS-2CD2143G0-I", None) == [("CVE-2021-36260", "possible")]
    assert hits(eng, "hikvision", "DS-2CD2143G0-I", "unknown") == [("CVE-2021-36260", "possible")]
    assert hits(eng, "hikvision", "CMIP7442W-28M", "V5.5.82 build 190910") == []     # an LTS model number
    assert hits(eng, "dahua", "DS-2CD2143G0-I", "V5.5.82 build 190910") == []       # the maker must fit too


def test_dahua_authentication_bypasses_by_build_date(eng: Engine) -> None:
    """CVE-2021-33044 (before June 2021) and CVE-2021-33045 (IPC before May 2020) on Dahua's date grammar; the
    DHIP reply carries no date, so the same camera is only 'possible'."""
    assert hits(eng, "dahua", "IPC-HDW3441T-ZS", "2.800.0000016.0.R, Build Date: 2020-03-10") == [
        ("CVE-2021-33044", "affected"), ("CVE-2021-33045", "affected")]
    assert hits(eng, "dahua", "DH-IPC-HFW5442E-ZE", "2.800.0000016.0.R, Build Date: 2021-03-10") == [
        ("CVE-2021-33044", "affected")]
    assert hits(eng, "dahua", "IPC-HDW3441T-ZS", "2.800.0000016.0.R, Build Date: 2021-06-28") == []
    assert hits(eng, "dahua", "IPC-HDW3441T-ZS", "V2.800.0000000.13.R") == [
        ("CVE-2021-33044", "possible"), ("CVE-2021-33045", "possible")]
    # NVRs: 33045 only, with its own date (before December 2019)
    assert hits(eng, "dahua", "DHI-NVR2104HS-P-4KS2", "4.001.0000000.2.R, Build Date: 2019-11-30") == [
        ("CVE-2021-33045", "affected")]
    assert hits(eng, "dahua", "DHI-NVR2104HS-P-4KS2", "4.001.0000000.2.R, Build Date: 2019-12-01") == []


def test_several_ranges_per_advisory_each_for_its_series(eng: Engine) -> None:
    """CVE-2017-7921: each series has its own published range; a series' range does not apply to another."""
    assert hits(eng, "hikvision", "DS-2CD2032F-I", "V5.3.0 build 150513") == [("CVE-2017-7921", "affected")]
    # V5.4.3 is inside the DS-2CD2xx2FWD range (to V5.4.4 build 161125) but past the DS-2CD2xx2F-I one
    assert ("CVE-2017-7921", "affected") in hits(eng, "hikvision", "DS-2CD2142FWD-I", "V5.4.3 build 160801")
    assert ("CVE-2017-7921", "affected") not in hits(eng, "hikvision", "DS-2CD2142F-I", "V5.4.3 build 160801")
    # the series' last version without its build: it depends on the build, so possible
    assert ("CVE-2017-7921", "possible") in hits(eng, "hikvision", "DS-2CD2032F-I", "V5.4.0")


def test_version_ranges(eng: Engine) -> None:
    assert hits(eng, "axis", "M2036-LE", "10.12.114") == [("CVE-2023-21413", "affected")]
    assert hits(eng, "axis", "M2036-LE", "11.11.73") == []
    assert hits(eng, "nuuo", "NVRmini 2", "03.09.0000.0000") == [
        ("CVE-2018-1149", "affected"), ("CVE-2018-1150", "affected"), ("CVE-2018-11523", "affected"),
        ("CVE-2018-14933", "affected"), ("CVE-2018-19864", "affected"), ("CVE-2022-23227", "affected")]
    assert hits(eng, "nuuo", "NVRmini 2", "03.10.0000.0000") == [("CVE-2022-23227", "affected")]   # through 3.11


def test_identify_carries_the_hit_in_the_inventory_shape(eng: Engine) -> None:
    ident = identify(eng, [("onvif.manufacturer", "HIKVISION"), ("onvif.model", "DS-2CD2143G0-I"),
                           ("onvif.firmware", "V5.5.53 build 180705")])
    (hit,) = [a for a in ident.advisories if a.id == "CVE-2021-36260"]
    assert hit.to_dict() == {"id": "CVE-2021-36260", "status": "affected", "severity": "critical",
                             "title": hit.title, "source": hit.source}
    assert hit.source.startswith("https://www.hikvision.com/")


def test_the_curated_set(eng: Engine) -> None:
    """Every advisory has a URL source; the KEV ones carry their CISA date and a cisa.gov reference."""
    db = eng.db
    assert check_advisories(db) == []
    ids = {a.id for a in db.advisories}
    assert ids >= KEV and {"CVE-2017-7921", "CVE-2022-30563", "CVE-2023-21413"} <= ids
    for a in db.advisories:
        assert a.source.startswith("http"), a.id
        assert (a.id in KEV) == bool(a.kev), a.id


BAD = [
    ("firmware: [{after: '1.0'}]", "unknown keys ['after']"),
    ("firmware: [{fixed: '1.0'}]", "needs at least one of"),
    ("firmware: [{below: 'soon'}]", "is neither a version nor a build date"),
    ("firmware: [{build_before: 'June 2021'}]", "is not a date"),
    ("firmware: [{build_before: '210631'}]", "is not a date"),
    ("firmware: [{from: '2.0', below: '1.0'}]", "range is empty"),
    ("firmware: [{build_from: 2021-06-01, build_before: 2020-01-01}]", "build_from must be before build_before"),
    ("firmware: [{models: '(', below: '1.0'}]", "regex does not compile"),
    ("firmware: [{below: '1.0'}]\n    severity: dire", "field 'severity' is 'dire'"),
    ("firmware: [{below: '1.0'}]\n    kev: yesterday", "field 'kev' is 'yesterday'"),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_the_loader_names_a_malformed_advisory(tmp_path: Path, extra: str, message: str) -> None:
    adv = f"""
advisories:
  - id: CVE-0000-0002
    maker: acme
    title: test
    models: '^AC-C'
    source: https://example.org/a
    {extra}
"""
    with pytest.raises(FingerprintError, match="advisory CVE-0000-0002") as e:
        load_database(write_db(tmp_path, **{"advisories.yaml": adv}), cache=False)
    assert message in str(e.value)


def test_the_database_check_flags_sources_and_makers(tmp_path: Path) -> None:
    adv = """
advisories:
  - id: CVE-0000-0003
    maker: acme
    title: test
    models: '.*'
    source: ICS-CERT
    references: [a friend told me]
    kev: 2024-01-01
    firmware: [{below: '1.0'}]
"""
    db = load_database(write_db(tmp_path, **{"advisories.yaml": adv}), cache=False)
    problems = check_advisories(db)
    assert any("reference 'a friend told me' is not a URL" in p for p in problems)
    assert any("matches an empty model" in p for p in problems)
    assert any("no cisa.gov source" in p for p in problems)
    unknown = adv.replace("maker: acme", "maker: nobody")
    with pytest.raises(FingerprintError, match="maker 'nobody' has no maker file"):
        load_database(write_db(tmp_path, **{"advisories.yaml": unknown}), cache=False)


def test_an_advisory_without_a_published_fix_is_only_possible(tmp_path: Path) -> None:
    adv = """
advisories:
  - id: CVE-0000-0004
    maker: acme
    title: test
    models: '^AC-C'
    source: https://example.org/a
"""
    e = Engine(load_database(write_db(tmp_path, **{"advisories.yaml": adv}), cache=False))
    assert [(a.id, a.status) for a in e.advisories_for("acme", "AC-C100", "V1.0 build 200101")] == [
        ("CVE-0000-0004", "possible")]


def test_cli_lists_advisories_as_text_and_json() -> None:
    r = CliRunner().invoke(advisories, ["--maker", "dahua"])
    assert r.exit_code == 0, r.output
    assert "CVE-2021-33044 [dahua] critical, CISA KEV since 2024-08-21" in r.output
    assert "firmware: build before 2021-06-01" in r.output
    assert "hikvision" not in r.output.split("\n\n")[0]
    r = CliRunner().invoke(advisories, ["--format", "json", "--maker", "hikvision"])
    doc = json.loads(r.output)
    (adv,) = [a for a in doc if a["id"] == "CVE-2021-36260"]
    assert adv["kev"] == "2022-01-10" and adv["maker"] == "hikvision"
    assert adv["firmware"] == [{"models": None, "range": "V5.4.0 or later, build before 2021-06-28 "
                                "(fixed in V5.5.800 build 210628)", "fixed": "V5.5.800 build 210628"}]
    assert {a["maker"] for a in doc} == {"hikvision"}


def test_cli_refuses_an_unknown_maker() -> None:
    r = CliRunner().invoke(advisories, ["--maker", "hikvison"])
    assert isinstance(r.exception, InputError)
    assert "--maker hikvison: no such maker" in str(r.exception)
