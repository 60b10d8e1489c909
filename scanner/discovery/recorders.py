"""Recorders' own channel lists, read-only, in their makers' dialects (issue 13).

Where a recorder's ONVIF answer says little about the cameras behind it, its maker publishes a read-only list:
Hikvision (and Hikvision-made OEM) recorders `GET /ISAPI/ContentMgmt/InputProxy/channels` (XML
`InputProxyChannelList`; elements `InputProxyChannel/{id,name,sourceInputPortDescriptor/{proxyProtocol,ipAddress,
model,serialNumber,firmwareVersion}}`, as in public ISAPI clients such as maciej-or/hikvision_next), Dahua (and
OEM) recorders `GET /cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice` (`key=value` lines
`table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_<slot>.<Field>`; fields Address, Enable, Name, Vendor,
ProtocolType, DeviceType, SerialNo, Mac, Version, as in public Dahua CGI clients). Both need the operator's
credentials (HTTP Digest, RFC 7616): camscan sends one unauthenticated GET to learn whether the path exists and
its challenge, then at most one authenticated GET, and only to a recorder whose ONVIF login with the same
credentials already succeeded. Never a write, never a second try.

The Dahua table also holds each camera's stored password: it is never read into a record.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from typing import Final

from scanner.discovery.base import DecodeError
from scanner.macaddr import normalise_mac
from scanner.models import Channel

ISAPI_CHANNELS: Final = "/ISAPI/ContentMgmt/InputProxy/channels"
DAHUA_REMOTE_DEVICES: Final = "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice"
MAX_REPLY_BYTES: Final = 512 * 1024
MAX_CHANNELS: Final = 256
MAX_FIELD: Final = 128
# Dahua fields read into a Channel; anything else (Password, UserName, ports...) is dropped unread
_DAHUA_FIELDS: Final = frozenset({"Address", "Enable", "Name", "Vendor", "ProtocolType", "DeviceType", "SerialNo",
                                  "Mac", "Version"})
_DAHUA_LINE = re.compile(r"^table\.RemoteDevice\.uuid:System_CONFIG_NETCAMERA_INFO_(\d{1,4})\.([A-Za-z]+)=(.*)$")
_UNSET_ADDRESSES: Final = frozenset({"", "0.0.0.0", "192.168.0.0"})   # empty slots list one of these


class RecorderDecodeError(DecodeError):
    """A recorder's channel list could not be decoded."""


def _text(v: str | None) -> str | None:
    t = re.sub(r"\s+", " ", v or "").strip()[:MAX_FIELD]
    return t or None


def _address(v: str | None) -> str | None:
    try:
        return str(ipaddress.IPv4Address((v or "").strip()))
    except ValueError:
        return None


def parse_isapi_channels(body: bytes) -> list[Channel]:
    """Channels of an InputProxyChannelList (any namespace; counted from the elements, never the size attribute)."""
    from defusedxml import ElementTree as SafeET

    if len(body) > MAX_REPLY_BYTES:
        raise RecorderDecodeError("channel list over the size cap")
    try:
        root = SafeET.fromstring(body)
    except Exception as e:   # ParseError, defusedxml's forbidden constructs, unknown encodings
        raise RecorderDecodeError(f"not XML: {type(e).__name__}") from None

    def local(tag: object) -> str:
        return str(tag).rsplit("}", 1)[-1]

    if local(root.tag) != "InputProxyChannelList":
        raise RecorderDecodeError(f"not an InputProxyChannelList: <{local(root.tag)[:60]}>")
    out: list[Channel] = []
    for ch in root:
        if local(ch.tag) != "InputProxyChannel":
            continue
        f: dict[str, str] = {}
        for el in ch.iter():
            name = local(el.tag)
            if name not in f and el.text and name not in ("userName", "password"):
                f[name] = el.text
        token = _text(f.get("id"))
        if token is None:
            continue
        protocol = _text(f.get("proxyProtocol"))
        out.append(Channel(token, _address(f.get("ipAddress")), maker=_text(f.get("manufacturer")),
                           model=_text(f.get("model")), firmware=_text(f.get("firmwareVersion")),
                           serial=_text(f.get("serialNumber")), mac=normalise_mac(f.get("macAddress") or ""),
                           name=_text(f.get("name")), protocol=protocol, source="isapi"))
        if len(out) >= MAX_CHANNELS:
            break
    return out


