"""ONVIF device service queries (phase 2, per host, the device service on the XAddr or web ports).

Protocol: ONVIF Core over SOAP 1.2 / HTTP, POST to `http://<ip>:<port>/onvif/device_service`
(shared/docs/protocols.md section 2). Without credentials only the PRE_AUTH GetSystemDateAndTime is
sent: it proves a device service and gives the clock skew (kept in hints, needed to sign WS-Security
tokens). With the operator's credentials for the host, one authenticated session: GetDeviceInformation
first (if it fails, nothing more is sent with those credentials: cameras lock accounts), then
GetNetworkInterfaces, GetServices (GetCapabilities where GetServices is missing) and, through the media
and receiver services, the video sources and receivers behind a recorder. Each call is one SOAP envelope
built here, signed with a WS-Security UsernameToken (PasswordDigest, OASIS UsernameToken Profile 1.0) on
the device's clock, and its reply read by element names: no WSDL is loaded (building SOAP clients from
the ONVIF WSDLs cost more CPU than the rest of a credentialed scan). Only Get* operations are sent.
Every URL the device advertises is pinned back to the device's own address before use.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import html
import os
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from xml.etree.ElementTree import Element

from scanner.discovery import probes, recorders
from scanner.discovery.base import DecodeError, HostModule, ScanContext
from scanner.discovery.http import HttpResponse
from scanner.discovery.recorders import (
    DAHUA_REMOTE_DEVICES,
    ISAPI_CHANNELS,
    dialect_of,
    digest_authorization,
    merge_channels,
    parse_isapi_channels,
    parse_remote_devices,
    recorder_get,
)
from scanner.models import Channel, Observation

RECORDER_REPLY_CAP = recorders.MAX_REPLY_BYTES + 16 * 1024   # the channel list plus its headers

#: Ports tried for the device service when discovery gave no XAddr: fingerprints/probes.yaml (onvif_ports).
CANDIDATE_PORTS: tuple[int, ...] = probes.load().onvif_ports
DEVICE_PATH = "/onvif/device_service"
HOST_CONCURRENCY = 32
MAX_FIELD_CHARS = 256
MAX_CHANNELS = 256

#: GetDeviceInformation response fields (ONVIF devicemgmt.wsdl) -> signal.
DEVICE_INFO_SIGNALS: dict[str, str] = {
    "Manufacturer": "onvif.manufacturer",
    "Model": "onvif.model",
    "FirmwareVersion": "onvif.firmware",
    "SerialNumber": "onvif.serial",
    "HardwareId": "onvif.hardware_id",
}
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"   # some older device services still answer in 1.1
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TRV = "http://www.onvif.org/ver10/receiver/wsdl"
TT = "http://www.onvif.org/ver10/schema"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
                   "#PasswordDigest")
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
MAX_REPLY_BYTES = 64 * 1024
SESSION_REPLY_BYTES = 512 * 1024      # a recorder's receivers and video sources: up to MAX_CHANNELS of each
MAX_FIELD_DEPTH = 8                   # the deepest field read (Receivers/Configuration/MediaUri is 2)

#: Signals copied into a recorder's channel entries when the channel's camera answered too.
CHANNEL_FIELDS: dict[str, str] = {"onvif.manufacturer": "maker", "onvif.model": "model", "onvif.firmware": "firmware"}
_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")
_AUTH_HINTS = ("notauthorized", "not authorized", "unauthorized", "401", "authority", "sender not auth",
               "authentication", "password", "username")


# ---- pure ------------------------------------------------------------------------------------

class OnvifDecodeError(DecodeError):
    """A device-service reply (SOAP envelope, date and time) could not be decoded."""


@dataclass(frozen=True, slots=True)
class TimeReply:
    """A device service's answer to the anonymous GetSystemDateAndTime: its UTC clock, or a SOAP fault."""

    utc: dt.datetime | None
    fault_code: str | None = None


