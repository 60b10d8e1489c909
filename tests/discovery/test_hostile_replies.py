"""Issue 10 regressions: each hostile reply costs one reply (its own decode error), never the module or the run."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from scanner.discovery import http, nmap, onvif, sadp, ssdp, wsd
from scanner.discovery.base import DecodeError, RateLimiter, ScanContext, ScanStats
from scanner.match import composite
from scanner.models import Observation
from scanner.scope import Scope

FIX = Path(__file__).parent / "fixtures"
FUZZ = FIX / "fuzz"
UNKNOWN_ENCODING = b'<?xml version="1.0" encoding="x-unknown"?>'


def _fuzz(name: str) -> bytes:
    return (FUZZ / name).read_bytes()


# ---- the XML parser shared by WS-Discovery, SADP and the SSDP description ---------------------

@pytest.mark.parametrize(("parse", "name", "error"), [
    (wsd.parse_reply, "wsd_unknown_encoding.bin", wsd.WsdDecodeError),
    (sadp.parse_reply, "sadp_unknown_encoding.bin", sadp.SadpDecodeError),
    (ssdp.parse_description, "ssdpdesc_unknown_encoding.bin", ssdp.SsdpDecodeError),
])
def test_unknown_xml_encoding_is_the_modules_own_decode_error(parse: Any, name: str, error: type) -> None:
    data = _fuzz(name)
    assert data.startswith(UNKNOWN_ENCODING)
    with pytest.raises(error, match="bad XML: LookupError") as e:
        parse(data)
    assert isinstance(e.value, DecodeError)


def test_parse_xml_raises_the_error_class_it_is_given() -> None:
    with pytest.raises(sadp.SadpDecodeError):
        wsd.parse_xml(UNKNOWN_ENCODING + b"<a/>", 1024, sadp.SadpDecodeError)


# ---- the sweep goes on: link modules fed hostile datagrams -------------------------------------

class _Sock:
    def close(self) -> None:
        pass


def _ctx() -> ScanContext:
    return ScanContext(scope=Scope.build(["198.18.0.0/24"]), rate=RateLimiter(1000), stats=ScanStats(),
                       interface_ip="198.18.0.1")


def _feed(monkeypatch: pytest.MonkeyPatch, datagrams: list[tuple[bytes, str]]) -> None:
    """Replace the UDP I/O of the link modules with a fixed list of (datagram, source ip)."""
    async def send(*_a: Any, **_k: Any) -> bool:
        return True

    async def receive(_sock: Any, sending: asyncio.Task[None], *_a: Any, **_k: Any
                      ) -> AsyncIterator[tuple[bytes, str, int]]:
        await sending
        for data, ip in datagrams:
            yield data, ip, 3702

    monkeypatch.setattr(wsd, "open_socket", lambda *_a: _Sock())
    monkeypatch.setattr(wsd, "send", send)
    monkeypatch.setattr(wsd, "receive", receive)


def _collect(module: Any, ctx: ScanContext) -> list[Observation]:
    async def go() -> list[Observation]:
        return [o async for o in module.run(ctx)]
    return asyncio.run(go())


def _with_xaddrs(reply: bytes, xaddrs: str) -> bytes:
    return re.sub(rb"(<[\w:]*XAddrs>)[^<]*(</)", lambda m: m.group(1) + xaddrs.encode() + m.group(2), reply)


def test_wsd_sweep_survives_unknown_encoding_and_broken_xaddrs(monkeypatch: pytest.MonkeyPatch) -> None:
    good = (FIX / "wsd" / "hikvision_ds2cd2385g1.xml").read_bytes()
    broken = _with_xaddrs((FIX / "wsd" / "axis_m2036le.xml").read_bytes(), "http://[::1 http://10.9.9.9:99999/x")
    assert b"http://[::1" in broken
    _feed(monkeypatch, [(_fuzz("wsd_unknown_encoding.bin"), "198.18.0.66"), (broken, "198.18.0.67"),
                        (good, "198.18.0.10")])
    ctx = _ctx()
    obs = _collect(wsd.WsdMulticast(window=0.1), ctx)
    assert {o.ip for o in obs if o.signal == "wsd.epr"} == {"198.18.0.67", "198.18.0.10"}
    assert ctx.hosts["198.18.0.10"].onvif_xaddrs        # the good device still gets its ONVIF hint
    assert ctx.hosts["198.18.0.67"].onvif_xaddrs == []  # nothing usable in "[::1" or port 99999
    bad = [e for e in ctx.stats.errors if e["ip"] == "198.18.0.66"]
    assert len(bad) == 1 and "LookupError" in bad[0]["error"]


def test_sadp_sweep_survives_unknown_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    good = (FIX / "sadp" / "hikvision_ds2cd2385g1.xml").read_bytes()
    _feed(monkeypatch, [(_fuzz("sadp_unknown_encoding.bin"), "198.18.0.66"), (good, "198.18.0.10")])
    ctx = _ctx()
    obs = _collect(sadp.Sadp(window=0.1), ctx)
    assert [o.ip for o in obs if o.signal == "sadp.reply"] == ["198.18.0.10"]
    assert [e["ip"] for e in ctx.stats.errors] == ["198.18.0.66"]


# ---- ONVIF hint and other URL parsing -----------------------------------------------------------

@pytest.mark.parametrize("xaddr", ["http://[::1", "http://10.9.9.9:99999/x", "http://[", "http://198.18.0.9:-1/"])
def test_broken_xaddr_gives_no_hint_and_no_exception(xaddr: str) -> None:
    assert wsd.onvif_hint([xaddr], "198.18.0.9", [xaddr]) is None
    assert wsd.http_xaddr(xaddr) is None


def test_broken_xaddr_does_not_hide_a_good_one() -> None:
    good = "http://198.18.0.9:8000/onvif/device_service"
    xaddrs = [*_fuzz("xaddr_broken.bin").decode().split(), good]
    assert wsd.onvif_hint(xaddrs, "198.18.0.9", xaddrs) == good
    assert wsd.onvif_hint(["http://10.9.9.9:99999/x", "http://10.9.9.9:8080/dev"], "198.18.0.9", []) \
        == "http://198.18.0.9:8080/dev"


def test_broken_location_redirect_is_ignored() -> None:
    resp = http.parse_response(_fuzz("http_location_broken.bin"))
    assert resp.status == 302
    assert http.same_host_redirect(resp, "198.18.0.9", 80, False) is None


# ---- HTTP charsets and lengths ------------------------------------------------------------------

@pytest.mark.parametrize("charset", ["base64", "rot13", "hex", "zlib", "idna", "punycode", "uu", "bz2", "quopri",
                                     "utf-7", "undefined"])
def test_non_text_charset_falls_back_to_utf8(charset: str) -> None:
    resp = http.parse_response(_fuzz(f"http_charset_{charset}.bin"))
    assert resp.header("Content-Type") == f"text/html; charset={charset}"
    text = http.decode_text(resp)
    # the page is read as UTF-8: the title is there verbatim, the bad byte replaced, no surrogate from utf-7
    assert http.extract_title(text) == "Web Service +2AA-"
    assert text.endswith("\ufffd")
    text.encode("utf-8")


def test_real_charsets_are_still_honoured() -> None:
    assert http.text_charset("GB2312") == "gb2312"
    assert http.text_charset("iso-8859-1") == "iso8859-1"
    assert http.text_charset("x-bogus") == "utf-8"


@pytest.mark.parametrize("name", ["http_content_length_superscript.bin", "http_content_length_4300_digits.bin",
                                  "http_content_length_4301_digits.bin"])
def test_unusable_content_length_is_ignored(name: str) -> None:
    data = _fuzz(name)
    resp = http.parse_response(data)
    assert resp.status == 200 and resp.body == b"<title>x</title>"
    assert http.reply_complete(data) is False     # no usable length: read on to EOF or the cap


def test_content_length_accepts_only_ascii_digits() -> None:
    assert http.content_length(" 42 ") == 42
    assert [http.content_length(v) for v in ("\u00b2", "9" * 4300, "-1", "", "٣")] == [None] * 5


# ---- ONVIF, nmap -------------------------------------------------------------------------------

def test_onvif_year_overflow_is_a_decode_error() -> None:
    with pytest.raises(onvif.OnvifDecodeError):
        onvif.parse_reply(_fuzz("onvif_year_overflow.bin"))


def test_onvif_unknown_encoding_is_a_decode_error() -> None:
    with pytest.raises(onvif.OnvifDecodeError):
        onvif.parse_reply(UNKNOWN_ENCODING + b"<a/>")


def test_nmap_host_with_a_bad_address_never_reaches_the_inventory() -> None:
    out = nmap.observations_from_nmap_xml(_fuzz("nmap_not_an_ip.bin"))
    assert list(out) == ["198.18.0.20"]
    # an empty http-server-header output and port 99999 are dropped, the open port stays
    assert [(o.signal, o.value) for o in out["198.18.0.20"]] == [("tcp.port", "80")]


def test_nmap_unknown_encoding_is_a_decode_error() -> None:
    with pytest.raises(nmap.NmapDecodeError):
        nmap.parse_nmap_xml(UNKNOWN_ENCODING + b"<nmaprun/>")


# ---- composite parsers and camscan identify ----------------------------------------------------

def test_composite_sadp_with_unknown_encoding_is_a_composite_error() -> None:
    with pytest.raises(composite.CompositeError):
        composite.parse_sadp(_fuzz("composite_unknown_encoding.bin").decode())


def test_composite_dhip_never_returns_a_lone_surrogate() -> None:
    text = json.dumps({"method": "client.notifyDevInfo", "params": {"deviceInfo": {"DeviceType": "DH-\ud800"}}})
    assert composite.parse_dhip(text)["deviceInfo.DeviceType"] == "DH-\ufffd"


def test_identify_answers_every_line_after_hostile_ones() -> None:
    from scanner.cli.identify import run_identify
    from scanner.match.engine import get_engine

    lines = [_fuzz("identify_unknown_encoding.bin").decode(), _fuzz("identify_surrogate.bin").decode(),
             json.dumps({"id": "\ud800", "observations": [{"signal": "http.server", "value": "x"}]}),
             json.dumps({"id": "d", "observations": [{"signal": "dhip.reply", "value": json.dumps(
                 {"method": "client.notifyDevInfo", "params": {"deviceInfo": {"DeviceType": "DH-\ud800"}}})}]}),
             json.dumps({"id": "last", "observations": [{"signal": "http.server", "value": "App-webs/"}]})]
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")     # strict, like a real stdout: surrogates would raise
    err = io.StringIO()
    rc = run_identify(io.StringIO("\n".join(lines) + "\n"), out, err, get_engine(None), why=False,
                      concern_lists=None)
    out.flush()
    answers = [json.loads(x) for x in raw.getvalue().decode().splitlines()]
    assert rc == 0 and err.getvalue() == ""
    assert [a["id"] for a in answers] == ["u", "s", "\ufffd", "d", "last"]
    assert answers[-1]["vendor"] == "hikvision"
