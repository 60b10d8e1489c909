"""Recorders' own channel lists: parsed from the shapes real recorders send, hostile input refused cleanly, the
cameras' stored passwords never read, and Digest answers that a real server accepts (issue 13)."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.discovery.base import DecodeError
from scanner.discovery.recorders import (
    dialect_of,
    digest_authorization,
    merge_channels,
    parse_isapi_channels,
    parse_remote_devices,
    recorder_get,
)
from scanner.models import Channel

# The shape of a Hikvision NVR's reply (isapi.org namespace of newer firmware), field names and values as in
# public ISAPI client test fixtures; the second channel is an ONVIF camera of another maker.
ISAPI = b"""<?xml version="1.0" encoding="UTF-8" ?>
<InputProxyChannelList version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema" size="14">
<InputProxyChannel><id>1</id><name>Kraal </name><sourceInputPortDescriptor>
<proxyProtocol>HIKVISION</proxyProtocol><addressingFormatType>ipaddress</addressingFormatType>
<ipAddress>192.168.1.64</ipAddress><managePortNo>8000</managePortNo><srcInputPort>1</srcInputPort>
<userName>admin</userName><streamType>auto</streamType><model>DS-2CD2322WD-I</model>
<serialNumber>DS-2CD2322WD-I20151013BBWR545974939</serialNumber><firmwareVersion>V5.5.0 build 170725</firmwareVersion>
<deviceID></deviceID></sourceInputPortDescriptor><devIndex>9662D98AC8384688</devIndex></InputProxyChannel>
<InputProxyChannel><id>2</id><name>Gate</name><sourceInputPortDescriptor><proxyProtocol>ONVIF</proxyProtocol>
<addressingFormatType>ipaddress</addressingFormatType><ipAddress>192.168.1.70</ipAddress>
<managePortNo>80</managePortNo></sourceInputPortDescriptor></InputProxyChannel>
</InputProxyChannelList>"""

# A Dahua recorder's RemoteDevice table, as public Dahua CGI clients record it: an ONVIF-added Hikvision camera,
# a Dahua camera, and an empty slot; real recorders include each camera's stored password.
DAHUA = (b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Name=\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Enable=true\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Address=192.168.252.25\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Mac=\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Password=cam-secret-1\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.UserName=admin\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.SerialNo=DS-2CD1143G0-I20211208AAWRJ21084244\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.DeviceType=DS-2CD1143G0-I\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Vendor=Onvif\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Version=V5.7.1 build 211102\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Address=192.168.2.13\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Enable=true\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Mac=08:ed:ed:28:8f:97\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Password=cam-secret-2\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Vendor=Private\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.ProtocolType=Dahua2\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.DeviceType=IPC-HDW1025C\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_2.Address=192.168.0.0\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_2.Enable=false\r\n"
         b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_2.Password=cam-secret-3\r\n")


def test_isapi_channels_keep_what_the_recorder_says_of_each_camera() -> None:
    chans = parse_isapi_channels(ISAPI)
    assert len(chans) == 2    # counted from the elements, not the size attribute (a real recorder's says 14)
    one, two = chans
    assert (one.token, one.ip, one.model, one.serial, one.firmware, one.protocol, one.name, one.source) == (
        "1", "192.168.1.64", "DS-2CD2322WD-I", "DS-2CD2322WD-I20151013BBWR545974939", "V5.5.0 build 170725",
        "HIKVISION", "Kraal", "isapi")
    assert (two.token, two.ip, two.protocol, two.model) == ("2", "192.168.1.70", "ONVIF", None)
    assert "admin" not in repr(chans)   # the stored user name is not kept either


def test_remote_devices_skip_empty_slots_and_never_read_passwords() -> None:
    chans = parse_remote_devices(DAHUA)
    assert [(c.token, c.ip, c.model, c.serial, c.mac, c.maker) for c in chans] == [
        ("1", "192.168.252.25", "DS-2CD1143G0-I", "DS-2CD1143G0-I20211208AAWRJ21084244", None, None),
        ("2", "192.168.2.13", "IPC-HDW1025C", None, "08:ed:ed:28:8f:97", None)]
    assert chans[0].firmware == "V5.7.1 build 211102" and chans[1].protocol == "Dahua2"
    assert "cam-secret" not in repr(chans) and "admin" not in repr(chans)


@pytest.mark.parametrize(("parse", "body"), [
    (parse_isapi_channels, b"<ResponseStatus><statusCode>4</statusCode></ResponseStatus>"),
    (parse_isapi_channels, b"not xml at all <"),
    (parse_isapi_channels, b'<!DOCTYPE x [<!ENTITY a "aaaa">]><InputProxyChannelList>&a;</InputProxyChannelList>'),
    (parse_isapi_channels, b"<InputProxyChannelList>" + b"x" * (600 * 1024) + b"</InputProxyChannelList>"),
    (parse_remote_devices, b"Error\r\nBad Request!\r\n"),
])
def test_what_is_not_a_channel_list_is_a_decode_error(parse, body) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError):
        parse(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_channels_or_a_decode_error(data: bytes) -> None:
    for parse in (parse_isapi_channels, parse_remote_devices):
        try:
            chans = parse(data)
        except DecodeError:
            continue
        assert all(isinstance(c, Channel) and len(c.token) <= 128 for c in chans)


def test_a_thousand_slots_are_capped() -> None:
    body = b"".join(b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_%d.Enable=true\r\n"
                    b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_%d.Address=10.0.%d.%d\r\n"
                    % (i, i, i // 250, i % 250 + 1) for i in range(1000))
    assert len(parse_remote_devices(body)) == 256


def _check(header: str, method: str, password: str) -> bool:
    """Verify an Authorization header the way a Digest server does (RFC 7616, MD5, qop=auth)."""
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
    ha1 = hashlib.md5(f"{p['username']}:{p['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{p['uri']}".encode()).hexdigest()
    want = hashlib.md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}".encode()).hexdigest()
    return p["response"] == want


def test_digest_answer_is_what_the_server_computes() -> None:
    challenge = 'Digest qop="auth", realm="IP Camera(C2183)", nonce="4e6a4d31", stale="FALSE"'
    header = digest_authorization("GET", "/ISAPI/ContentMgmt/InputProxy/channels", "admin", "pa55", challenge)
    assert header is not None and _check(header, "GET", "pa55") and not _check(header, "GET", "other")
    assert "pa55" not in header
    assert digest_authorization("GET", "/", "u", "p", 'Basic realm="x"') is None   # never sends a password in clear
    assert digest_authorization("GET", "/", "u", "p", 'Digest realm="x", nonce="n", qop="auth-int"') is None
    req = recorder_get("198.18.0.5", 80, "/x", header)
    assert req.endswith(b"\r\n\r\n") and req.count(b"Authorization: Digest") == 1


def test_dialect_follows_the_real_maker_of_a_brand() -> None:
    assert dialect_of("HIKVISION") == "isapi" and dialect_of("Dahua") == "dahua"
    assert dialect_of("Lorex") == "dahua"          # a Dahua-made brand speaks Dahua's API
    assert dialect_of("AXIS") is None and dialect_of("") is None


def test_dialect_list_wins_and_onvif_keeps_what_it_alone_saw() -> None:
    onvif = [Channel("a", "10.0.0.1"), Channel("b", "10.0.0.9")]
    own = [Channel("1", "10.0.0.1", model="DS-2CD2322WD-I", source="isapi")]
    assert [(c.token, c.ip) for c in merge_channels(onvif, own)] == [("1", "10.0.0.1"), ("b", "10.0.0.9")]
    assert merge_channels(onvif, []) == onvif
    sources = [Channel("VS1"), Channel("VS2"), Channel("VS3")]   # bare video sources add no camera to the list
    assert [c.token for c in merge_channels(sources, own)] == ["1"]