def build_probe(ip: str, port: int) -> bytes:
    """The HTTP POST of an anonymous GetSystemDateAndTime (SOAP 1.2, PRE_AUTH per ONVIF Core)."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>'
            f'<tds:GetSystemDateAndTime xmlns:tds="{TDS}"/></s:Body></s:Envelope>').encode()
    from scanner.discovery.http import build_request
    return build_request("POST", ip, port, DEVICE_PATH, body,
                         f'application/soap+xml; charset=utf-8; action="{TDS}/GetSystemDateAndTime"')


def parse_reply(body: bytes) -> TimeReply:
    """Parse a SOAP 1.2 envelope holding GetSystemDateAndTimeResponse or a Fault; raises OnvifDecodeError only."""
    from defusedxml import ElementTree as SafeET
    if len(body) > MAX_REPLY_BYTES:
        raise OnvifDecodeError("SOAP reply over the size cap")
    try:
        root = SafeET.fromstring(body)
    except Exception as e:   # ParseError, defusedxml's forbidden constructs, LookupError for encoding="x-..."
        raise OnvifDecodeError(f"not XML: {type(e).__name__}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise OnvifDecodeError(f"not a SOAP 1.2 envelope: <{str(root.tag)[:80]}>")
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    if fault is not None:
        code = fault.findtext(f"{{{SOAP_ENV}}}Code/{{{SOAP_ENV}}}Value") or "fault"
        sub = fault.findtext(f"{{{SOAP_ENV}}}Code/{{{SOAP_ENV}}}Subcode/{{{SOAP_ENV}}}Value")
        return TimeReply(None, _text(sub or code))
    sdt = root.find(f"{{{SOAP_ENV}}}Body/{{{TDS}}}GetSystemDateAndTimeResponse/{{{TDS}}}SystemDateAndTime")
    if sdt is None:
        raise OnvifDecodeError("no GetSystemDateAndTimeResponse in the SOAP body")
    utc = sdt.find(f"{{{TT}}}UTCDateTime")
    if utc is None:
        return TimeReply(None)
    values = {part: {k: utc.findtext(f"{{{TT}}}{part}/{{{TT}}}{k}") for k in keys}
              for part, keys in (("Date", ("Year", "Month", "Day")), ("Time", ("Hour", "Minute", "Second")))}
    return TimeReply(device_utc({"UTCDateTime": values}))


class OnvifFault(Exception):
    """An authenticated call was refused: a SOAP fault or an HTTP error status (the message names which)."""


def soap_envelope(namespace: str, operation: str, params: str = "", security: str = "") -> bytes:
    """A SOAP 1.2 envelope calling namespace:operation with params (XML in that namespace, prefix `m`)."""
    header = f"<s:Header>{security}</s:Header>" if security else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_ENV}">{header}<s:Body>'
            f'<m:{operation} xmlns:m="{namespace}">{params}</m:{operation}></s:Body></s:Envelope>').encode()


def username_token(user: str, password: str, created: dt.datetime, nonce: bytes) -> str:
    """The wsse:Security header of a PasswordDigest UsernameToken: Base64(SHA-1(nonce + Created + password)),
    Created in UTC 'Z' form to the second (created is the device's clock, not ours)."""
    stamp = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()).decode()
    return (f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{html.escape(user, quote=False)}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>")


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def parse_call_reply(status: int, body: bytes, operation: str) -> Element:
    """The <operation>Response element of a reply; raises OnvifFault (SOAP fault or HTTP error status) or
    OnvifDecodeError (anything else)."""
    from defusedxml import ElementTree as SafeET
    if status in (401, 403):
        raise OnvifFault(f"HTTP {status}: not authorized")
    if len(body) > SESSION_REPLY_BYTES:
        raise OnvifDecodeError("SOAP reply over the size cap")
    try:
        root = SafeET.fromstring(body)
    except Exception as e:   # ParseError, defusedxml's forbidden constructs, LookupError for encoding="x-..."
        if status >= 400:
            raise OnvifFault(f"HTTP {status}") from None
        raise OnvifDecodeError(f"not XML: {type(e).__name__}") from None
    env = str(root.tag)[1:].split("}", 1)[0] if str(root.tag).startswith("{") else ""
    if env not in (SOAP_ENV, SOAP11_ENV) or _local(root.tag) != "Envelope":
        raise OnvifDecodeError(f"not a SOAP envelope: <{str(root.tag)[:80]}>")
    body_el = root.find(f"{{{env}}}Body")
    fault = body_el.find(f"{{{env}}}Fault") if body_el is not None else None
    if fault is not None:   # SOAP 1.2 Code/Value and Subcode/Value, Reason/Text; SOAP 1.1 faultcode, faultstring
        codes = [_text(v.text) for v in fault.iter() if _local(v.tag) in ("Value", "faultcode")]
        reason = next((_text(v.text) for v in fault.iter() if _local(v.tag) in ("Text", "faultstring")), "")
        raise OnvifFault(f"SOAP fault {' / '.join(c for c in codes if c) or 'without a code'}"
                         + (f": {reason}" if reason else ""))
    if status >= 400:
        raise OnvifFault(f"HTTP {status}")
    resp: Element | None = next((el for el in (body_el if body_el is not None else [])
                                 if _local(el.tag) == f"{operation}Response"), None)
    if resp is None:
        raise OnvifDecodeError(f"no {operation}Response in the SOAP body")
    return resp


def element_fields(el: Element, depth: int = MAX_FIELD_DEPTH) -> dict[str, Any]:
    """An element as a mapping: its attributes, then each child's local name (first of each) to the child's text,
    or to the child's own mapping when it has children; nothing below depth levels (hostile nesting)."""
    out: dict[str, Any] = dict(el.attrib)
    for child in el:
        name = _local(child.tag)
        if name not in out:
            if not len(child):
                out[name] = child.text or ""
            elif depth > 1:
                out[name] = element_fields(child, depth - 1)
    return out


def reply_items(resp: Element) -> list[dict[str, Any]]:
    """The repeated entries of a list reply (NetworkInterfaces, Service, VideoSources, Receivers) as mappings."""
    return [element_fields(child) for child in resp]


def service_xaddrs(resp: Element) -> dict[str, str]:
    """Namespace -> XAddr from a GetServicesResponse, or from a GetCapabilitiesResponse (media, and the
    receiver under its Extension)."""
    out: dict[str, str] = {}
    if _local(resp.tag) == "GetServicesResponse":
        for svc in reply_items(resp):
            ns, xaddr = _text(svc.get("Namespace")), _text(svc.get("XAddr"))
            if ns and xaddr and ns not in out:
                out[ns] = xaddr
        return out
    caps = next(iter(resp), None)
    where = {"Device": TDS, "Media": TRT, "Receiver": TRV}
    for el in caps.iter() if caps is not None else []:
        service = where.get(_local(el.tag))
        xaddr = next((_text(x.text) for x in el if _local(x.tag) == "XAddr"), "")
        if service and xaddr and service not in out:
            out[service] = xaddr
    return out


def _text(v: Any) -> str:
    return re.sub(r"\s+", " ", str(v)).strip()[:MAX_FIELD_CHARS] if v is not None else ""


def device_info_observations(info: Mapping[str, Any], ip: str, mac: str | None, port: int) -> list[Observation]:
    """onvif.* observations from a GetDeviceInformation response (empty fields skipped)."""
    now = time.time()
    out: list[Observation] = []
    for field, signal in DEVICE_INFO_SIGNALS.items():
        value = _text(info.get(field))
        if value:
            out.append(Observation(signal, value, ip=ip, mac=mac, port=port, source="onvif", at=now))
    return out


def normalise_mac(hw: Any) -> str | None:
    """An ONVIF HwAddress (an xs:token in any notation) -> 'aa:bb:cc:dd:ee:ff', or None if not a MAC."""
    digits = re.sub(r"[^0-9a-f]", "", str(hw or "").lower())
    if not _MAC_HEX.match(digits) or digits == "0" * 12:
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def interface_macs(interfaces: Iterable[Mapping[str, Any]]) -> list[str]:
    """MACs of the interfaces in a GetNetworkInterfaces response, in order, de-duplicated."""
    out: list[str] = []
    for nic in interfaces:
        info = nic.get("Info") or {}
        mac = normalise_mac(info.get("HwAddress") if isinstance(info, Mapping) else None)
        if mac and mac not in out:
            out.append(mac)
    return out


def device_utc(resp: Mapping[str, Any]) -> dt.datetime:
    """The UTC clock in a GetSystemDateAndTime response; raises OnvifDecodeError only (absent or invalid)."""
    try:
        u = resp["UTCDateTime"]
        d, t = u["Date"], u["Time"]
        return dt.datetime(int(d["Year"]), int(d["Month"]), int(d["Day"]), int(t["Hour"]),
                           int(t["Minute"]), int(t["Second"]), tzinfo=dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError) as e:   # Year 10**20: OverflowError
        raise OnvifDecodeError(f"GetSystemDateAndTime without a valid UTCDateTime: {str(e)[:200]}") from None


def clock_skew(device: dt.datetime, now: dt.datetime) -> float:
    """Device clock minus ours, in seconds (positive: the device is ahead)."""
    return (device - now).total_seconds()


def pin_url(url: str, ip: str) -> str | None:
    """url with its host replaced by ip (port and path kept); None if it is not http(s)."""
    try:
        u = urllib.parse.urlsplit(url.strip())
        port = u.port
    except ValueError:
        return None
    if u.scheme not in ("http", "https"):
        return None
    netloc = f"{ip}:{port}" if port else ip
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path or "/", u.query, ""))


