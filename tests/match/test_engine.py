"""Engine semantics on a small database written by the test (the shipped data is tested elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scanner.errors import FingerprintError
from scanner.inventory.resolve import identify
from scanner.match.engine import Engine, normalise_mac, version_tuple
from scanner.match.load import load_database
from scanner.match.verify import check

ACME = """
maker: acme
name: Acme Vision
oui:
  organisations: ["Hangzhou Hikvision Digital Technology Co.,Ltd."]
  source: IEEE MA-L
rules:
  - id: acme.http.server
    signal: http.server
    regex: '^AcmeWeb/(?P<firmware>[\\d.]+)$'
    confidence: 0.85
    source: test
    examples: [{value: AcmeWeb/1.2.3, fields: {firmware: 1.2.3}}]
  - id: acme.sadp
    signal: sadp.reply
    field: DeviceDescription
    regex: '^(?P<model>AC-\\w+)'
    confidence: 0.8
    source: test
    examples: [{value: AC-100, fields: {model: AC-100}}]
  - id: acme.onvif.rebadge
    signal: onvif.manufacturer
    equals: ShinyCam
    equals_ci: true
    brand: shiny
    confidence: 0.9
    source: test
    examples: [SHINYCAM]
  - id: acme.snmp.router
    signal: snmp.sysdescr
    prefix: Acme Router OS
    category: other
    confidence: 0.9
    source: test
    examples: [Acme Router OS 5.1]
models:
  - id: acme.model.nvr
    regex: '^AC-N'
    category: nvr
    source: test
    examples: [AC-N400]
  - id: acme.model.cam
    regex: '^AC-C'
    category: camera
    source: test
    examples: [AC-C100]
"""
BETA = """
maker: beta
name: Beta Systems
rules:
  - id: beta.http.server
    signal: http.server
    equals: BetaServer
    confidence: 0.9
    source: test
    examples: [BetaServer]
"""
GENERIC = """
maker: null
rules:
  - id: generic.http.server.boa
    signal: http.server
    regex: '^Boa/'
    confidence: 0.1
    source: test
    examples: [Boa/0.94.14rc21]
  - id: generic.wsd.nvt
    signal: wsd.types
    regex: '(?i)^(?:.*\\s)?[\\w.-]*:?NetworkVideoTransmitter\\b'
    category: camera
    confidence: 0.6
    source: test
    examples: ['dn:NetworkVideoTransmitter tds:Device']
  - id: generic.http.weakcam
    signal: http.title
    equals: Web Camera
    category: camera
    confidence: 0.3
    source: test
    examples: [Web Camera]
"""
OEM = """
brands:
  - brand: shiny
    name: ShinyCam
    maker: acme
    relation: oem
    confidence: 0.8
    evidence: test link
    source: test
"""
CONCERNS = """
lists:
  - id: testlist
    name: Test list
    source: test
    date: 2024-01-01
    makers: [acme]
"""
ADVISORIES = """
advisories:
  - id: CVE-0000-0001
    maker: acme
    title: test
    models: '^AC-C'
    firmware: {below: "2.0"}
    source: test
    severity: high
