"""The shipped fingerprint database: sound, documented, and honest about weak signals."""

from __future__ import annotations

from pathlib import Path

from scanner.inventory.resolve import identify
from scanner.match.engine import get_engine
from scanner.match.load import SURVEILLANCE_CATEGORIES, default_root
from scanner.match.verify import check, supported_markdown

REQUIRED_MAKERS = {"hikvision", "dahua", "huawei", "uniview", "axis", "hanwha", "bosch", "honeywell", "nuuo",
                   "dji", "tiandy", "milesight", "reolink", "vivotek", "mobotix", "geovision", "avigilon",
                   "panasonic", "sony", "pelco", "xiongmai", "kedacom", "tplink"}


def test_shipped_database_passes_every_check() -> None:
    assert check(get_engine()) == []


def test_required_makers_are_covered() -> None:
    missing = REQUIRED_MAKERS - set(get_engine().db.makers)
    assert not missing, f"no maker file for {sorted(missing)}"


def test_supported_md_is_current() -> None:
    db = get_engine().db
    committed = (Path(default_root()) / "SUPPORTED.md").read_text(encoding="utf-8")
    assert committed == supported_markdown(db), "fingerprints/SUPPORTED.md is stale: run camscan fingerprints stats"


def test_no_single_weak_signal_makes_a_surveillance_device() -> None:
    """Every rule below the category threshold, fired alone on its own example, gives no surveillance category."""
    eng = get_engine()
    for r in eng.db.rules:
        if r.confidence >= 0.5:
            continue
        for ex in r.examples[:1]:
            ident = identify(eng, [(r.signal, ex.value)])
            assert ident.category not in SURVEILLANCE_CATEGORIES, (r.id, ex.value, ident.category)


def test_an_oui_alone_never_makes_a_camera() -> None:
    eng = get_engine()
    for prefix, maker in list(eng.db.oui.items())[:400]:
        if len(prefix) != 6:
            continue
        mac = ":".join([prefix[0:2], prefix[2:4], prefix[4:6], "12", "34", "56"])
        ident = identify(eng, [("mac", mac)])
        assert ident.vendor == maker and ident.category not in SURVEILLANCE_CATEGORIES


def test_every_concern_list_and_advisory_has_a_source() -> None:
    db = get_engine().db
    assert db.concerns, "concerns.yaml has no lists"
    for c in db.concerns:
        assert c.source and c.date and c.makers
    for a in db.advisories:
        assert a.source   # ranges are optional: an advisory with no published fix is only ever "possible"


def test_every_file_reads_the_same_with_the_pure_python_yaml_loader() -> None:
    # the loader takes libyaml's CSafeLoader when PyYAML was built with it; a machine without libyaml reads the
    # database with the pure-Python SafeLoader, which is stricter (e.g. a bare '?' inside a [flow list])
    import yaml

    for path in sorted(Path(default_root()).glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=yaml.SafeLoader) == yaml.load(text, Loader=getattr(yaml, "CSafeLoader",
                                                                                           yaml.SafeLoader)), path


def test_an_answered_onvif_device_service_counts_unless_the_model_says_otherwise() -> None:
    """A no-brand ONVIF camera's device information makes a video device; a maker's access terminal stays other."""
    eng = get_engine()
    brandless = identify(eng, [("onvif.manufacturer", "IPCAM"), ("onvif.model", "C6F0SiZ3N0P0L0"),
                               ("onvif.firmware", "V6.1.10.2.1-20150624")])
    assert brandless.vendor is None and brandless.category == "video"
    terminal = identify(eng, [("onvif.manufacturer", "HIKVISION"), ("onvif.model", "DS-K1T671M")])
    assert terminal.vendor == "hikvision" and terminal.category == "other"
    assert identify(eng, [("onvif.manufacturer", "HIKVISION"), ("onvif.model", "DS-2CD2143G0-I")]).category == "camera"


def test_an_rtsp_login_challenge_counts_as_video_but_the_same_http_challenge_does_not() -> None:
    """An RTSP server wanting a login is a video source of unknown kind and maker; a web login is nothing."""
    eng = get_engine()
    challenge = 'Digest realm="LIVE555 Streaming Media", nonce="c633aaf8b83127633cbe98fac1d20d87"'
    rtsp = identify(eng, [("rtsp.www_authenticate", challenge), ("tcp.port", "554")])
    assert rtsp.vendor is None and rtsp.category == "video"
    assert identify(eng, [("http.www_authenticate", challenge)]).category not in SURVEILLANCE_CATEGORIES
    tapo = identify(eng, [("rtsp.www_authenticate", 'Basic realm="TP-Link IP-Camera"')])
    assert tapo.vendor == "tplink" and tapo.category == "camera"


def test_a_manufacturer_field_naming_a_maker_outright_names_it_in_any_letter_case() -> None:
    """The whole field is the maker's or brand's name (case, spacing, company suffix aside); other words are not."""
    eng = get_engine()
    vicon = identify(eng, [("onvif.manufacturer", "VICON")])
    assert vicon.vendor == "vicon" and vicon.category == "video"
    assert identify(eng, [("upnp.manufacturer", "Sony  corporation")]).vendor == "sony"
    lorex = identify(eng, [("onvif.manufacturer", "LOREX")])
    assert (lorex.vendor, lorex.brand) == ("dahua", "lorex")
    for other in ("General", "Synology", "Vicon Axis", "IPCAM"):
        assert identify(eng, [("upnp.manufacturer", other)]).vendor is None, other