def xaddr_ports(xaddrs: Iterable[str], ip: str) -> list[int]:
    """Device-service ports on ip named by the XAddrs discovery recorded (each entry may list several)."""
    raw = [x for entry in xaddrs for x in entry.split()]
    ports: list[int] = []
    for x in raw:
        try:
            u = urllib.parse.urlsplit(x)
            port = u.port or (443 if u.scheme == "https" else 80)
        except ValueError:
            continue
        if u.hostname == ip and u.scheme == "http" and port not in ports:
            ports.append(port)
    return ports


def host_credentials(creds: Mapping[str, Any], ip: str) -> tuple[str, str] | None:
    """(username, password) for ip: credentials["hosts"][ip], else credentials["default"]; None if neither."""
    hosts = creds.get("hosts") or {}
    entry = hosts.get(ip) if isinstance(hosts, Mapping) else None
    if not isinstance(entry, Mapping):
        entry = creds.get("default")
    if not isinstance(entry, Mapping):
        return None
    user, pw = entry.get("username"), entry.get("password")
    if not isinstance(user, str) or not isinstance(pw, str) or not user:
        return None
    return user, pw


def channels_from(video_sources: Iterable[Mapping[str, Any]], receivers: Iterable[Mapping[str, Any]]
                  ) -> list[Channel]:
    """A recorder's channels: one per receiver (camera IP from its media URI), else one per video source."""
    out: list[Channel] = []
    for r in receivers:
        cfg = r.get("Configuration") or {}
        uri = _text(cfg.get("MediaUri")) if isinstance(cfg, Mapping) else ""
        host = None
        if uri:
            try:
                host = urllib.parse.urlsplit(uri).hostname
            except ValueError:
                host = None
        out.append(Channel(_text(r.get("Token")), host))
    if not out:
        for vs in video_sources:
            out.append(Channel(_text(vs.get("token") or vs.get("_token"))))
    return out[:MAX_CHANNELS]


