"""Mutation fuzzing of every decoder of device data, seeded from the recorded fixtures (no network).

Each target is a pure function over one input (bytes) that calls a decoder the way a module does,
plus the code that turns its result into observations. An escape is any exception outside the
target's own decode-error family, or a result holding a string no UTF-8 writer can print (a lone
surrogate). The first input of each distinct escape (target, exception type, raising line) is kept
as a reproducer. The property tests (tests/discovery/test_properties.py) use the same TARGETS.

    .venv/bin/python bench/fuzz.py --inputs 1000000 --jobs 2 --out bench/results/fuzz.json
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import json
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.cli import identify  # noqa: E402
from scanner.discovery import dhip, http, mdns, nmap, onvif, rtsp, sadp, snmp, ssdp, tcp, wsd  # noqa: E402
from scanner.discovery.base import DecodeError  # noqa: E402
from scanner.match import composite  # noqa: E402

FIX = ROOT / "tests" / "discovery" / "fixtures"
FIX_HOST = ROOT / "tests" / "discovery" / "fixtures_host"
#: Escapes found by this fuzzer (and by issue 10's run) kept as seeds and regression fixtures.
REGRESSIONS = FIX / "fuzz"
IP = "198.18.0.10"
MAX_INPUT = 64 * 1024


class SurrogateInOutput(Exception):
    """A decoder returned a string holding a lone surrogate (every UTF-8 writer fails on it)."""


@dataclass(frozen=True)
class Target:
    """One decoder under test: run(data) must return or raise `family` only."""

    name: str
    run: Callable[[bytes], object]
    family: type[BaseException]
    seeds: tuple[bytes, ...]


def _files(folder: Path, *patterns: str) -> tuple[bytes, ...]:
    out = [p.read_bytes() for pat in patterns for p in sorted(folder.glob(pat)) if p.is_file()]
    return tuple(out)


def _regressions(prefix: str) -> tuple[bytes, ...]:
    return _files(REGRESSIONS, f"{prefix}*.bin") if REGRESSIONS.is_dir() else ()


def _text(data: bytes) -> str:
    # surrogateescape: invalid bytes become lone surrogates, so text decoders also see those
    return data.decode("utf-8", errors="surrogateescape")


# ---- targets ---------------------------------------------------------------------------------

def _wsd(data: bytes) -> object:
    reply = wsd.parse_reply(data)
    out: list[object] = [reply]
    for m in reply.matches:
        out.append(wsd.to_observations(m, IP, None))
        out.append(wsd.onvif_hint(m.xaddrs, IP, m.xaddrs))
        out.append([wsd.xaddr_host(x) for x in m.xaddrs])
    return out


def _xaddrs(data: bytes) -> object:
    # XAddrs and Scopes reach these functions as text expat decoded: no lone surrogates
    words = data.decode("utf-8", errors="replace").split()
    return (wsd.onvif_hint(words, IP, words[::2]), [wsd.xaddr_host(w) for w in words],
            [wsd.http_xaddr(w) for w in words], wsd.mac_from_scopes(words), [wsd.mac_from_epr(w) for w in words],
            [onvif.pin_url(w, IP) for w in words], onvif.xaddr_ports(words, IP),
            [ssdp.location_target(w) for w in words])


def _sadp(data: bytes) -> object:
    r = sadp.parse_reply(data)
    return r, sadp.to_observations(r, IP, None)


def _dhip(data: bytes) -> object:
    r = dhip.parse_reply(data)
    return r, dhip.to_observations(r, IP, None)


def _ssdp(data: bytes) -> object:
    r = ssdp.parse_reply(data)
    loc = r.get("location")
    return r, ssdp.to_observations(r, IP, None), ssdp.location_target(loc) if loc else None


def _ssdp_description(data: bytes) -> object:
    d = ssdp.parse_description(data)
    return d, ssdp.description_observations(d, IP, None, 80)


def _mdns(data: bytes) -> object:
    services = mdns.parse_reply(data)
    return services, [mdns.to_observations(s, IP, None) for s in services], mdns.decode_txt(data)


def _http(data: bytes) -> object:
    complete = http.reply_complete(data)
    r = http.parse_response(data)
    text = http.decode_text(r)
    return (complete, r, text, http.extract_title(text), http.body_snippet(text),
            http.page_observations(r, IP, None, 80), http.same_host_redirect(r, IP, 80, False))


def _cert(data: bytes) -> object:
    return http.cert_names(data)


def _rtsp(data: bytes) -> object:
    r = rtsp.parse_reply(data)
    return r, rtsp.to_observations(r, IP, None, 554)


def _snmp(data: bytes) -> object:
    from pyasn1.type import univ
    arcs = (1, 3, *(b for b in data[:16]))
    var_binds = [(univ.ObjectIdentifier("1.3.6.1.2.1.1.1.0"), univ.OctetString(data)),
                 (univ.ObjectIdentifier("1.3.6.1.2.1.1.2.0"), univ.ObjectIdentifier(arcs)),
                 (univ.ObjectIdentifier("1.3.6.1.2.1.1.5.0"), univ.Integer(int.from_bytes(data[:9], "big")))]
    values = snmp.parse_reply(var_binds)
    return values, snmp.to_observations(values, IP, None)


def _onvif(data: bytes) -> object:
    return onvif.parse_reply(data)


def _nmap(data: bytes) -> object:
    return nmap.observations_from_nmap_xml(data)


def _composite(data: bytes) -> object:
    text = _text(data)
    out: list[object] = []
    for parse in composite.PARSERS.values():
        try:
            out.append(parse(text))
        except composite.CompositeError:
            out.append(None)
    return out


def _banner(data: bytes) -> object:
    try:
        ssh = tcp.parse_ssh_banner(data)
    except DecodeError:
        ssh = None
    return ssh, tcp.split_telnet(data), tcp.telnet_text(data)


def _identify(data: bytes) -> object:
    dev_id, obs = identify.parse_line(_text(data))
    return dev_id, obs


def _cert_seed() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "IPC"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "camera maker")])
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _xaddr_seeds() -> tuple[bytes, ...]:
    out = [b"http://198.18.0.10/onvif/device_service http://[fe80::1]/onvif/device_service",
           b"http://[::1 http://10.9.9.9:99999/x https://198.18.0.10:8443/onvif/device_service",
           b"urn:uuid:5f5a69c2-e0ae-504f-829b-000389416f8c onvif://www.onvif.org/MAC/00:40:8c:11:22:33"]
    for p in sorted((FIX / "wsd").glob("*.xml")):
        with_words = wsd.parse_reply(p.read_bytes())
        for m in with_words.matches:
            out.append(" ".join((m.epr, *m.xaddrs, *m.scopes)).encode())
    return tuple(out)


def _identify_seeds() -> tuple[bytes, ...]:
    out = []
    for kind, folder, pattern in (("sadp.reply", FIX / "sadp", "*.xml"), ("dhip.reply", FIX / "dhip", "*.json")):
        for p in sorted(folder.glob(pattern)):
            out.append(json.dumps({"id": p.stem, "observations": [
                {"signal": kind, "value": p.read_text(errors="replace")}]}).encode())
    out.append(b'{"id":"x","observations":[{"signal":"http.server","value":"App-webs/\\ud800"}]}')
    return tuple(out)


def targets() -> list[Target]:
    """Every decoder target with its seeds (recorded fixtures plus kept regression inputs)."""
    wsd_seeds = _files(FIX / "wsd", "*.xml")
    return [
        Target("wsd.parse_reply", _wsd, wsd.WsdDecodeError, wsd_seeds + _regressions("wsd")),
        Target("wsd.xaddrs+onvif.urls", _xaddrs, DecodeError, _xaddr_seeds() + _regressions("xaddr")),
        Target("sadp.parse_reply", _sadp, sadp.SadpDecodeError, _files(FIX / "sadp", "*.xml") + _regressions("sadp")),
        Target("dhip.parse_reply", _dhip, dhip.DhipDecodeError, _files(FIX / "dhip", "*.bin") + _regressions("dhip")),
        Target("ssdp.parse_reply", _ssdp, ssdp.SsdpDecodeError, _files(FIX / "ssdp", "*.txt") + _regressions("ssdp_")),
        Target("ssdp.parse_description", _ssdp_description, ssdp.SsdpDecodeError,
               _files(FIX / "ssdp", "*.xml") + _regressions("ssdpdesc")),
        Target("mdns.parse_reply", _mdns, mdns.MdnsDecodeError, _files(FIX / "mdns", "*.bin") + _regressions("mdns")),
        Target("http.parse_response", _http, http.HttpDecodeError,
               _files(FIX_HOST / "http", "*.http") + _regressions("http")),
        Target("http.cert_names", _cert, http.HttpDecodeError, (_cert_seed(), *_regressions("cert"))),
        Target("rtsp.parse_reply", _rtsp, rtsp.RtspDecodeError,
               _files(FIX_HOST / "rtsp", "*.rtsp") + _regressions("rtsp")),
        Target("snmp.parse_reply", _snmp, snmp.SnmpDecodeError,
               (b"Hikvision DS-2CD2385G1-I", b"Linux NVR 4.9.37 #1 SMP", b"\xff\xfe\x00", *_regressions("snmp"))),
        Target("onvif.parse_reply", _onvif, onvif.OnvifDecodeError,
               _files(FIX_HOST / "onvif", "GetSystemDateAndTime.xml", "NotAuthorized.xml") + _regressions("onvif")),
        Target("nmap.parse_nmap_xml", _nmap, nmap.NmapDecodeError,
               _files(FIX_HOST / "nmap", "*.xml") + _regressions("nmap")),
        Target("composite.parse_*", _composite, composite.CompositeError,
               _files(FIX / "sadp", "*.xml") + _files(FIX / "dhip", "*.json") + _xaddr_seeds()[2:] +
               _regressions("composite")),
        Target("tcp.banners", _banner, DecodeError,
               (b"SSH-2.0-dropbear_2019.78\r\n", b"\xff\xfd\x18\xff\xfd\x20login: ", b"(none) login: ",
                *_regressions("banner"))),
        Target("identify.parse_line", _identify, ValueError, _identify_seeds() + _regressions("identify")),
    ]


# ---- checking ----------------------------------------------------------------------------------

def check_output(obj: Any, depth: int = 0) -> None:
    """Raise SurrogateInOutput when any string reachable from obj cannot be encoded as UTF-8."""
    if depth > 20:
        return
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            raise SurrogateInOutput(repr(obj[:80])) from None
    elif isinstance(obj, bytes | int | float | bool) or obj is None:
        return
    elif isinstance(obj, dict):
        for k, v in obj.items():
            check_output(k, depth + 1)
            check_output(v, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            check_output(v, depth + 1)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            check_output(getattr(obj, f.name), depth + 1)


def run_one(target: Target, data: bytes) -> BaseException | None:
    """Run target on data; the escape (exception outside its family, surrogate output) or None."""
    try:
        check_output(target.run(data))
    except target.family:
        return None
    except Exception as e:   # counting exactly these is the point
        return e
    return None


def where(e: BaseException) -> str:
    """file:line of the innermost frame of e inside this repository (or the innermost at all)."""
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if str(ROOT) in f.filename and "bench/fuzz.py" not in f.filename]
    f = (ours or frames or [None])[-1]
    return f"{os.path.relpath(f.filename, ROOT)}:{f.lineno}" if f else "?"


# ---- mutation ----------------------------------------------------------------------------------

TOKENS: tuple[bytes, ...] = (
    b'<?xml version="1.0" encoding="x-unknown"?>', b'<?xml version="1.0" encoding="utf-16"?>',
    b'<?xml version="1.0" encoding="base64"?>', b"&#xd800;", b"&#0;", b"&amp;", b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
    b"<a>" * 64, b"</a>", b"xmlns:a=\"urn:x\"", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\x00", b"\xc2\xb2",
    b"\xed\xa0\x80", b"\x80", b"http://[::1", b"http://10.9.9.9:99999/x", b"http://[", b":0/", b"%ff%00",
    b"charset=base64", b"charset=rot13", b"charset=hex", b"charset=zlib", b"charset=idna", b"charset=punycode",
    b"charset=uu", b"charset=bz2", b"charset=quopri", b"charset=utf-7", b"charset=undefined", b"charset=x-bogus",
    b"Content-Length: \xc2\xb2", b"Content-Length: " + b"9" * 4300, b"Content-Length: -1",
    b"Transfer-Encoding: chunked", b"ffffffffffffffffffff\r\n", b"\r\n\r\n", b"\r\n", b"\n\n", b"0\r\n\r\n",
    b"Location: http://[::1/", b"Location: //198.18.0.10:99999/", b"HTTP/1.1 200 OK\r\n", b"RTSP/1.0 200 OK\r\n",
    b"NOTIFY * HTTP/1.1\r\n", b'"\\ud800"', b'"\\udfff"', b"[" * 2000, b"{" * 2000, b'{"a":' * 500, b"9" * 5000,
    b"1e999999", b"NaN", b"-Infinity", b'"method":"client.notifyDevInfo"', b"<Year>99999999999999999999</Year>",
    b"<Month>13</Month>", b'addr="not-an-ip"', b'portid="99999"', b'portid="\xc2\xb2"', b'output=""',
    b"\xc0\x0c", b"\xc0\xff", b"\x00\x0c\x00\x01", b"\x00\x21\x80\x01", b"\x00\x10", b"\xff" * 8,
    b"onvif://www.onvif.org/MAC/", b"urn:uuid:", b"SSH-", b"\xff\xfa", b"\xff\xf0",
)
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x3C, 0x3E, 0x22, 0x26, 0x0A, 0x0D, 0xC0, 0x3F)


def mutate(rng: random.Random, data: bytes, seeds: tuple[bytes, ...]) -> bytes:
    """1-6 random edits of data: flips, byte sets, cuts, duplicates, splices and token insertions."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(9)
        n = len(buf)
        i = rng.randint(0, n)
        if op == 0 and n:
            j = rng.randrange(n)
            buf[j] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(256)
        elif op == 2 and n:
            j = min(n, i + rng.randint(1, 64))
            del buf[i:j]
        elif op == 3 and n:
            j = min(n, i + rng.randint(1, 128))
            buf[i:i] = buf[i:j] * rng.randint(1, 4)
        elif op == 4:
            other = rng.choice(seeds)
            k = rng.randint(0, len(other))
            buf[i:] = other[k:]
        elif op == 5:
            buf[i:i] = rng.choice(TOKENS)
        elif op == 6:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 7 and n:
            j = min(n, i + rng.randint(1, 32))
            buf[i:j] = rng.choice(TOKENS)
        elif op == 8:
            del buf[rng.randint(0, n):]
    return bytes(buf[:MAX_INPUT])


