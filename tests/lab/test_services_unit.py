"""Pure parts of the lab's responders (no namespaces, no root): personas, ProbeMatch, SADP, DHIP, auth."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from scanner.lab import personas as personas_mod
from scanner.lab.model import LabHost
from scanner.lab.personas import PersonaError, load_personas
from scanner.lab.services import dhip, expected_answers, sadp, snmpd_config, wsd
from scanner.lab.services.auth import DigestChecker, TokenChecker, UsernameToken, password_digest
from scanner.lab.services.context import HostContext, ipv6_link_local
from scanner.lab.services.onvif import device_information, parse_soap

SURVEILLANCE = ["hikvision-camera", "hikvision-nvr", "hikvision-anpr", "ezviz-camera", "lts-camera",
                "dahua-camera", "dahua-nvr", "dahua-anpr", "amcrest-camera", "lorex-nvr", "honeywell-camera",
                "huawei-camera", "uniview-camera", "axis-camera", "hanwha-camera", "bosch-camera",
                "milesight-camera", "tiandy-camera", "bodyworn-dock", "dji-dock"]
OTHER = ["huawei-router", "printer", "managed-switch", "windows-pc", "linux-nginx", "embedded-generic"]
HOSTILE = ["hostile-xml-bomb", "hostile-huge-http", "hostile-drip", "hostile-malformed-sadp",
           "hostile-malformed-dhip", "hostile-bad-utf8", "hostile-wsd-outside"]
PERSONAS = load_personas()
WSD_NS = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSA_NS = "http://schemas.xmlsoap.org/ws/2004/08/addressing"


def host_of(name: str, ip: str = "198.18.7.20", mac_tail: str = "12:34:56",
            channels: tuple[str, ...] = ()) -> LabHost:
    """A LabHost of persona NAME as the lab machinery would make it."""
    persona = PERSONAS[name]
    serial = str(persona.spec.get("serial_prefix", "")) + "0A1B2C3D4E5F"
    return LabHost(netns="camscan-tunit", ip=ip, mac=f"{persona.oui.lower()}:{mac_tail}", prefixlen=24,
                   persona=persona, serial=serial, firmware=persona.firmware,
                   hostname=f"{persona.name}-1", channels=channels)


def probe(types: str | None, scopes: str | None = None, prefix_decl: str = "") -> bytes:
    """A WS-Discovery Probe as clients write it (types with whatever prefixes they bind)."""
    types_xml = f"<d:Types{prefix_decl}>{types}</d:Types>" if types is not None else ""
    scopes_xml = f"<d:Scopes>{scopes}</d:Scopes>" if scopes else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:a="{WSA_NS}" xmlns:d="{WSD_NS}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Header>'
        f"<a:Action>{WSD_NS}/Probe</a:Action><a:MessageID>urn:uuid:0f0e0d0c-1111-4222-8333-444455556666"
        "</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        f"<s:Body><d:Probe>{types_xml}{scopes_xml}</d:Probe></s:Body></s:Envelope>").encode()


# --- personas ------------------------------------------------------------------------------------

def test_every_required_persona_exists_with_its_kind() -> None:
    for name in SURVEILLANCE:
        assert PERSONAS[name].vendor is not None and PERSONAS[name].category != "other", name
    for name in OTHER:
        assert PERSONAS[name].vendor is None and PERSONAS[name].category == "other", name
    for name in HOSTILE:
        assert PERSONAS[name].hostile and PERSONAS[name].vendor is None, name


def test_rebrands_name_the_real_maker() -> None:
    makers = {"lts-camera": ("hikvision", "lts"), "ezviz-camera": ("hikvision", "ezviz"),
              "amcrest-camera": ("dahua", "amcrest"), "lorex-nvr": ("dahua", "lorex"),
              "honeywell-camera": ("dahua", "honeywell"), "bodyworn-dock": ("axon", "axon"),
              "dji-dock": ("dji", "dji")}
    for name, (vendor, brand) in makers.items():
        assert (PERSONAS[name].vendor, PERSONAS[name].brand) == (vendor, brand)


def test_every_persona_cites_a_source_and_renders_its_expected_answers() -> None:
    for name, persona in PERSONAS.items():
        assert persona.spec["source"], name
        answers = expected_answers(host_of(name), seed=1)
        assert "${" not in json.dumps(answers), name


def test_persona_errors_name_file_and_field(tmp_path: Path) -> None:
    good = (Path(personas_mod.PERSONA_DIR) / "linux-nginx.yaml").read_text()
    bad = tmp_path / "linux-nginx.yaml"
    bad.write_text(good.replace("category: other", "category: toaster"))
    with pytest.raises(PersonaError, match=r"linux-nginx\.yaml: field 'category'"):
        load_personas(tmp_path)
    bad.write_text(good.replace("${hostname}", "${no_such_var}"))
    with pytest.raises(PersonaError, match=r"linux-nginx\.yaml: field 'spec\.https\.subject'.*no_such_var"):
        load_personas(tmp_path)
    bad.write_text(good.replace("services: [http, https, tcp]", "services: [http, https, tcp, rtsp]"))
    with pytest.raises(PersonaError, match=r"field 'spec\.rtsp'"):
        load_personas(tmp_path)


def test_hikvision_epr_tail_is_the_mac_and_dahua_epr_is_bare_uuid() -> None:
    hik = wsd.target_for(HostContext(host_of("hikvision-camera"), {}, 1))
    assert hik.epr.startswith("urn:uuid:") and hik.epr.endswith("4419b6123456")
    assert hik.epr.split("-")[2].startswith("1")        # version-1 layout
    dahua = wsd.target_for(HostContext(host_of("dahua-camera"), {}, 1))
    assert dahua.epr.startswith("uuid:") and "3cef8c" not in dahua.epr


def test_ipv6_link_local_is_eui64() -> None:
    assert ipv6_link_local("b4:a3:82:0f:d9:2d") == "fe80::b6a3:82ff:fe0f:d92d"   # protocols.md s.1 sample


# --- WS-Discovery ---------------------------------------------------------------------------------

def test_probe_match_parses_and_echoes_the_probe() -> None:
    target = wsd.target_for(HostContext(host_of("hikvision-camera"), {}, 1))
    data = wsd.build_probe_match(target, "urn:uuid:abc", "1234")
    root = SafeET.fromstring(data)
    assert root.findtext(f".//{{{WSA_NS}}}RelatesTo") == "urn:uuid:abc"
    match = root.find(f".//{{{WSD_NS}}}ProbeMatch")
    assert match is not None
    assert match.findtext(f"{{{WSA_NS}}}EndpointReference/{{{WSA_NS}}}Address") == target.epr
    scopes = (match.findtext(f"{{{WSD_NS}}}Scopes") or "").split()
    assert "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G0-I" in scopes
    assert match.findtext(f"{{{WSD_NS}}}MetadataVersion") == "10"
    assert root.find(f".//{{{WSD_NS}}}AppSequence") is not None


def test_types_matching_follows_namespaces_not_prefixes() -> None:
    target = wsd.target_for(HostContext(host_of("hikvision-camera"), {}, 1))
    windows = wsd.target_for(HostContext(host_of("windows-pc"), {}, 1))
    nvt = wsd.parse_probe(probe("dn:NetworkVideoTransmitter"))
    other_prefix = wsd.parse_probe(probe("dp0:NetworkVideoTransmitter",
                                         prefix_decl=' xmlns:dp0="http://www.onvif.org/ver10/network/wsdl"'))
    both = wsd.parse_probe(probe("dn:NetworkVideoTransmitter tds:Device"))
    unknown = wsd.parse_probe(probe("dn:NetworkVideoStorage"))
    untyped = wsd.parse_probe(probe(None))
    assert nvt and other_prefix and both and unknown and untyped
    assert wsd.matches(nvt, target) and wsd.matches(other_prefix, target) and wsd.matches(both, target)
    assert not wsd.matches(unknown, target)
    assert wsd.matches(untyped, windows) and not wsd.matches(nvt, windows)


def test_scope_matching_is_segment_wise() -> None:
    target = wsd.target_for(HostContext(host_of("dahua-camera"), {}, 1))
    yes = wsd.parse_probe(probe(None, "onvif://www.onvif.org/location/country"))
    partial = wsd.parse_probe(probe(None, "onvif://www.onvif.org/location/coun"))
    assert yes and partial
    assert wsd.matches(yes, target) and not wsd.matches(partial, target)


def test_junk_is_not_a_probe() -> None:
    assert wsd.parse_probe(b"<not-xml") is None
    assert wsd.parse_probe(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>') is None
    hello = probe(None).replace(b"d:Probe>", b"d:Hello>")
    assert wsd.parse_probe(hello) is None


def test_xml_bomb_persona_sends_an_entity_bomb_defusedxml_refuses() -> None:
    target = wsd.target_for(HostContext(host_of("hostile-xml-bomb"), {}, 1))
    data = wsd.build_probe_match(target, "urn:uuid:abc", "1")
    assert b"<!ENTITY lol9" in data and len(data) < 4000
    with pytest.raises(DefusedXmlException):
        SafeET.fromstring(data)


def test_outside_persona_points_outside_the_lab_hosts() -> None:
    target = wsd.target_for(HostContext(host_of("hostile-wsd-outside"), {}, 1))
    assert all("198.19.200.7" in x for x in target.xaddrs)


# --- SADP / DHIP ----------------------------------------------------------------------------------

def test_sadp_answers_inquiry_only() -> None:
    inquiry = b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>7A0C1E3B-1111</Uuid><Types>inquiry</Types></Probe>'
    activate = inquiry.replace(b"inquiry", b"activate")
    parsed = sadp.parse_probe(inquiry)
    assert parsed is not None and parsed.uuid == "7A0C1E3B-1111"
    assert sadp.parse_probe(activate) is None and sadp.parse_probe(b"\x00garbage") is None
    host = host_of("hikvision-camera")
    reply = SafeET.fromstring(sadp.build_reply(parsed, sadp.reply_fields(HostContext(host, {}, 1))))
    assert reply.tag == "ProbeMatch" and reply.findtext("Uuid") == "7A0C1E3B-1111"
    assert reply.findtext("MAC") == "44-19-b6-12-34-56"
    assert reply.findtext("DeviceSN") == host.serial
    assert reply.findtext("SoftwareVersion") == "V5.5.82build 190910"


def test_malformed_sadp_replies_break_a_strict_parser() -> None:
    parsed = sadp.parse_probe(b"<Probe><Uuid>U</Uuid><Types>inquiry</Types></Probe>")
    assert parsed is not None
    replies = sadp.malformed_replies(parsed, HostContext(host_of("hostile-malformed-sadp"), {}, 1))
    broken = 0
    for data in replies:
        try:
            SafeET.fromstring(data)
        except Exception:
            broken += 1
    assert broken >= 3


def test_dhip_frame_layout_and_bare_json_rejected() -> None:
    search = json.dumps({"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}}).encode()
    frame = dhip.build_frame(search)
    assert frame[:8] == b"\x20\x00\x00\x00DHIP" and len(frame) == 32 + len(search)
    assert struct.unpack_from("<I", frame, 0x10)[0] == len(search)
    assert struct.unpack_from("<I", frame, 0x18)[0] == len(search)
    assert dhip.parse_frame(frame) == json.loads(search)
    assert dhip.parse_frame(search) is None
    assert dhip.parse_frame(frame[:40]) is None


def test_dhip_reply_describes_the_host() -> None:
    host = host_of("lorex-nvr")
    message = dhip.parse_frame(dhip.build_reply(HostContext(host, {}, 1)))
    assert message is not None and message["method"] == "client.notifyDevInfo"
    info = message["params"]["deviceInfo"]
    assert (info["Vendor"], info["Port"], info["SerialNo"], info["DeviceClass"]) == ("Lorex", 35000,
                                                                                     host.serial, "NVR")


# --- auth -----------------------------------------------------------------------------------------

def _zeep_token(password: str, when: dt.datetime | None = None) -> UsernameToken:
    """A UsernameToken made by zeep's own WS-Security implementation (independent of ours)."""
    from lxml import etree
    from zeep.wsse.username import UsernameToken as ZeepToken

    env = etree.fromstring(b'<soap-env:Envelope xmlns:soap-env="http://www.w3.org/2003/05/soap-envelope">'
                           b"<soap-env:Header/><soap-env:Body><x/></soap-env:Body></soap-env:Envelope>")
    token = ZeepToken("admin", password, use_digest=True, created=when)
    envelope, _ = token.apply(env, {})
    call = parse_soap(etree.tostring(envelope))
    assert call.token is not None
    return call.token