def fill_channels(channels: list[Channel], reported: Mapping[str, Mapping[str, str]]) -> list[Channel]:
    """Each channel whose camera IP answered this scan, completed with what that camera itself reported."""
    out = []
    for ch in channels:
        own = reported.get(ch.ip or "") or {}
        out.append(dataclasses.replace(ch, maker=ch.maker or own.get("maker") or None,
                                       model=ch.model or own.get("model") or None,
                                       firmware=ch.firmware or own.get("firmware") or None))
    return out


def is_auth_failure(exc: BaseException) -> bool:
    """True when an exception from an authenticated call looks like rejected credentials."""
    text = f"{type(exc).__name__} {exc} {getattr(exc, 'reason', '')}".lower()
    return "auth" in type(exc).__name__.lower() or any(h in text for h in _AUTH_HINTS)


# ---- I/O -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Login:
    """The operator's credentials for one host and that host's clock offset (signing happens on its clock)."""

    user: str
    password: str = dataclasses.field(repr=False)
    skew: float | None

    def header(self) -> str:
        """A fresh UsernameToken (new nonce, Created now on the device's clock)."""
        created = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.skew or 0.0)
        return username_token(self.user, self.password, created, os.urandom(16))


class Onvif(HostModule):
    """GetSystemDateAndTime on every device service; with credentials, identity, MACs and channels."""

    name: ClassVar[str] = "onvif"
    signals: ClassVar[frozenset[str]] = frozenset({*DEVICE_INFO_SIGNALS.values(), "mac"})
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False
    phase: ClassVar[int] = 2
    concurrency: ClassVar[int] = HOST_CONCURRENCY
    host_after: ClassVar[frozenset[str]] = frozenset({"wsd_directed"})   # its XAddrs name the device service

    def __init__(self) -> None:
        self._reported: dict[str, dict[str, str]] = {}

    def _ports(self, ctx: ScanContext, ip: str) -> list[int]:
        h = ctx.host(ip)
        ports = xaddr_ports(h.onvif_xaddrs, ip)
        ports.extend(p for p in CANDIDATE_PORTS if p in h.open_ports and p not in ports)
        return ports

    async def _call(self, ctx: ScanContext, ip: str, url: str, namespace: str, operation: str, login: _Login,
                    params: str = "") -> Element:
        """One signed SOAP call to url (already pinned to ip): its <operation>Response; raises OnvifFault,
        DecodeError, FetchError or PermissionError (out of scope)."""
        from scanner.discovery.http import build_request, exchange, parse_response
        u = urllib.parse.urlsplit(url)
        if u.hostname != ip or not ctx.scope.allows(ip):
            raise PermissionError("address outside the scan scope")
        tls = u.scheme == "https"
        port = u.port or (443 if tls else 80)
        path = u.path + (f"?{u.query}" if u.query else "")
        await ctx.rate.wait()
        ctx.stats.count("onvif.requests")
        req = build_request("POST", ip, port, path, soap_envelope(namespace, operation, params, login.header()),
                            f'application/soap+xml; charset=utf-8; action="{namespace}/{operation}"',
                            default_port=443 if tls else 80)
        got = await exchange(ip, port, req, tls=tls, timeout=max(ctx.timeout, 1.0), cap=SESSION_REPLY_BYTES)
        resp = parse_response(got.data, truncated=got.capped)
        return parse_call_reply(resp.status, resp.body, operation)

    async def _find_service(self, ctx: ScanContext, ip: str) -> tuple[int, float | None] | None:
        """First port whose device service answers GetSystemDateAndTime; (port, clock skew or None)."""
        from scanner.discovery.http import FetchError, exchange, parse_response
        hinted = set(xaddr_ports(ctx.host(ip).onvif_xaddrs, ip))
        for port in self._ports(ctx, ip):
            if not ctx.scope.allows(ip):
                return None
            await ctx.rate.wait()
            ctx.stats.count("onvif.requests")
            try:
                got = await exchange(ip, port, build_probe(ip, port), tls=False, timeout=max(ctx.timeout, 1.0),
                                     cap=MAX_REPLY_BYTES)
                resp = parse_response(got.data, truncated=got.capped)
            except (FetchError, DecodeError):
                continue
            try:
                reply = parse_reply(resp.body)
            except DecodeError:
                # A device service that authenticates everything (protocols.md s2: Axis) answers 401;
                # it counts when discovery named the port, or when the site root itself is open.
                if resp.status == 401 and (port in hinted or await self._root_open(ctx, ip, port)):
                    return port, None
                continue
            if reply.utc is None:
                return port, None       # a SOAP fault or no UTC clock: still a device service
            return port, clock_skew(reply.utc, dt.datetime.now(dt.UTC))
        return None

    async def _root_open(self, ctx: ScanContext, ip: str, port: int) -> bool:
        """True when GET / on port is not itself 401: the device service alone is protected, not the site."""
        from scanner.discovery.http import FetchError, build_request, exchange, parse_response
        if not ctx.scope.allows(ip):
            return False
        try:
            await ctx.rate.wait()
            got = await exchange(ip, port, build_request("GET", ip, port, "/"), tls=False,
                                 timeout=max(ctx.timeout, 1.0))
            return parse_response(got.data).status != 401
        except (FetchError, DecodeError):
            return False

    async def _session(self, ctx: ScanContext, ip: str, port: int, user: str, password: str,
                       skew: float | None) -> list[Observation]:
        """The one authenticated session for this host."""
        h = ctx.host(ip)
        out: list[Observation] = []
        login = _Login(user, password, skew)
        device = f"http://{ip}:{port}{DEVICE_PATH}"
        ctx.stats.count("onvif.logins")
        try:
            info = element_fields(await self._call(ctx, ip, device, TDS, "GetDeviceInformation", login))
        except Exception as e:
            why = "credentials rejected" if is_auth_failure(e) else f"{type(e).__name__}: {e}"
            ctx.stats.error(self.name, ip, f"GetDeviceInformation failed ({why}); no further "
                            "authenticated requests to this host")
            return out
        out.extend(device_info_observations(info, ip, h.mac, port))
        try:
            macs = interface_macs(reply_items(await self._call(ctx, ip, device, TDS, "GetNetworkInterfaces", login)))
            for mac in macs:
                out.append(Observation("mac", mac, ip=ip, mac=mac, port=port, source="onvif", at=time.time()))
            if macs and not h.mac:
                h.mac = macs[0]
        except Exception as e:
            if is_auth_failure(e):
                return out
            ctx.stats.error(self.name, ip, f"GetNetworkInterfaces: {type(e).__name__}: {e}")
        channels = await self._channels(ctx, ip, device, login)
        # several video sources, or any receiver pulling another device's stream, is a recorder's list
        if channels and (len(channels) > 1 or any(ch.ip for ch in channels)):
            own = await self._dialect_channels(ctx, ip, port, user, password, _text(info.get("Manufacturer")))
            h.channels = merge_channels(channels, own)
        return out

    async def _get(self, ctx: ScanContext, ip: str, port: int, path: str,
                   authorization: str | None = None) -> HttpResponse | None:
        """One GET of path (with an Authorization header when given); None when nothing usable came back."""
        from scanner.discovery.http import FetchError, exchange, parse_response
        if not ctx.scope.allows(ip):
            return None
        await ctx.rate.wait()
        ctx.stats.count("onvif.recorder_requests")
        try:
            got = await exchange(ip, port, recorder_get(ip, port, path, authorization), tls=False,
                                 timeout=max(ctx.timeout, 2.0), cap=RECORDER_REPLY_CAP)
            return parse_response(got.data, truncated=got.capped)
        except (FetchError, DecodeError):
            return None

    async def _dialect_channels(self, ctx: ScanContext, ip: str, port: int, user: str, password: str,
                                manufacturer: str) -> list[Channel]:
        """The recorder's own channel list (Hikvision ISAPI or Dahua RemoteDevice), read with one authenticated
        GET after the ONVIF login with the same credentials succeeded; [] when neither dialect is clearly
        spoken. Which one: the path that asks for credentials while the other does not exist; when both ask,
        the maker the ONVIF Manufacturer names."""
        probes = {}
        for dialect, path in (("isapi", ISAPI_CHANNELS), ("dahua", DAHUA_REMOTE_DEVICES)):
            resp = await self._get(ctx, ip, port, path)
            if resp is not None and resp.status == 401:
                probes[dialect] = (path, resp.header("WWW-Authenticate") or "")
        if len(probes) > 1:
            family = dialect_of(manufacturer)
            probes = {family: probes[family]} if family in probes else {}
        if len(probes) != 1:
            ctx.stats.count("onvif.recorder_dialect_unknown")
            return []
        (dialect, (path, challenge)), = probes.items()
        header = digest_authorization("GET", path, user, password, challenge)
        if header is None:
            ctx.stats.error(self.name, ip, f"{dialect} channel list: the recorder asks for an authentication "
                            "scheme camscan does not answer; channels from ONVIF only")
            return []
        resp = await self._get(ctx, ip, port, path, header)   # the one authenticated request
        if resp is None or resp.status != 200:
            ctx.stats.error(self.name, ip, f"{dialect} channel list: " + (
                "no reply" if resp is None else f"HTTP {resp.status}") + "; channels from ONVIF only")
            return []
        try:
            got = parse_isapi_channels(resp.body) if dialect == "isapi" else parse_remote_devices(resp.body)
        except DecodeError as e:
            ctx.stats.error(self.name, ip, f"{dialect} channel list: {e}")
            return []
        ctx.stats.count(f"onvif.recorder_channels.{dialect}", len(got))
        return got

    async def _xaddrs(self, ctx: ScanContext, ip: str, device: str, login: _Login) -> dict[str, str]:
        """The device's services (GetServices, else GetCapabilities), each pinned to ip; raises what the last
        call raised when neither answers, and stops at a rejected token."""
        try:
            found = service_xaddrs(await self._call(ctx, ip, device, TDS, "GetServices", login,
                                                    "<m:IncludeCapability>false</m:IncludeCapability>"))
        except Exception as e:
            if is_auth_failure(e):
                raise
            found = {}
        if not found:
            found = service_xaddrs(await self._call(ctx, ip, device, TDS, "GetCapabilities", login,
                                                    "<m:Category>All</m:Category>"))
        return {ns: p for ns, x in found.items() if (p := pin_url(x, ip))}

    async def _channels(self, ctx: ScanContext, ip: str, device: str, login: _Login) -> list[Channel] | None:
        """Video sources / receivers behind the device, or None when it does not say."""
        try:
            xaddrs = await self._xaddrs(ctx, ip, device, login)
        except Exception as e:
            ctx.stats.error(self.name, ip, f"GetServices: {type(e).__name__}: {e}")
            return None
        sources: list[dict[str, Any]] = []
        receivers: list[dict[str, Any]] = []
        try:
            if TRT not in xaddrs:
                raise LookupError("no media service")
            sources = reply_items(await self._call(ctx, ip, xaddrs[TRT], TRT, "GetVideoSources", login))
        except Exception as e:
            ctx.stats.count("onvif.no_media")
            if is_auth_failure(e):
                return None
        try:
            if TRV not in xaddrs:
                raise LookupError("no receiver service")
            receivers = reply_items(await self._call(ctx, ip, xaddrs[TRV], TRV, "GetReceivers", login))
        except Exception:
            ctx.stats.count("onvif.no_receiver")
        return channels_from(sources, receivers)

    async def _host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        found = await self._find_service(ctx, ip)
        if found is None:
            return []
        port, skew = found
        h = ctx.host(ip)
        h.onvif_service = f"http://{ip}:{port}{DEVICE_PATH}"
        if skew is not None:
            h.clock_skew_s = round(skew, 1)
            if abs(skew) > 300:
                ctx.stats.count("onvif.clock_skewed")
        ctx.stats.count("onvif.devices")
        cred = host_credentials(ctx.credentials, ip)
        if cred is None:
            return []
        return await self._session(ctx, ip, port, cred[0], cred[1], skew)

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        """An in-scope live host that shows a possible device service."""
        return ip in ctx.hosts and ctx.scope.allows(ip) and bool(self._ports(ctx, ip))

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        """The device service of ip (and, with credentials, its identity and channels)."""
        out = await self._host(ctx, ip)
        for o in out:
            if o.ip and o.signal in CHANNEL_FIELDS:
                self._reported.setdefault(o.ip, {})[CHANNEL_FIELDS[o.signal]] = o.value
        return out

    async def finish(self, ctx: ScanContext) -> None:
        """Fill each recorder's channels with what the cameras behind it said themselves."""
        for h in ctx.hosts.values():
            h.channels = fill_channels(h.channels, self._reported)


MODULE = Onvif
