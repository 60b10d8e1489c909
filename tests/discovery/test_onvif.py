"""ONVIF module: pure helpers, and real signed sessions against a tiny SOAP device in a private netns."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree as SafeET

from scanner.discovery import onvif
from scanner.discovery.base import DecodeError
from scanner.models import Channel
from scanner.signals import SIGNALS

HERE = Path(__file__).parent
FIX = HERE / "fixtures_host" / "onvif"
_spec = importlib.util.spec_from_file_location("camscan_netpair", HERE / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)


# ---- pure ------------------------------------------------------------------------------------

def test_signals_in_vocabulary() -> None:
    assert onvif.Onvif.signals <= set(SIGNALS)


def test_device_information_fields_become_observations() -> None:
    info = {"Manufacturer": "HIKVISION", "Model": "DS-2CD2143G2-I", "FirmwareVersion": "V5.7.3 build 220112",
            "SerialNumber": "DS-2CD2143G2-I20220315AAWRJ12345678", "HardwareId": "88", "Extra": "x"}
    obs = onvif.device_info_observations(info, "10.0.0.4", None, 80)
    assert {(o.signal, o.value) for o in obs} == {
        ("onvif.manufacturer", "HIKVISION"), ("onvif.model", "DS-2CD2143G2-I"),
        ("onvif.firmware", "V5.7.3 build 220112"), ("onvif.serial", "DS-2CD2143G2-I20220315AAWRJ12345678"),
        ("onvif.hardware_id", "88")}
    assert onvif.device_info_observations({"Manufacturer": "  ", "Model": None}, "10.0.0.4", None, 80) == []


@pytest.mark.parametrize(("raw", "mac"), [
    ("44:19:b6:12:34:56", "44:19:b6:12:34:56"), ("44-19-B6-12-34-56", "44:19:b6:12:34:56"),
    ("4419B6123456", "44:19:b6:12:34:56"), ("00:00:00:00:00:00", None), ("not-a-mac", None), (None, None),
    ("44:19:b6:12:34", None)])
def test_hwaddress_notations(raw: Any, mac: str | None) -> None:
    assert onvif.normalise_mac(raw) == mac


def test_clock_skew_from_system_date_and_time() -> None:
    resp = {"DateTimeType": "NTP", "UTCDateTime": {"Time": {"Hour": 12, "Minute": 0, "Second": 30},
                                                   "Date": {"Year": 2024, "Month": 1, "Day": 2}}}
    now = dt.datetime(2024, 1, 2, 12, 0, 0, tzinfo=dt.UTC)
    assert onvif.clock_skew(onvif.device_utc(resp), now) == 30.0
    with pytest.raises(DecodeError):
        onvif.device_utc({"DateTimeType": "Manual"})                # UTCDateTime missing
    with pytest.raises(DecodeError):
        onvif.device_utc({"UTCDateTime": {"Time": {"Hour": 25, "Minute": 0, "Second": 0},
                                          "Date": {"Year": 2024, "Month": 1, "Day": 2}}})


def test_advertised_urls_are_pinned_to_the_scanned_address() -> None:
    assert onvif.pin_url("http://192.168.1.64/onvif/Media", "10.0.0.9") == "http://10.0.0.9/onvif/Media"
    assert onvif.pin_url("http://8.8.8.8:8080/x?y=1", "10.0.0.9") == "http://10.0.0.9:8080/x?y=1"
    assert onvif.pin_url("file:///etc/passwd", "10.0.0.9") is None


def test_xaddr_hints_give_ports_for_this_host_only() -> None:
    xaddrs = ["http://10.0.0.9:8899/onvif/device_service http://10.0.0.7/onvif/device_service"]
    assert onvif.xaddr_ports(xaddrs, "10.0.0.9") == [8899]


def test_credentials_shape() -> None:
    creds = {"default": {"username": "admin", "password": "a"}, "hosts": {"10.0.0.9": {"username": "op",
                                                                                       "password": "b"}}}
    assert onvif.host_credentials(creds, "10.0.0.9") == ("op", "b")
    assert onvif.host_credentials(creds, "10.0.0.8") == ("admin", "a")
    assert onvif.host_credentials({}, "10.0.0.8") is None
    assert onvif.host_credentials({"default": {"username": "admin"}}, "10.0.0.8") is None


def test_channels_prefer_receivers() -> None:
    rec = [{"Token": "R1", "Configuration": {"MediaUri": "rtsp://10.0.0.21:554/ch1"}}]
    assert onvif.channels_from([{"token": "V1"}, {"token": "V2"}], rec) == [Channel("R1", "10.0.0.21")]
    assert [c.token for c in onvif.channels_from([{"token": "V1"}, {"token": "V2"}], [])] == ["V1", "V2"]


def test_channels_are_completed_from_what_their_cameras_reported() -> None:
    chans = [Channel("R1", "10.0.0.21"), Channel("R2", "10.0.0.22")]
    got = onvif.fill_channels(chans, {"10.0.0.21": {"maker": "HIKVISION", "model": "DS-2CD2143G0-I"}})
    assert got[0] == Channel("R1", "10.0.0.21", "HIKVISION", "DS-2CD2143G0-I", None)
    assert got[1].maker is None


def _fixture(name: str, **values: int) -> bytes:
    text = (FIX / name).read_text()
    for k, v in values.items():
        text = text.replace("{" + k + "}", str(v))
    return text.encode()


def test_anonymous_clock_reply_parses() -> None:
    body = _fixture("GetSystemDateAndTime.xml", year=2024, month=1, day=2, hour=12, minute=0, second=30)
    assert onvif.parse_reply(body) == onvif.TimeReply(dt.datetime(2024, 1, 2, 12, 0, 30, tzinfo=dt.UTC))
    assert onvif.parse_reply((FIX / "NotAuthorized.xml").read_bytes()) == onvif.TimeReply(None, "ter:NotAuthorized")


@pytest.mark.parametrize("body", [
    b"<HTML><HEAD><TITLE>401 Unauthorized</TITLE></HEAD><BODY>no</BODY></HTML>",   # well-formed, not SOAP
    b"<html><title>405 Not Allowed", b"",
    b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',          # entity expansion
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
])
def test_non_device_service_replies_are_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError):
        onvif.parse_reply(body)


def test_probe_is_anonymous_soap() -> None:
    req = onvif.build_probe("10.0.0.9", 80)
    assert req.startswith(b"POST /onvif/device_service HTTP/1.1\r\n")
    assert b"GetSystemDateAndTime" in req and b"Security" not in req and b"Authorization" not in req


def test_signed_call_passes_an_independent_token_check_on_the_device_clock() -> None:
    from scanner.lab.services.auth import TokenChecker
    from scanner.lab.services.onvif import parse_soap
    device_clock = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    token = onvif.username_token("admin", "s3cret&<x>", device_clock, os.urandom(16))
    body = onvif.soap_envelope(onvif.TDS, "GetDeviceInformation", security=token)
    assert b"s3cret" not in body                                  # only the digest travels
    call = parse_soap(body)
    assert (call.namespace, call.operation) == (onvif.TDS, "GetDeviceInformation")
    assert call.token is not None
    assert TokenChecker("admin", "s3cret&<x>", 5.0).check(call.token, device_clock)
    assert not TokenChecker("admin", "other", 5.0).check(call.token, device_clock)
    assert not TokenChecker("admin", "s3cret&<x>", 5.0).check(call.token, dt.datetime.now(dt.UTC))  # our clock
    params = onvif.soap_envelope(onvif.TDS, "GetServices", "<m:IncludeCapability>false</m:IncludeCapability>")
    assert parse_soap(params).body.findtext(f"{{{onvif.TDS}}}IncludeCapability") == "false"


def _reply(name: str, op: str, **values: str) -> Any:
    text = (FIX / name).read_text()
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return onvif.parse_call_reply(200, text.encode(), op)


def test_session_replies_are_read_by_element_names() -> None:
    info = onvif.element_fields(_reply("GetDeviceInformation.xml", "GetDeviceInformation"))
    assert {(o.signal, o.value) for o in onvif.device_info_observations(info, "10.0.0.4", None, 80)} >= {
        ("onvif.manufacturer", "HIKVISION"), ("onvif.model", "DS-7608NI-K2/8P"), ("onvif.hardware_id", "88")}
    nics = onvif.reply_items(_reply("GetNetworkInterfaces.xml", "GetNetworkInterfaces"))
    assert onvif.interface_macs(nics) == ["44:19:b6:12:34:56"]
    assert onvif.service_xaddrs(_reply("GetServices.xml", "GetServices")) == {
        onvif.TDS: "http://192.168.1.64/onvif/device_service", onvif.TRT: "http://192.168.1.64/onvif/Media",
        onvif.TRV: "http://192.168.1.64/onvif/Receiver"}
    sources = onvif.reply_items(_reply("GetVideoSources.xml", "GetVideoSources"))
    receivers = onvif.reply_items(_reply("GetReceivers.xml", "GetReceivers", camera1="10.0.0.21",
                                         camera2="10.0.0.22"))
    assert onvif.channels_from(sources, receivers) == [Channel("Receiver_1", "10.0.0.21"),
                                                       Channel("Receiver_2", "10.0.0.22")]
    assert [c.token for c in onvif.channels_from(sources, [])] == [f"VideoSource_{i}" for i in range(1, 5)]


def test_capabilities_name_the_media_and_receiver_services() -> None:
    body = (f'<e:Envelope xmlns:e="{onvif.SOAP_ENV}" xmlns:tds="{onvif.TDS}" xmlns:tt="{onvif.TT}"><e:Body>'
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            "<tt:Device><tt:XAddr>http://192.168.1.64/onvif/device_service</tt:XAddr></tt:Device>"
            "<tt:Events><tt:XAddr>http://192.168.1.64/onvif/Events</tt:XAddr></tt:Events>"
            "<tt:Media><tt:XAddr>http://192.168.1.64/onvif/Media</tt:XAddr></tt:Media>"
            "<tt:Extension><tt:Receiver><tt:XAddr>http://192.168.1.64:8000/onvif/Receiver</tt:XAddr>"
            "</tt:Receiver></tt:Extension></tds:Capabilities></tds:GetCapabilitiesResponse></e:Body></e:Envelope>")
    got = onvif.service_xaddrs(onvif.parse_call_reply(200, body.encode(), "GetCapabilities"))
    assert got == {onvif.TDS: "http://192.168.1.64/onvif/device_service", onvif.TRT: "http://192.168.1.64/onvif/Media",
                   onvif.TRV: "http://192.168.1.64:8000/onvif/Receiver"}


SOAP11_FAULT = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
                b"<faultcode>s:Client</faultcode><faultstring>Sender not authorized</faultstring>"
                b"</s:Fault></s:Body></s:Envelope>")
UNSUPPORTED = (f'<e:Envelope xmlns:e="{onvif.SOAP_ENV}"><e:Body><e:Fault><e:Code><e:Value>e:Receiver</e:Value>'
               "<e:Subcode><e:Value>ter:ActionNotSupported</e:Value></e:Subcode></e:Code><e:Reason>"
               "<e:Text>Optional Action Not Implemented</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>").encode()


@pytest.mark.parametrize(("status", "body", "refused_login"), [
    (400, (FIX / "NotAuthorized.xml").read_bytes(), True),
    (401, b"", True),                                           # HTTP Digest challenge instead of a fault
    (500, SOAP11_FAULT, True),
    (500, UNSUPPORTED, False),                                  # a missing service, not a refused login
])
def test_refusals_are_faults_and_say_whether_the_login_was_refused(status: int, body: bytes,
                                                                   refused_login: bool) -> None:
    with pytest.raises(onvif.OnvifFault) as e:
        onvif.parse_call_reply(status, body, "GetDeviceInformation")
    assert onvif.is_auth_failure(e.value) is refused_login


@pytest.mark.parametrize("body", [
    b"<html><title>camera</title></html>",
    (FIX / "GetServices.xml").read_bytes(),                      # an answer to another operation
    b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
])
def test_replies_that_are_not_the_answer_are_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError):
        onvif.parse_call_reply(200, body, "GetDeviceInformation")


def test_deeply_nested_reply_is_read_without_recursing_into_it() -> None:
    nested = b"<a>" * 50_000 + b"x" + b"</a>" * 50_000
    body = (f'<e:Envelope xmlns:e="{onvif.SOAP_ENV}" xmlns:tds="{onvif.TDS}"><e:Body><tds:GetDeviceInformationResponse>'
            "<tds:Model>M-1</tds:Model><tds:Junk>").encode() + nested + \
        b"</tds:Junk></tds:GetDeviceInformationResponse></e:Body></e:Envelope>"
    info = onvif.element_fields(onvif.parse_call_reply(200, body, "GetDeviceInformation"))
    assert info["Model"] == "M-1"


# ---- a tiny ONVIF device service ---------------------------------------------------------------

PRE_AUTH = {"GetSystemDateAndTime", "GetServices", "GetCapabilities", "GetHostname"}
SOAP_NS = "{http://www.w3.org/2003/05/soap-envelope}"
WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
WSU = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}"


@dataclass
class FakeDevice:
    """A device service that checks WS-Security digests against its own (skewed) clock."""

    user: str
    password: str
    skew: dt.timedelta = dt.timedelta(0)
    window_s: float = 5.0
    cameras: tuple[str, str] = ("198.18.38.21", "198.18.38.22")
    auth_all: bool = False      # every call authenticated, HTTP 401 without a token (protocols.md s2: Axis)
    log: list[tuple[str, str]] = field(default_factory=list)   # (operation, "anon" | "ok" | "rejected")

    def clock(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.skew

    def verdict(self, envelope: Any) -> str:
        tok = envelope.find(f"{SOAP_NS}Header/{WSSE}Security/{WSSE}UsernameToken")
        if tok is None:
            return "anon"
        user = tok.findtext(f"{WSSE}Username") or ""
        digest = tok.findtext(f"{WSSE}Password") or ""
        nonce = base64.b64decode(tok.findtext(f"{WSSE}Nonce") or "")
        created = tok.findtext(f"{WSU}Created") or ""
        want = base64.b64encode(hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()).decode()
        try:
            when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return "rejected"
        fresh = abs((when - self.clock()).total_seconds()) <= self.window_s
        return "ok" if user == self.user and digest == want and fresh else "rejected"

    def reply(self, body: bytes) -> tuple[int, bytes]:
        env = SafeET.fromstring(body)
        op_el = env.find(f"{SOAP_NS}Body")[0]
        op = op_el.tag.split("}")[1]
        verdict = self.verdict(env)
        self.log.append((op, verdict))
        if self.auth_all and verdict == "anon":
            return 401, b""
        if (op not in PRE_AUTH or self.auth_all) and verdict != "ok":
            return 400, (FIX / "NotAuthorized.xml").read_bytes()
        path = FIX / f"{op}.xml"
        if not path.exists():
            return 400, (FIX / "NotAuthorized.xml").read_bytes()
        text = path.read_text()
        c = self.clock()
        for k, v in (("{year}", c.year), ("{month}", c.month), ("{day}", c.day), ("{hour}", c.hour),
                     ("{minute}", c.minute), ("{second}", c.second)):
            text = text.replace(k, str(v))
        text = text.replace("{camera1}", self.cameras[0]).replace("{camera2}", self.cameras[1])
        return 200, text.encode()


async def serve(sock: Any, device: FakeDevice, paths: list[str]) -> asyncio.AbstractServer:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                paths.append(lines[0].split(" ")[1])
                length = next((int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length")), 0)
                body = await r.readexactly(length)
                if lines[0].startswith("GET "):
                    page = b"<html><title>Camera</title></html>"
                    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(page), page))
                    await w.drain()
                    continue
                status, payload = device.reply(body)
                reason = {200: b"OK", 401: b"Unauthorized"}.get(status, b"Bad Request")
                challenge = b'WWW-Authenticate: Digest realm="AXIS_WS_ACCC8E000001", nonce="00"\r\n' \
                    if status == 401 else b""
                w.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/soap+xml; charset=utf-8\r\n%s"
                        b"Content-Length: %d\r\n\r\n" % (status, reason, challenge, len(payload)) + payload)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

    return await asyncio.start_server(handle, sock=sock)


lab = pytest.mark.skipif(not netpair.can_build(), reason="needs root to build network namespaces")


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"o{os.getpid() % 10000}", 38,
                        extra_b=["198.18.38.3", "198.18.38.4", "198.18.38.5", "198.18.38.6"])
    yield p
    p.close()


@pytest.mark.lab
@lab
def test_sessions_against_live_device_services(pair) -> None:  # type: ignore[no-untyped-def]
    nvr = FakeDevice("admin", "camscan-lab", skew=dt.timedelta(hours=1))        # clock an hour ahead
    locked = FakeDevice("admin", "the-real-password")                            # our password is wrong
    anon = FakeDevice("admin", "camscan-lab")                                    # no credentials for it
    strict = FakeDevice("admin", "camscan-lab", auth_all=True)                   # 401 even for the clock
    paths: dict[str, list[str]] = {"nvr": [], "locked": [], "anon": [], "strict": []}
    socks = {"nvr": pair.listen_b(80, pair.ip_b), "locked": pair.listen_b(8000, "198.18.38.3"),
             "anon": pair.listen_b(80, "198.18.38.4"), "strict": pair.listen_b(80, "198.18.38.6")}
    web_sock = pair.listen_b(80, "198.18.38.5")      # a plain web server: 405 HTML for any POST
    web_seen: list[bytes] = []

    async def web(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await r.readuntil(b"\r\n\r\n")
            web_seen.append(head)
            body = b"<html><head><title>405 Not Allowed</title></head><body>nginx</body></html>"
            w.write(b"HTTP/1.1 405 Not Allowed\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        w.close()
    creds = {"default": {"username": "admin", "password": "camscan-lab"},
             "hosts": {"198.18.38.4": {"username": "", "password": ""}}}
    ctx = netpair.make_ctx(["198.18.38.0/24"], credentials=creds, timeout=5.0)
    ctx.host(pair.ip_b).open_ports.add(80)
    ctx.host("198.18.38.3").onvif_xaddrs.append("http://198.18.38.3:8000/onvif/device_service")
    ctx.host("198.18.38.4").open_ports.update({80, 8080})
    ctx.host("198.18.38.5").open_ports.add(80)
    ctx.host("198.18.38.6").open_ports.add(80)

    async def go() -> list[Any]:
        servers = [await serve(socks[k], d, paths[k]) for k, d in (("nvr", nvr), ("locked", locked), ("anon", anon),
                                                                     ("strict", strict))]
        servers.append(await asyncio.start_server(web, sock=web_sock))
        try:
            return await netpair.collect(onvif.Onvif(), ctx)
        finally:
            for s in servers:
                s.close()

    obs = pair.run_in_a(go)
    got = {(o.ip, o.signal, o.value) for o in obs}
    nvr_ip = pair.ip_b
    assert {(nvr_ip, "onvif.manufacturer", "HIKVISION"), (nvr_ip, "onvif.model", "DS-7608NI-K2/8P"),
            (nvr_ip, "onvif.firmware", "V4.22.005 build 191023"), (nvr_ip, "onvif.hardware_id", "88"),
            (nvr_ip, "mac", "44:19:b6:12:34:56")} <= got
    # Signing with the device's clock (an hour ahead) is what made the digest acceptable.
    skew = ctx.hosts[nvr_ip].clock_skew_s
    assert skew is not None and 3590 <= skew <= 3610
    assert ("GetDeviceInformation", "ok") in nvr.log
    # Advertised XAddrs named 192.168.1.64; the media/receiver calls still went to the NVR itself.
    assert "/onvif/Media" in paths["nvr"] and "/onvif/Receiver" in paths["nvr"]
    assert [c.ip for c in ctx.hosts[nvr_ip].channels] == ["198.18.38.21", "198.18.38.22"]

    # Wrong password: exactly one authenticated request, then silence (account lockout safety).
    authed = [(op, v) for op, v in locked.log if v != "anon"]
    assert authed == [("GetDeviceInformation", "rejected")]
    assert not any(ip == "198.18.38.3" for ip, _, _ in got)
    assert any(e["ip"] == "198.18.38.3" and "credentials rejected" in e["error"] for e in ctx.stats.errors)

    # No usable credentials: only the PRE_AUTH clock query, never a token.
    assert anon.log == [("GetSystemDateAndTime", "anon")]
    assert ctx.hosts["198.18.38.4"].onvif_service is not None
    assert "camscan-lab" not in repr(ctx.stats.errors)

    # A device service that 401s everything is still found (its site root is open) and identified.
    assert ("198.18.38.6", "onvif.model", "DS-7608NI-K2/8P") in got
    assert strict.log[0] == ("GetSystemDateAndTime", "anon") and ("GetDeviceInformation", "ok") in strict.log

    # A plain web server is not taken for a device service, so no credentials are ever sent to it.
    assert len(web_seen) == 1                                  # the anonymous clock query only
    assert ctx.hosts["198.18.38.5"].onvif_service is None