def parse_remote_devices(body: bytes) -> list[Channel]:
    """Enabled slots of a Dahua RemoteDevice table (slot n is channel n+1); passwords are never read."""
    if len(body) > MAX_REPLY_BYTES:
        raise RecorderDecodeError("RemoteDevice table over the size cap")
    text = body.decode("utf-8", errors="replace")
    slots: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        m = _DAHUA_LINE.match(line.strip())
        if m is None or m.group(2) not in _DAHUA_FIELDS:
            continue
        slots.setdefault(int(m.group(1)), {})[m.group(2)] = m.group(3)
    if not slots and text.strip() and "RemoteDevice" not in text:
        raise RecorderDecodeError("not a RemoteDevice table")
    out: list[Channel] = []
    for slot in sorted(slots):
        f = slots[slot]
        address = _address(f.get("Address"))
        unset = (address or "") in _UNSET_ADDRESSES and not f.get("DeviceType")
        if f.get("Enable", "").strip().lower() != "true" or unset:
            continue
        vendor = _text(f.get("Vendor"))
        out.append(Channel(str(slot + 1), address if address not in _UNSET_ADDRESSES else None,
                           # "Private" names Dahua's own protocol, not a maker: the model and serial identify it
                           maker=vendor if vendor and vendor.lower() not in ("private", "onvif", "general") else None,
                           model=_text(f.get("DeviceType")), firmware=_text(f.get("Version")),
                           serial=_text(f.get("SerialNo")), mac=normalise_mac(f.get("Mac") or ""),
                           name=_text(f.get("Name")), protocol=_text(f.get("ProtocolType")) or vendor,
                           source="dahua"))
        if len(out) >= MAX_CHANNELS:
            break
    return out


def _challenge_params(header: str) -> dict[str, str]:
    return {k.lower(): v1 if v1 else v2 for k, v1, v2 in
            re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', header)}


def digest_authorization(method: str, uri: str, user: str, password: str, challenge: str) -> str | None:
    """The Authorization header answering a Digest challenge (MD5 or SHA-256, qop auth or none); None when the
    challenge is not one camscan answers."""
    if not challenge.strip().lower().startswith("digest"):
        return None
    p = _challenge_params(challenge[6:])
    realm, nonce = p.get("realm"), p.get("nonce")
    algorithm = (p.get("algorithm") or "MD5").upper()
    if realm is None or nonce is None or algorithm not in ("MD5", "SHA-256"):
        return None

    def h(text: str) -> str:
        return (hashlib.md5 if algorithm == "MD5" else hashlib.sha256)(text.encode("utf-8")).hexdigest()

    ha1, ha2 = h(f"{user}:{realm}:{password}"), h(f"{method}:{uri}")
    qops = [q.strip() for q in (p.get("qop") or "").split(",") if q.strip()]
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        cnonce, nc = secrets.token_hex(8), "00000001"
        parts += [f'response="{h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")}"', "qop=auth", f"nc={nc}",
                  f'cnonce="{cnonce}"']
    elif qops:
        return None          # auth-int only: not for a GET camscan sends
    else:
        parts.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    parts.append(f"algorithm={algorithm}")
    return "Digest " + ", ".join(parts)


def merge_channels(onvif: list[Channel], dialect: list[Channel]) -> list[Channel]:
    """One list from a recorder's ONVIF channels and its own dialect's (richer, authoritative) list: the dialect
    entries, then any ONVIF receiver whose camera address no dialect entry has. ONVIF video sources without an
    address add nothing (a recorder may list a source per input, connected or not)."""
    if not dialect:
        return onvif
    seen = {c.ip for c in dialect if c.ip}
    extra = [c for c in onvif if c.ip and c.ip not in seen]
    return (dialect + extra)[:MAX_CHANNELS]


_DIALECTS: Final = {"hikvision": "isapi", "dahua": "dahua"}


def dialect_of(manufacturer: str) -> str | None:
    """'isapi' for a Hikvision-made device, 'dahua' for a Dahua-made one, by the maker or brand its ONVIF
    Manufacturer names (names, slugs and aliases of the fingerprint database, OEM brands resolved); else None."""
    from scanner.match.load import load_database

    m = manufacturer.strip().lower()
    if not m:
        return None
    db = load_database()
    for mk in db.makers.values():
        if m in {mk.slug, mk.name.lower(), *(a.lower() for a in mk.aliases)}:
            return _DIALECTS.get(mk.slug)
    for b in db.brands.values():
        if m in {b.slug, b.name.lower(), *(a.lower() for a in b.aliases)}:
            return _DIALECTS.get(b.maker)
    return None


def recorder_get(ip: str, port: int, path: str, authorization: str | None = None) -> bytes:
    """A GET of path with Connection: close, and the Authorization header when given (never logged)."""
    from scanner.discovery.http import build_request

    req = build_request("GET", ip, port, path)
    if authorization is None:
        return req
    return req[:-2] + f"Authorization: {authorization}\r\n\r\n".encode("latin-1", "replace")