def test_password_digest_matches_the_ws_security_formula() -> None:
    nonce = base64.b64encode(b"0123456789abcdef").decode()
    expected = base64.b64encode(hashlib.sha1(b"0123456789abcdef" + b"2026-01-01T00:00:00Zsecret").digest())
    assert password_digest(nonce, "2026-01-01T00:00:00Z", "secret") == expected.decode()


def test_token_checker_accepts_zeep_and_refuses_wrong_replayed_and_stale() -> None:
    now = dt.datetime.now(dt.UTC)
    checker = TokenChecker("admin", "camscan-lab", window_s=300)
    good = _zeep_token("camscan-lab")
    assert checker.check(good, now)
    assert not checker.check(good, now)                       # nonce replay
    assert not checker.check(_zeep_token("wrong"), now)
    stale = _zeep_token("camscan-lab", now - dt.timedelta(hours=1))
    assert not checker.check(stale, now)


def test_http_digest_checker() -> None:
    checker = DigestChecker("IP Camera(12345)", "admin", "pw")
    checker.remember_nonce("abc")
    ha1 = hashlib.md5(b"admin:IP Camera(12345):pw").hexdigest()
    ha2 = hashlib.md5(b"GET:/ISAPI/System/deviceInfo").hexdigest()
    response = hashlib.md5(f"{ha1}:abc:00000001:xyz:auth:{ha2}".encode()).hexdigest()
    header = (f'Digest username="admin", realm="IP Camera(12345)", nonce="abc", uri="/ISAPI/System/deviceInfo", '
              f'qop=auth, nc=00000001, cnonce="xyz", response="{response}"')
    assert checker.check("GET", header)
    assert not checker.check("GET", header.replace('nonce="abc"', 'nonce="forged"'))
    assert not checker.check("GET", header.replace(response, "0" * 32))


