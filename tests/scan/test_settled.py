"""ScanContext.settled from the real fingerprint engine: a host counts as named (so that modules skip the work
that only serves to name a device) only when what host discovery said of it, with what the caller adds, names the
maker and settles what it is - for surveillance kit its kind, model and serial number."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scanner.discovery import sadp
from scanner.discovery.base import RateLimiter, ScanContext, ScanStats
from scanner.match.engine import get_engine
from scanner.models import Observation
from scanner.scan import _Settled
from scanner.scope import Scope

IP = "198.18.0.10"
# a real Hikvision SADP reply (DS-2CD2385G1-I: model, serial, MAC), as the sadp module reports it
SADP = sadp.to_observations(sadp.parse_reply(
    (Path(__file__).parents[1] / "discovery" / "fixtures" / "sadp" / "hikvision_ds2cd2385g1.xml").read_bytes()),
    IP, None)
# real Hikvision ONVIF scopes (fingerprints/hikvision.yaml example): maker, kind and model, no serial
SCOPES = ("onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
          "onvif://www.onvif.org/hardware/DS-2CD2143G0-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G0-I "
          "onvif://www.onvif.org/location/city/hangzhou")
# Hikvision web server and camera realm (rapid7/recog), a Cisco non-camera web server (recog), Windows' WSDAPI
CAMERA_WEB = [("http.server", "App-webs/"), ("http.www_authenticate", 'Digest realm="IP Camera(C2183)", nonce="x"')]
DISCOVERY = frozenset({"arp", "tcp", "wsd", "sadp", "dhip", "mdns", "ssdp"})


def _settled(known: list[Observation], more: list[tuple[str, str]], engine: object = None) -> bool:
    ctx = ScanContext(scope=Scope.build([IP], []), rate=RateLimiter(100), stats=ScanStats())
    ctx.observed[IP] = list(known)
    check = _Settled(get_engine() if engine is None else engine, ctx, DISCOVERY)   # type: ignore[arg-type]
    return asyncio.run(check(IP, [Observation(s, v, ip=IP, source="http") for s, v in more]))


def _obs(signal: str, value: str, source: str) -> Observation:
    return Observation(signal, value, ip=IP, source=source)


def test_maker_kind_model_and_serial_from_discovery_settle_a_camera() -> None:
    assert _settled(SADP, CAMERA_WEB)
    assert _settled(SADP, [])


def test_what_a_vendor_path_could_still_add_keeps_a_camera_unsettled() -> None:
    assert not _settled([_obs("wsd.scopes", SCOPES, "wsd")], CAMERA_WEB)   # kind and model, but no serial
    assert not _settled([], CAMERA_WEB)                                    # no model either
    assert not _settled([], [("http.server", "App-webs/")])                 # maker, kind `video`


def test_only_host_discovery_counts_not_the_per_host_modules_running_alongside() -> None:
    late = [Observation(o.signal, o.value, ip=IP, mac=o.mac, source="onvif") for o in SADP]
    assert not _settled(late, CAMERA_WEB)


def test_a_named_non_surveillance_product_is_settled_an_unnamed_one_is_not() -> None:
    assert _settled([], [("http.server", "Cisco AWARE 2.0")])
    assert not _settled([], [("http.server", "Microsoft-HTTPAPI/2.0")])   # `other`, but no maker named
    assert not _settled([], [])


def test_an_engine_that_failed_to_build_settles_nothing() -> None:
    def broken() -> object:
        raise RuntimeError("no database")
    assert not _settled(SADP, CAMERA_WEB, broken)
