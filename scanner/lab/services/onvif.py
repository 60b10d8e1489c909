"""ONVIF device and media service (SOAP 1.2 over HTTP POST) with WS-UsernameToken digest checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeET

from scanner.lab.model import Channel
from scanner.lab.services.auth import PASSWORD_DIGEST, WSSE_NS, WSU_NS, TokenChecker, UsernameToken
from scanner.lab.services.context import MAX_REQUEST_BYTES, HostContext
from scanner.lab.services.http import Request, Response

SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
TDS: Final = "http://www.onvif.org/ver10/device/wsdl"
TRT: Final = "http://www.onvif.org/ver10/media/wsdl"
TT: Final = "http://www.onvif.org/ver10/schema"
TER: Final = "http://www.onvif.org/ver10/error"
EVENTS_NS: Final = "http://www.onvif.org/ver10/events/wsdl"
TRV: Final = "http://www.onvif.org/ver10/receiver/wsdl"
# Operations the Core spec puts in access class PRE_AUTH (protocols.md section 2).
PRE_AUTH: Final = frozenset({"GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetHostname",
                             "GetServiceCapabilities", "GetEndpointReference", "GetWsdlUrl"})
ENVELOPE_OPEN: Final = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<env:Envelope xmlns:env="{SOAP12}" xmlns:tds="{TDS}" xmlns:trt="{TRT}" xmlns:tt="{TT}" '
    f'xmlns:ter="{TER}" xmlns:trv="{TRV}"><env:Body>')
ENVELOPE_CLOSE: Final = "</env:Body></env:Envelope>\n"
CONTENT_TYPE: Final = "application/soap+xml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class SoapCall:
    """What a SOAP request asks: the body element's namespace and name, and any UsernameToken."""

    namespace: str
    operation: str
    token: UsernameToken | None
    body: Element


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def parse_soap(data: bytes) -> SoapCall:
    """Parse a SOAP 1.2 request (defusedxml, size-capped); ValueError when it is not one."""
    if len(data) > MAX_REQUEST_BYTES:
        raise ValueError("request too large")
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:   # defusedxml raises several unrelated types for hostile input
        raise ValueError(f"not XML: {exc}") from exc
    if _local(root.tag) != (SOAP12, "Envelope"):
        raise ValueError("not a SOAP 1.2 Envelope")
    body = root.find(f"{{{SOAP12}}}Body")
    if body is None or len(body) == 0:
        raise ValueError("empty SOAP Body")
    call = body[0]
    namespace, operation = _local(call.tag)
    token = None
    ut = root.find(f"{{{SOAP12}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
    if ut is not None:
        password = ut.find(f"{{{WSSE_NS}}}Password")
        token = UsernameToken(
            username=(ut.findtext(f"{{{WSSE_NS}}}Username") or "").strip(),
            password=(password.text or "") if password is not None else "",
            password_type=password.get("Type", PASSWORD_DIGEST) if password is not None else "",
            nonce=ut.findtext(f"{{{WSSE_NS}}}Nonce"),
            created=ut.findtext(f"{{{WSU_NS}}}Created"))
    return SoapCall(namespace, operation, token, call)


def envelope(body: str) -> bytes:
    """A SOAP 1.2 envelope around BODY."""
    return (ENVELOPE_OPEN + body + ENVELOPE_CLOSE).encode()


def fault(code: str, subcode: str, reason: str) -> bytes:
    """A SOAP 1.2 fault with an ONVIF ter: subcode (Core spec, 'SOAP fault messages')."""
    return envelope(
        f"<env:Fault><env:Code><env:Value>env:{code}</env:Value><env:Subcode><env:Value>ter:{subcode}"
        f"</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">{escape(reason)}"
        "</env:Text></env:Reason></env:Fault>")


def _e(value: object) -> str:
    return escape(str(value))


class OnvifService:
    """The ONVIF endpoints of one host, mounted on its HTTP(S) servers."""

    def __init__(self, ctx: HostContext, http_challenge: Any) -> None:
        self.ctx = ctx
        self.spec = ctx.section("onvif")
        user, password = ctx.host.credentials
        self.checker = TokenChecker(user, password, float(self.spec.get("window_s", 300)))
        self.http_challenge = http_challenge   # HttpApp, for digest-401 personas and digest logins
        self.device_path = str(self.spec.get("device_path", "/onvif/device_service"))
        self.media_path = str(self.spec.get("media_path", "/onvif/Media"))
        self.events_path = str(self.spec.get("events_path", "/onvif/Events"))
        # Recorders expose the ONVIF receiver service (Profile G): one receiver per camera they pull.
        self.channels = ctx.host.recorder_channels()
        self.receiver_path = str(self.spec.get("receiver_path", "/onvif/Receiver")) if self.channels else None
        self.clock_skew = dt.timedelta(seconds=float(self.spec.get("clock_skew_s", 0)))

    def now(self) -> dt.datetime:
        """The device's clock (UTC, possibly skewed as the persona says)."""
        return dt.datetime.now(dt.UTC) + self.clock_skew

    async def __call__(self, request: Request) -> Response | None:
        """Answer POSTs to the ONVIF service paths; None for every other request."""
        if request.path not in (self.device_path, self.media_path, self.receiver_path):
            return None
        if request.method != "POST":
            return Response(405, b"", [("Allow", "POST")])
        try:
            call = parse_soap(request.body)
        except ValueError:
            return self._soap(400, fault("Sender", "WellFormed", "Well-formed Error"))
        needs_auth = bool(self.spec.get("auth_all")) or call.operation not in PRE_AUTH
        if needs_auth and not self._authorised(call, request):
            if (call.token is None and self.spec.get("unauth") == "digest") or \
                    (call.token is not None and self.spec.get("bad_token") == "digest"):
                return self.http_challenge.challenge()  # type: ignore[no-any-return]
            return self._soap(400, fault("Sender", "NotAuthorized", "Sender not Authorized"))
        handler = getattr(self, f"op_{call.operation}", None)
        wanted_ns = {self.media_path: TRT, self.receiver_path: TRV}.get(request.path, TDS)
        if handler is None or call.namespace != wanted_ns:
            return self._soap(500, fault("Receiver", "ActionNotSupported", "Optional Action Not Implemented"))
        return self._soap(200, envelope(handler(call, request)))

    def _authorised(self, call: SoapCall, request: Request) -> bool:
        if call.token is not None:
            return self.checker.check(call.token, self.now())
        return bool(self.http_challenge.digest.check(request.method, request.headers.get("authorization")))

    @staticmethod
    def _soap(status: int, body: bytes) -> Response:
        return Response(status, body, [("Content-Type", CONTENT_TYPE)])

    def _base(self, request: Request) -> str:
        scheme = "https" if request.tls else "http"
        port = int(self.ctx.section("https" if request.tls else "http").get(
            "port", 443 if request.tls else 80))
        default = 443 if request.tls else 80
        return f"{scheme}://{self.ctx.host.ip}" + ("" if port == default else f":{port}")

    # --- device service -------------------------------------------------------------------------

    def op_GetSystemDateAndTime(self, call: SoapCall, request: Request) -> str:
        now = self.now()
        tz = _e(self.spec.get("timezone", "GMT0"))

        def stamp(tag: str, t: dt.datetime) -> str:
            return (f"<tt:{tag}><tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
                    f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
                    f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date></tt:{tag}>")

        return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                f"<tt:DateTimeType>{_e(self.spec.get('date_time_type', 'NTP'))}</tt:DateTimeType>"
                "<tt:DaylightSavings>false</tt:DaylightSavings>"
                f"<tt:TimeZone><tt:TZ>{tz}</tt:TZ></tt:TimeZone>"
                + stamp("UTCDateTime", now) + stamp("LocalDateTime", now)
                + "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")

    def op_GetCapabilities(self, call: SoapCall, request: Request) -> str:
        base = self._base(request)
        return ("<tds:GetCapabilitiesResponse><tds:Capabilities>"
                f"<tt:Device><tt:XAddr>{base}{self.device_path}</tt:XAddr>"
                "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
                "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
                "</tt:Device>"
                f"<tt:Events><tt:XAddr>{base}{self.events_path}</tt:XAddr>"
                "<tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport>"
                "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
                "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
                "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
                f"<tt:Media><tt:XAddr>{base}{self.media_path}</tt:XAddr><tt:StreamingCapabilities>"
                "<tt:RTPMulticast>true</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
                "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>")

    def op_GetServices(self, call: SoapCall, request: Request) -> str:
        base = self._base(request)
        entries = [(TDS, self.device_path, 2, 60), (TRT, self.media_path, 2, 60),
                   (EVENTS_NS, self.events_path, 2, 60)]
        if self.receiver_path is not None:
            entries.append((TRV, self.receiver_path, 2, 21))
        services = "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}{path}</tds:XAddr>"
            f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version></tds:Service>"
            for ns, path, major, minor in entries)
        return f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>"

    def op_GetHostname(self, call: SoapCall, request: Request) -> str:
        return ("<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
                f"<tt:Name>{_e(self.ctx.host.hostname)}</tt:Name></tds:HostnameInformation>"
                "</tds:GetHostnameResponse>")

    def op_GetDeviceInformation(self, call: SoapCall, request: Request) -> str:
        fields = device_information(self.ctx)
        return ("<tds:GetDeviceInformationResponse>"
                + "".join(f"<tds:{name}>{_e(value)}</tds:{name}>" for name, value in fields.items())
                + "</tds:GetDeviceInformationResponse>")

    def op_GetNetworkInterfaces(self, call: SoapCall, request: Request) -> str:
        host = self.ctx.host
        return ('<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
                "<tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name>"
                f"<tt:HwAddress>{_e(self.ctx.values['mac'])}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
                "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual>"
                f"<tt:Address>{host.ip}</tt:Address><tt:PrefixLength>{host.prefixlen}</tt:PrefixLength>"
                "</tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
                "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>")

    def op_GetScopes(self, call: SoapCall, request: Request) -> str:
        items = []
        for scope in device_scopes(self.ctx):
            configurable = "/name/" in scope or "/location/" in scope
            items.append(f"<tds:Scopes><tt:ScopeDef>{'Configurable' if configurable else 'Fixed'}"
                         f"</tt:ScopeDef><tt:ScopeItem>{_e(scope)}</tt:ScopeItem></tds:Scopes>")
        return "<tds:GetScopesResponse>" + "".join(items) + "</tds:GetScopesResponse>"

    # --- media service ----------------------------------------------------------------------------

    def _sources(self) -> list[tuple[str, str]]:
        """(video source token, name) per video input: one per channel on a recorder."""
        if self.channels:
            template = str(self.spec.get("channel_name", "Channel ${n}"))
            return [(f"VideoSource_{c.number}", self.ctx.render(template, **channel_values(self.ctx, c)))
                    for c in self.channels]
        return [("VideoSource_1", str(self.spec.get("source_name", "VideoSourceConfig")))]

    def op_GetVideoSources(self, call: SoapCall, request: Request) -> str:
        items = "".join(
            f'<trt:VideoSources token="{token}"><tt:Framerate>25</tt:Framerate>'
            "<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution>"
            "</trt:VideoSources>" for token, _ in self._sources())
        return f"<trt:GetVideoSourcesResponse>{items}</trt:GetVideoSourcesResponse>"

    def op_GetProfiles(self, call: SoapCall, request: Request) -> str:
        profiles = []
        stream_names = [str(n) for n in self.spec.get("profile_names", ["mainStream", "subStream"])]
        for index, (token, name) in enumerate(self._sources(), start=1):
            names = [name] if self.channels else stream_names
            for sub, profile_name in enumerate(names, start=1):
                profiles.append(
                    f'<trt:Profiles token="Profile_{index}{sub:02d}" fixed="true">'
                    f"<tt:Name>{_e(profile_name)}</tt:Name>"
                    f'<tt:VideoSourceConfiguration token="VideoSourceToken_{index}">'
                    f"<tt:Name>{_e(name)}</tt:Name><tt:UseCount>{len(names)}</tt:UseCount>"
                    f"<tt:SourceToken>{token}</tt:SourceToken>"
                    '<tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>'
                    "</trt:Profiles>")
        return "<trt:GetProfilesResponse>" + "".join(profiles) + "</trt:GetProfilesResponse>"


    # --- receiver service (recorders) ------------------------------------------------------------

    def op_GetReceivers(self, call: SoapCall, request: Request) -> str:
        items = []
        for c in self.channels:
            cam = self.ctx.hosts.get(c.ip)
            if c.hidden is not None:
                path = c.hidden.rtsp_path
            else:
                path = str(cam.persona.spec.get("rtsp", {}).get("path", "/")) if cam else "/"
            items.append(
                f"<trv:Receivers><tt:Token>Receiver_{c.number}</tt:Token><tt:Configuration>"
                f"<tt:Mode>AlwaysConnect</tt:Mode><tt:MediaUri>{_e(f'rtsp://{c.ip}:554{path}')}</tt:MediaUri>"
                "<tt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP"
                "</tt:Protocol></tt:Transport></tt:StreamSetup></tt:Configuration></trv:Receivers>")
        return "<trv:GetReceiversResponse>" + "".join(items) + "</trv:GetReceiversResponse>"