def inputs(target: Target, count: int, seed: int) -> Iterator[bytes]:
    """The seeds themselves, then count - len(seeds) mutants (mutants of mutants a third of the time)."""
    rng = random.Random(f"{seed}:{target.name}")
    yield from target.seeds[:count]
    last = target.seeds[0]
    for _ in range(count - len(target.seeds)):
        base = last if rng.random() < 0.33 else rng.choice(target.seeds)
        last = mutate(rng, base, target.seeds)
        yield last


def fuzz_target(name: str, count: int, seed: int, max_seconds: float = 0.0) -> dict[str, Any]:
    """Fuzz one target (by name) with count inputs (fewer if max_seconds > 0 runs out); its summary with
    the first reproducer of each escape."""
    target = next(t for t in targets() if t.name == name)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    escapes = 0
    first: dict[str, dict[str, Any]] = {}
    n = 0
    start = time.monotonic()
    for data in inputs(target, count, seed):
        if max_seconds > 0 and n % 1000 == 0 and time.monotonic() - start > max_seconds:
            break
        n += 1
        e = run_one(target, data)
        if e is None:
            continue
        escapes += 1
        key = f"{type(e).__name__} at {where(e)}"
        if key not in first:
            first[key] = {"exception": f"{type(e).__name__}: {str(e)[:200]}", "input_index": n - 1,
                          "input_b64": base64.b64encode(data).decode(), "input_len": len(data)}
    return {"target": name, "family": target.family.__name__, "seeds": len(target.seeds), "inputs": n,
            "seconds": round(time.monotonic() - start, 1), "escapes": escapes, "distinct_escapes": len(first),
            "reproducers": first}