# --- ONVIF / SNMP text ----------------------------------------------------------------------------

def test_device_information_uses_host_firmware_after_reflash() -> None:
    host = host_of("dahua-camera")
    reflashed = LabHost(**{**{f: getattr(host, f) for f in host.__slots__}, "firmware": "2.840.0000000.9.R"})
    info = device_information(HostContext(reflashed, {}, 1))
    assert info["FirmwareVersion"] == "2.840.0000000.9.R" and info["Manufacturer"] == "Dahua"


def test_snmpd_config_only_for_snmp_personas() -> None:
    conf = snmpd_config(host_of("hikvision-camera"))
    assert conf is not None
    assert "rocommunity public 198.18.7.0/24" in conf
    assert 'override 1.3.6.1.4.1.39165.1.1.0 octet_str "DS-2CD2143G0-I"' in conf
    assert "agentAddress udp:198.18.7.20:161" in conf
    assert snmpd_config(host_of("dahua-camera")) is None
    switch = snmpd_config(host_of("managed-switch"))
    assert switch is not None and "sysObjectID 1.3.6.1.4.1.9.1.1208" in switch



def test_msearch_needs_quoted_man_and_answers_by_search_target() -> None:
    from scanner.lab.services import ssdp

    good = b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 9\r\nST: ssdp:all\r\n\r\n'
    search = ssdp.parse_msearch(good)
    assert search is not None and search.st == "ssdp:all" and search.mx == ssdp.MAX_MX
    assert ssdp.parse_msearch(good.replace(b'"ssdp:discover"', b"ssdp:discover")) is None
    assert ssdp.parse_msearch(good.replace(b"M-SEARCH", b"NOTIFY")) is None
    device = ssdp.SsdpDevice(HostContext(host_of("axis-camera"), {}, 1))
    assert len(device.targets("ssdp:all")) == 3
    assert device.targets("upnp:rootdevice") == [("upnp:rootdevice", f"{device.udn}::upnp:rootdevice")]
    assert device.targets("urn:schemas-upnp-org:device:MediaRenderer:1") == []
    root = SafeET.fromstring(device.description())
    ns = "{urn:schemas-upnp-org:device-1-0}"
    assert root.findtext(f"{ns}device/{ns}modelNumber") == "M2036-LE"


def test_resolve_answers_only_for_its_own_endpoint() -> None:
    target = wsd.target_for(HostContext(host_of("axis-camera"), {}, 1))

    def resolve(epr: str) -> bytes:
        return probe(None).replace(b"<d:Probe></d:Probe>", (
            f"<d:Resolve><a:EndpointReference><a:Address>{epr}</a:Address></a:EndpointReference>"
            "</d:Resolve>").encode())
    mine, other = wsd.parse_probe(resolve(target.epr)), wsd.parse_probe(resolve("urn:uuid:someone-else"))
    assert mine is not None and other is not None
    assert wsd.matches(mine, target) and not wsd.matches(other, target)
    reply = SafeET.fromstring(wsd.build_probe_match(target, mine.message_id, "9", action="ResolveMatches"))
    assert reply.find(f".//{{{WSD_NS}}}ResolveMatch") is not None