def channel_values(ctx: HostContext, channel: Channel) -> dict[str, str]:
    """Template values describing one channel of a recorder (a hidden camera or the lab camera at its IP)."""
    n, hidden = channel.number, channel.hidden
    cam = ctx.hosts.get(channel.ip)
    values = {"n": str(n), "n2": f"{n:02d}", "cam_ip": channel.ip}
    if hidden is not None:
        values.update(cam_manufacturer=hidden.maker, cam_model=hidden.model, cam_firmware=hidden.firmware,
                      cam_serial=hidden.serial)
    elif cam is not None:
        identity = cam.persona.spec.get("identity", {})
        values.update(cam_manufacturer=str(identity.get("manufacturer", cam.persona.brand or "")),
                      cam_model=cam.persona.model, cam_firmware=cam.firmware, cam_serial=cam.serial)
    else:
        values.update(cam_manufacturer="", cam_model="", cam_firmware="", cam_serial="")
    return values


def device_information(ctx: HostContext) -> dict[str, str]:
    """GetDeviceInformation fields in schema order, rendered for this host."""
    spec = ctx.section("onvif")
    return {
        "Manufacturer": ctx.render(str(spec.get("manufacturer", "${manufacturer}"))),
        "Model": ctx.render(str(spec.get("model", "${model}"))),
        "FirmwareVersion": ctx.render(str(spec.get("firmware", "${firmware}"))),
        "SerialNumber": ctx.render(str(spec.get("serial", "${serial}"))),
        "HardwareId": ctx.render(str(spec.get("hardware_id", "1.0"))),
    }


def device_scopes(ctx: HostContext) -> list[str]:
    """The host's ONVIF scopes (the WS-Discovery scopes, rendered), normalised to one per item."""
    scopes = ctx.render_any(ctx.section("wsd").get("scopes", []))
    return [str(s).strip() for s in scopes if str(s).strip()]
