"""ScanContext.settled from the real fingerprint engine: a host counts as named (so that modules skip the work
that only serves to name a device) only when its evidence names the maker and settles what it is."""

from __future__ import annotations

import asyncio

from scanner.discovery.base import RateLimiter, ScanContext, ScanStats
from scanner.match.engine import get_engine
from scanner.models import Observation
from scanner.scan import _Settled
from scanner.scope import Scope

IP = "198.18.0.10"
# real strings: Hikvision ONVIF scopes (fingerprints/hikvision.yaml examples), Hikvision web server and camera
# realm (rapid7/recog), a Cisco non-camera web server (recog), Windows' WSDAPI server (generic, no maker)
SCOPES = ("onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
          "onvif://www.onvif.org/hardware/DS-2CD2143G0-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G0-I "
          "onvif://www.onvif.org/location/city/hangzhou")
CAMERA_WEB = [("http.server", "App-webs/"), ("http.www_authenticate", 'Digest realm="IP Camera(C2183)", nonce="x"')]


def _settled(known: list[tuple[str, str]], more: list[tuple[str, str]], engine: object = None) -> bool:
    ctx = ScanContext(scope=Scope.build([IP], []), rate=RateLimiter(100), stats=ScanStats())
    ctx.observed[IP] = [Observation(s, v, ip=IP) for s, v in known]
    check = _Settled(get_engine() if engine is None else engine, ctx)   # type: ignore[arg-type]
    return asyncio.run(check(IP, [Observation(s, v, ip=IP) for s, v in more]))


def test_maker_kind_and_model_settle_a_camera() -> None:
    assert _settled([("wsd.scopes", SCOPES)], CAMERA_WEB)


def test_a_camera_without_its_model_is_not_settled() -> None:
    assert not _settled([], CAMERA_WEB)                      # maker and kind, but the probe paths may give the model
    assert not _settled([], [("http.server", "App-webs/")])   # maker, kind `video`


def test_a_named_non_surveillance_product_is_settled_an_unnamed_one_is_not() -> None:
    assert _settled([], [("http.server", "Cisco AWARE 2.0")])
    assert not _settled([], [("http.server", "Microsoft-HTTPAPI/2.0")])   # `other`, but no maker named
    assert not _settled([], [])


def test_an_engine_that_failed_to_build_settles_nothing() -> None:
    def broken() -> object:
        raise RuntimeError("no database")
    assert not _settled([("wsd.scopes", SCOPES)], CAMERA_WEB, broken)