"""


def write_db(root: Path, **extra: str) -> Path:
    files = {"acme.yaml": ACME, "beta.yaml": BETA, "generic.yaml": GENERIC, "oem.yaml": OEM,
             "concerns.yaml": CONCERNS, "advisories.yaml": ADVISORIES}
    files.update(extra)
    for name, text in files.items():
        if text:
            (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    return Engine(load_database(write_db(tmp_path)))


def test_database_checks_clean(engine: Engine) -> None:
    assert check(engine) == []


def test_banner_names_maker_and_extracts_firmware(engine: Engine) -> None:
    ident = identify(engine, [("http.server", "AcmeWeb/1.2.3")])
    assert (ident.vendor, ident.brand, ident.firmware) == ("acme", "acme", "1.2.3")
    assert ident.confidence == pytest.approx(0.85)
    assert [e.rule_id for e in ident.evidence] == ["acme.http.server"]


def test_oui_alone_names_card_maker_but_never_a_camera(engine: Engine) -> None:
    ident = identify(engine, [("mac", "44-19-B6-01-02-03"), ("http.title", "Web Camera")])
    assert ident.vendor == "acme"
    assert ident.brand is None           # only the network card is known
    assert ident.category == "unknown"   # OUI + one weak hint is not a camera
    assert ident.mac == "44:19:b6:01:02:03"


def test_locally_administered_mac_gets_no_oui_evidence(engine: Engine) -> None:
    ident = identify(engine, [("mac", "46:19:b6:01:02:03")])
    assert ident.vendor is None and ident.evidence == ()


def test_brand_rule_resolves_real_maker(engine: Engine) -> None:
    ident = identify(engine, [("onvif.manufacturer", "shinycam"), ("onvif.model", "AC-C100")])
    assert ident.vendor == "acme" and ident.brand == "shiny"
    assert ident.category == "camera" and ident.model == "AC-C100"
    assert ident.conflicts == ()


def test_unrelated_makers_are_reported_as_conflict(engine: Engine) -> None:
    ident = identify(engine, [("http.server", "AcmeWeb/1.0"), ("http.server", "BetaServer")])
    assert ident.vendor == "beta"
    assert [c.vendor for c in ident.conflicts] == ["acme"]


def test_composite_sadp_reply_gives_model_firmware_mac(engine: Engine) -> None:
    xml = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><ProbeMatch><Uuid>X</Uuid><Types>inquiry</Types>"
           "<DeviceDescription>AC-N400</DeviceDescription><MAC>44-19-b6-aa-bb-cc</MAC>"
           "<SoftwareVersion>V4.1.2build 200101</SoftwareVersion></ProbeMatch>")
    ident = identify(engine, [("sadp.reply", xml)])
    assert (ident.vendor, ident.model, ident.category) == ("acme", "AC-N400", "nvr")
    assert ident.firmware == "V4.1.2build 200101" and ident.mac == "44:19:b6:aa:bb:cc"


def test_hostile_composite_is_ignored_not_fatal(engine: Engine) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            "<ProbeMatch><DeviceDescription>&b;</DeviceDescription></ProbeMatch>")
    assert identify(engine, [("sadp.reply", bomb)]).vendor is None
    assert identify(engine, [("dhip.reply", "\x00\x01{not json")]).vendor is None


def test_generic_protocol_fact_gives_category_without_maker(engine: Engine) -> None:
    ident = identify(engine, [("wsd.types", "dn:NetworkVideoTransmitter tds:Device")])
    assert ident.vendor is None and ident.category == "camera"


def test_model_rule_category_beats_generic_camera_type(engine: Engine) -> None:
    ident = identify(engine, [("wsd.types", "dn:NetworkVideoTransmitter"), ("onvif.model", "AC-N400"),
                             ("onvif.manufacturer", "ShinyCam")])
    assert ident.category == "nvr"


def test_non_surveillance_product_is_other(engine: Engine) -> None:
    ident = identify(engine, [("snmp.sysdescr", "Acme Router OS 5.1"), ("mac", "44:19:b6:00:00:01")])
    assert ident.vendor == "acme" and ident.category == "other"


def test_concerns_and_advisories(engine: Engine) -> None:
    ident = identify(engine, [("onvif.manufacturer", "ShinyCam"), ("onvif.model", "AC-C100"),
                             ("onvif.firmware", "V1.5.0 build 1")])
    assert ident.concerns == ("testlist",)
    assert [(a.id, a.status) for a in ident.advisories] == [("CVE-0000-0001", "affected")]
    fixed = identify(engine, [("onvif.manufacturer", "ShinyCam"), ("onvif.model", "AC-C100"),
                             ("onvif.firmware", "V2.0.1")])
    assert fixed.advisories == ()
    assert identify(engine, [("onvif.manufacturer", "ShinyCam")], concern_lists=[]).concerns == ()


def test_every_matching_regex_rule_is_reported(tmp_path: Path) -> None:
    extra = """
    maker: gamma
    name: Gamma
    rules:
      - id: gamma.a
        signal: http.server
        regex: '^Boa/0\\.94'
        confidence: 0.2
        source: test
        examples: [Boa/0.94.14rc21]
    """
    db = load_database(write_db(tmp_path, **{"gamma.yaml": extra}))
    eng = Engine(db)
    ids = {e.rule_id for e in eng.match("http.server", "Boa/0.94.14rc21")[0]}
    assert ids == {"generic.http.server.boa", "gamma.a"}
    # and the check refuses a maker rule that pins a generic string on one maker
    assert any("generic example" in p for p in check(eng))


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("beta.yaml", BETA.replace("signal: http.server", "signal: http.banner"),
     "beta.yaml: rule beta.http.server: field 'signal' is 'http.banner'"),
    ("beta.yaml", BETA.replace("    examples: [BetaServer]\n", ""),
     "beta.yaml: rule beta.http.server: field 'examples'"),
    ("beta.yaml", BETA.replace("equals: BetaServer", "regex: '^(?P<vendor>Beta)'"),
     "beta.yaml: rule beta.http.server: regex uses named groups ['vendor']"),
    ("beta.yaml", BETA.replace("confidence: 0.9", "confidence: 2"),
     "beta.yaml: rule beta.http.server: field 'confidence'"),
    ("beta.yaml", BETA + "  - [\n", "beta.yaml: not valid YAML"),
    ("oem.yaml", OEM.replace("maker: acme", "maker: nobody"), "oem.yaml: brand shiny: maker 'nobody'"),
])
def test_broken_file_error_names_file_rule_field(tmp_path: Path, name: str, text: str, needle: str) -> None:
    write_db(tmp_path, **{name: text})
    with pytest.raises(FingerprintError) as e:
        load_database(tmp_path)
    assert needle in str(e.value)


def test_wrong_example_is_reported_by_check(tmp_path: Path) -> None:
    bad = BETA.replace("examples: [BetaServer]", "examples: [BetaServer2]")
    eng = Engine(load_database(write_db(tmp_path, **{"beta.yaml": bad})))
    assert check(eng) == ["beta.yaml: rule beta.http.server: example 'BetaServer2' does not match its own rule"]


def test_oui_claimed_twice_is_reported(tmp_path: Path) -> None:
    beta = BETA.replace("rules:", "oui:\n  prefixes: ['44:19:B6']\n  source: test\nrules:")
    eng = Engine(load_database(write_db(tmp_path, **{"beta.yaml": beta})))
    assert any("4419B6 is claimed by several makers" in p for p in check(eng))


def test_helpers() -> None:
    assert normalise_mac("4419.B6AA.BBCC") == "44:19:b6:aa:bb:cc"
    assert normalise_mac("44-19-b6-aa-bb-cc") == "44:19:b6:aa:bb:cc"
    assert normalise_mac("0:2:d1:43:a5:26") == "00:02:d1:43:a5:26"
    assert normalise_mac("3cef8c084e1e") == "3c:ef:8c:08:4e:1e"
    assert normalise_mac("not a mac") is None
    assert normalise_mac("44:19:b6:aa:bb") is None
    assert version_tuple("V5.5.82build 190910") == (5, 5, 82)
    assert version_tuple("2.800.0000000.13.R") == (2, 800, 0, 13)


def test_identify_cli_answers_good_lines_and_names_bad_ones(tmp_path: Path) -> None:
    write_db(tmp_path)
    lines = [
        json.dumps({"id": "a", "observations": [{"signal": "http.server", "value": "AcmeWeb/1.2.3"}]}),
        "{broken",
        json.dumps({"id": "c", "observations": [{"signal": "no.such", "value": "x"}]}),
        json.dumps({"id": "d", "observations": [{"signal": "http.server", "value": "BetaServer"}]}),
    ]
    p = subprocess.run([sys.executable, "-m", "scanner", "identify", "--db", str(tmp_path)],
                       input="\n".join(lines) + "\n", capture_output=True, text=True)
    assert p.returncode != 0
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert [(o["id"], o["vendor"]) for o in out] == [("a", "acme"), ("d", "beta")]
    assert set(out[0]) == {"id", "vendor", "brand", "model", "firmware", "category", "confidence",
                           "concerns", "advisories", "evidence", "conflicts"}
    assert "line 2" in p.stderr and "line 3" in p.stderr and "no.such" in p.stderr
    why = subprocess.run([sys.executable, "-m", "scanner", "identify", "--why", "--db", str(tmp_path)],
                         input=lines[0], capture_output=True, text=True)
    assert why.returncode == 0 and "Acme Vision" in why.stdout and "acme.http.server" in why.stdout


def test_model_rule_decides_category_even_against_stacked_protocol_hints(tmp_path: Path) -> None:
    acme = ACME.replace("    regex: '^AC-N'\n    category: nvr\n",
                        "    regex: '^AC-N'\n    category: nvr\n    confidence: 0.7\n")
    eng = Engine(load_database(write_db(tmp_path, **{"acme.yaml": acme})))
    ident = identify(eng, [("wsd.types", "dn:NetworkVideoTransmitter"), ("http.title", "Web Camera"),
                          ("onvif.model", "AC-N400"), ("onvif.manufacturer", "ShinyCam")])
    assert ident.category == "nvr"


def test_a_block_registered_in_a_brands_name_gives_the_brand_and_the_real_maker(tmp_path: Path) -> None:
    oem = OEM.replace("confidence: 0.8", "confidence: 0.9") + """    oui:
      organisations: ["Amcrest Technologies"]
      source: IEEE MA-L