def main(argv: list[str] | None = None) -> int:
    """Fuzz every target (or --targets) and write the summary; exit 1 when anything escaped."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="inputs per decoder")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--targets", default="", help="comma-separated target names (default: all)")
    ap.add_argument("--max-seconds", type=float, default=0.0,
                    help="stop a decoder after this many seconds (0: never); the inputs run are recorded")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fuzz.json"))
    args = ap.parse_args(argv)
    names = [t.name for t in targets()]
    if args.targets:
        names = [n for n in names if n in args.targets.split(",")]
    start = time.monotonic()
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(fuzz_target, n, args.inputs, args.seed, args.max_seconds) for n in names]
        for fut in as_completed(futures):   # the file is rewritten as each decoder finishes
            r = fut.result()
            results.append(r)
            print(f"{r['target']:28} {r['inputs']:>9} inputs {r['seconds']:>8.1f} s  {r['escapes']} escapes "
                  f"({r['distinct_escapes']} distinct)", flush=True)
            write_summary(args, names, results, start)
    return 1 if sum(r["escapes"] for r in results) else 0


def write_summary(args: argparse.Namespace, names: list[str], results: list[dict[str, Any]], start: float) -> None:
    """Write the results so far (decoders in table order) to args.out."""
    results = sorted(results, key=lambda r: names.index(r["target"]))
    summary = {
        "what": "mutation fuzzing of every device-data decoder, seeded from tests/discovery fixtures; "
                "escape = exception outside the decoder's own decode-error family, or a lone surrogate in its output",
        "command": f"bench/fuzz.py --inputs {args.inputs} --jobs {args.jobs} --seed {args.seed} "
                   f"--max-seconds {args.max_seconds:g}",
        "decoders_done": f"{len(results)} of {len(names)}",
        "python": sys.version.split()[0], "cpus": os.cpu_count(),
        "wall_seconds": round(time.monotonic() - start, 1),
        "inputs_per_decoder_min": min(r["inputs"] for r in results) if results else 0,
        "escapes_total": sum(r["escapes"] for r in results),
        "targets": results,
    }
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
