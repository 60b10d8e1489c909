"""Property tests: every decoder of device data returns its parsed type or raises its own decode error.

Inputs are the recorded fixtures (tests/discovery/fixtures*, plus the kept fuzz reproducers under
fixtures/fuzz) edited by Hypothesis, and raw bytes. The decoder table is bench/fuzz.py's, which
runs the same checks over a million inputs per decoder (bench/results/fuzz.json).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.discovery import dhip, http, mdns, nmap, onvif, rtsp, sadp, snmp, ssdp, wsd
from scanner.discovery.base import DecodeError
from scanner.match import composite

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"
_spec = importlib.util.spec_from_file_location("camscan_fuzz", _BENCH)
assert _spec and _spec.loader
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["camscan_fuzz"] = fuzz          # dataclasses need the module registered
_spec.loader.exec_module(fuzz)

TARGETS = {t.name: t for t in fuzz.targets()}
EXAMPLES = 300

#: The bare decoders and the type each returns when it does not raise.
DECODERS: dict[str, tuple[Any, type, type[Exception]]] = {
    "wsd.parse_reply": (wsd.parse_reply, wsd.WsdReply, wsd.WsdDecodeError),
    "sadp.parse_reply": (sadp.parse_reply, sadp.SadpReply, sadp.SadpDecodeError),
    "dhip.parse_reply": (dhip.parse_reply, dhip.DhipReply, dhip.DhipDecodeError),
    "ssdp.parse_reply": (ssdp.parse_reply, ssdp.SsdpReply, ssdp.SsdpDecodeError),
    "ssdp.parse_description": (ssdp.parse_description, ssdp.UpnpDescription, ssdp.SsdpDecodeError),
    "mdns.parse_reply": (mdns.parse_reply, tuple, mdns.MdnsDecodeError),
    "http.parse_response": (http.parse_response, http.HttpResponse, http.HttpDecodeError),
    "http.cert_names": (http.cert_names, tuple, http.HttpDecodeError),
    "rtsp.parse_reply": (rtsp.parse_reply, rtsp.RtspReply, rtsp.RtspDecodeError),
    "onvif.parse_reply": (onvif.parse_reply, onvif.TimeReply, onvif.OnvifDecodeError),
    "nmap.parse_nmap_xml": (nmap.parse_nmap_xml, list, nmap.NmapDecodeError),
}


@st.composite
def mutants(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A recorded seed with a few drawn edits (insert, overwrite, cut, token), or raw bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=512))
    buf = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(buf)))
        op = draw(st.sampled_from(("insert", "overwrite", "cut", "token", "truncate")))
        if op == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "overwrite":
            b = draw(st.binary(min_size=1, max_size=8))
            buf[i:i + len(b)] = b
        elif op == "cut":
            del buf[i:i + draw(st.integers(1, 64))]
        elif op == "token":
            buf[i:i] = draw(st.sampled_from(fuzz.TOKENS))
        else:
            del buf[i:]
    return bytes(buf)


def _settings() -> Any:
    return settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoder_chain_raises_only_its_own_error(name: str) -> None:
    target = TARGETS[name]

    @_settings()
    @given(mutants(target.seeds))
    def check(data: bytes) -> None:
        escape = fuzz.run_one(target, data)
        assert escape is None, f"{name}: {type(escape).__name__}: {escape} at {fuzz.where(escape)} on {data!r:.300}"

    check()


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoder_returns_its_type_or_its_error(name: str) -> None:
    decode, returns, error = DECODERS[name]
    assert issubclass(error, DecodeError)

    @_settings()
    @given(mutants(TARGETS[name].seeds))
    def check(data: bytes) -> None:
        try:
            result = decode(data)
        except error:
            return
        assert isinstance(result, returns)

    check()


def test_every_seed_decodes() -> None:
    # the recorded fixtures themselves parse: the mutants start from real replies, not noise
    for name, (decode, returns, _error) in DECODERS.items():
        assert any(isinstance(_try(decode, s), returns) for s in TARGETS[name].seeds), name


def _try(decode: Any, data: bytes) -> object:
    try:
        return decode(data)
    except DecodeError:
        return None


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(st.lists(st.text(max_size=40), max_size=6))
def test_xaddr_functions_never_raise(words: list[str]) -> None:
    hint = wsd.onvif_hint(words, "198.18.0.9", words)
    assert hint is None or hint.startswith(("http://", "https://"))
    for w in words:
        assert wsd.http_xaddr(w) is None or wsd.is_ipv4(wsd.http_xaddr(w)[1])  # type: ignore[index]
        onvif.pin_url(w, "198.18.0.9")
        ssdp.location_target(w)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(st.text(max_size=200))
def test_composite_parsers_raise_only_composite_error(text: str) -> None:
    for parse in composite.PARSERS.values():
        try:
            out = parse(text)
        except composite.CompositeError:
            continue
        assert isinstance(out, dict)
        for k, v in out.items():
            (k + v).encode("utf-8")     # no lone surrogate survives into a field


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_snmp_octet_strings_render_as_text(raw: bytes) -> None:
    from pyasn1.type import univ
    values = snmp.parse_reply([(univ.ObjectIdentifier("1.3.6.1.2.1.1.1.0"), univ.OctetString(raw))])
    assert set(values) <= {"1.3.6.1.2.1.1.1.0"}
    assert all(isinstance(v, str) and "\x00" not in v for v in values.values())