"""
    eng = Engine(load_database(write_db(tmp_path, **{"oem.yaml": oem}), cache=False))
    amcrest = next(p for p, org in eng.db.ieee.items() if org == "Amcrest Technologies")
    mac = ":".join(amcrest[i:i + 2] for i in (0, 2, 4)) + ":01:02:03"
    ident = identify(eng, [("mac", mac)])
    assert (ident.vendor, ident.brand, ident.category) == ("acme", "shiny", "unknown")
    assert ident.confidence == round(0.3 * 0.9, 3)   # an OUI, weakened by how sure the brand link is
    bad = oem.replace("Amcrest Technologies", "Amcrest Technologies Inc (typo)")
    with pytest.raises(FingerprintError, match="brand shiny"):
        load_database(write_db(tmp_path, **{"oem.yaml": bad}), cache=False)


def test_a_device_naming_its_maker_in_a_banner_names_it_weakly(engine: Engine) -> None:
    ident = identify(engine, [("http.title", "Acme Vision IP camera login")])
    assert (ident.vendor, ident.category) == ("acme", "unknown")   # named, never counted on a mention alone
    assert ident.evidence[0].rule_id == "mention.acme" and ident.confidence == 0.4
    assert identify(engine, [("http.title", "ShinyCam viewer")]).brand == "shiny"   # a brand's name: its maker
    assert identify(engine, [("http.title", "acme vision")]).vendor is None        # as written, a whole word
    assert identify(engine, [("http.title", "AcmeVisionary")]).vendor is None
    assert identify(engine, [("ssh.banner", "SSH-2.0-Acme Vision")]).vendor is None   # not a self-description


def test_the_named_makers_model_number_in_a_title_settles_the_kind_but_never_names_a_maker(engine: Engine) -> None:
    ident = identify(engine, [("http.server", "AcmeWeb/1.2.3"), ("http.title", "AC-N400 - Login")])
    assert (ident.vendor, ident.category, ident.model) == ("acme", "nvr", "AC-N400")
    assert any(e.rule_id == "acme.model.nvr" and e.value == "AC-N400" for e in ident.evidence)
    alone = identify(engine, [("http.title", "AC-N400 - Login")])
    assert (alone.vendor, alone.category) == (None, "unknown")   # a word that looks like a part number: nobody


def test_a_maker_that_makes_mostly_video_kit_counts_a_surely_named_device_as_video(tmp_path: Path) -> None:
    mostly = ACME.replace("name: Acme Vision\n", "name: Acme Vision\nvideo_mostly: true\nvideo_mostly_source: test\n")
    eng = Engine(load_database(write_db(tmp_path, **{"acme.yaml": mostly}), cache=False))
    assert identify(eng, [("http.server", "AcmeWeb/1.2.3")]).category == "video"     # 0.85, no category
    assert identify(eng, [("http.title", "Acme Vision login")]).category == "unknown"  # a mention is not sure
    assert identify(eng, [("mac", "C0:56:E3:01:02:03")]).category == "unknown"        # nor is an OUI
    router = identify(eng, [("http.server", "AcmeWeb/1.2.3"), ("snmp.sysdescr", "Acme Router OS 2")])
    assert router.category == "other"                                                   # its other lines stay out
    (tmp_path / "plain").mkdir()
    plain = Engine(load_database(write_db(tmp_path / "plain"), cache=False))
    assert identify(plain, [("http.server", "AcmeWeb/1.2.3")]).category == "unknown"   # without the flag
    with pytest.raises(FingerprintError, match="video_mostly_source"):
        load_database(write_db(tmp_path, **{"acme.yaml": mostly.replace("video_mostly_source: test\n", "")}),
                      cache=False)


MAC_REALM = """
  - id: acme.rtsp.mac-realm
    signal: rtsp.www_authenticate
    regex: '^Digest realm="(?P<mac>[0-9a-f]{12})"'
    mac_in_oui: true
    confidence: 0.85
    category: video
    source: test
    examples: [{value: 'Digest realm="4419b63f5e51"', fields: {mac: 4419b63f5e51}}]
"""


def test_a_rule_bound_to_its_makers_blocks_holds_only_for_a_mac_in_them(tmp_path: Path) -> None:
    # Acme's blocks are Hikvision's MA-L organisation's (44:19:B6 among them); 00:11:22 is another company's
    eng = Engine(load_database(write_db(tmp_path, **{"acme.yaml": ACME.replace("\nmodels:", MAC_REALM + "models:")})))
    assert check(eng) == []
    ours = identify(eng, [("rtsp.www_authenticate", 'Digest realm="4419b63f5e51"')])
    assert (ours.vendor, ours.category) == ("acme", "video")
    other = identify(eng, [("rtsp.www_authenticate", 'Digest realm="001122334455"')])
    assert other.vendor is None and not any(e.rule_id == "acme.rtsp.mac-realm" for e in other.evidence)


def test_a_mac_read_by_the_makers_rule_is_the_devices_mac_unless_one_was_observed(tmp_path: Path) -> None:
    eng = Engine(load_database(write_db(tmp_path, **{"acme.yaml": ACME.replace("\nmodels:", MAC_REALM + "models:")})))
    routed = identify(eng, [("rtsp.www_authenticate", 'Digest realm="4419b63f5e51"')])
    assert routed.mac == "44:19:b6:3f:5e:51"             # seen across a router: no ARP, the realm tells it
    local = identify(eng, [("mac", "44:19:b6:01:02:03"), ("rtsp.www_authenticate", 'Digest realm="4419b63f5e51"')])
    assert local.mac == "44:19:b6:01:02:03"              # what the wire showed wins


def test_mac_in_oui_needs_a_mac_group(tmp_path: Path) -> None:
    bad = MAC_REALM.replace("(?P<mac>[0-9a-f]{12})", "[0-9a-f]{12}").replace(", fields: {mac: 4419b63f5e51}", "")
    with pytest.raises(FingerprintError, match="mac_in_oui"):
        load_database(write_db(tmp_path, **{"acme.yaml": ACME.replace("\nmodels:", bad + "models:")}), cache=False)
