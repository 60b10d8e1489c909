"""HTTP module: pure parsing of recorded replies, and a real probe of tiny servers in a private netns pair."""

from __future__ import annotations

import asyncio
import base64
import datetime
import importlib.util
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import mmh3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scanner.discovery import http
from scanner.discovery.base import DecodeError
from scanner.signals import SIGNALS

HERE = Path(__file__).parent
FIX = HERE / "fixtures_host" / "http"
_spec = importlib.util.spec_from_file_location("camscan_netpair", HERE / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)


def fixture(name: str) -> bytes:
    return (FIX / name).read_bytes()


def sv(obs: list[Any]) -> set[tuple[str, str]]:
    return {(o.signal, o.value) for o in obs}


# ---- pure ------------------------------------------------------------------------------------

def test_module_signals_are_in_the_vocabulary() -> None:
    assert http.Http.signals <= set(SIGNALS)


def test_digest_challenge_on_a_probe_path_gives_path_server_and_realm() -> None:
    resp = http.parse_response(fixture("hik_isapi_401.http"))
    assert resp.status == 401
    probe = http.PROBE_PATHS[0]
    obs = http.probe_observations(probe, resp, "10.0.0.5", None, 80, control_hit=False)
    assert sv(obs) == {
        ("http.path", "/ISAPI/System/deviceInfo"),
        ("http.server", "App-webs/"),
        ("http.www_authenticate", 'Digest qop="auth", realm="IP Camera(C2183)", '
         'nonce="4e5468694e7a42694e7a4d365a4463314d6d4d314f413d3d", stale="FALSE"'),
    }
    assert all(o.ip == "10.0.0.5" and o.port == 80 and o.source == "http" for o in obs)


def test_path_hits_are_dropped_when_the_control_path_also_answers() -> None:
    resp = http.parse_response(fixture("hik_isapi_401.http"))
    assert http.probe_observations(http.PROBE_PATHS[0], resp, "10.0.0.5", None, 80, control_hit=True) == []


def test_login_challenge_body_is_kept_as_snippet() -> None:
    resp = http.parse_response(fixture("dahua_rpc2_login_200.http"))
    probe = next(p for p in http.PROBE_PATHS if p.path == "/RPC2_Login")
    got = sv(http.probe_observations(probe, resp, "10.0.0.6", None, 80, control_hit=False))
    assert ("http.path", "/RPC2_Login") in got
    body = next(v for s, v in got if s == "http.body")
    assert '"realm": "Login to 4M03B1DPAZ00123"' in body and "3CEF8C6101C0" in body


def test_chunked_json_is_dechunked() -> None:
    resp = http.parse_response(fixture("axis_basicdeviceinfo_chunked.http"))
    assert not resp.truncated
    assert resp.body.startswith(b'{"apiVersion"') and resp.body.endswith(b"}}}")
    snippet = http.body_snippet(http.decode_text(resp))
    assert snippet is not None and '"ProdNbr": "M3106-L Mk II"' in snippet


def test_declared_charset_is_honoured() -> None:
    resp = http.parse_response(fixture("xm_root_gb2312.http"))
    got = sv(http.page_observations(resp, "10.0.0.7", None, 80))
    assert ("http.server", "uc-httpd 1.0.0") in got
    assert ("http.title", "NETSurveillance WEB") in got
    assert any(s == "http.body" and "\u7f51\u7edc\u76d1\u63a7" in v for s, v in got)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    resp = http.parse_response(fixture("invalid_utf8_200.http"))
    got = sv(http.page_observations(resp, "10.0.0.8", None, 80))
    assert ("http.title", "Cam\ufffd\ufffd era") in got
    hdr = http.parse_response(b"HTTP/1.1 200 OK\r\nServer: Webs\xff\xfe/1.0\r\nContent-Length: 0\r\n\r\n")
    assert hdr.header("Server") == "Webs\ufffd\ufffd/1.0"


def test_redirect_is_followed_only_on_the_same_host() -> None:
    root = http.parse_response(fixture("hik_root_302.http"))
    assert http.same_host_redirect(root, "10.0.0.5", 80, False) == (
        False, 80, "/doc/page/login.asp?_1589474735")
    off = http.HttpResponse(302, "Found", (("Location", "http://10.9.9.9/x"),), b"")
    assert http.same_host_redirect(off, "10.0.0.5", 80, False) is None
    js = http.HttpResponse(301, "Moved", (("Location", "javascript:alert(1)"),), b"")
    assert http.same_host_redirect(js, "10.0.0.5", 80, False) is None
    tls = http.HttpResponse(301, "Moved", (("Location", "https://10.0.0.5/"),), b"")
    assert http.same_host_redirect(tls, "10.0.0.5", 80, False) == (True, 443, "/")


@pytest.mark.parametrize("data", [
    b"", b"SSH-2.0-dropbear\r\n", b"HTTP/1.1 200 OK\r\nServer: x", b"\x00\xff" * 50,
    b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
def test_garbage_raises_decode_error_only(data: bytes) -> None:
    with pytest.raises(DecodeError):
        http.parse_response(data)


def test_truncated_chunked_body_is_marked_truncated() -> None:
    resp = http.parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nabc")
    assert resp.truncated and resp.body == b"abc"


def test_favicon_hash_matches_shodan_convention() -> None:
    data = bytes(range(256)) * 3
    b64 = base64.b64encode(data).decode()
    wrapped = "".join(b64[i:i + 76] + "\n" for i in range(0, len(b64), 76))
    assert http.favicon_hash(data) == str(mmh3.hash(wrapped.encode()))
    assert int(http.favicon_hash(data)) < 2**31  # signed 32-bit decimal


def _cert(cn_parts: list[tuple[Any, str]]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(o, v) for o, v in cn_parts])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


# Subject of Hikvision DVR/NVR certificates, protocols.md section 7 (recog x509_subjects.xml).
HIK_SUBJECT = [(NameOID.COUNTRY_NAME, "CN"), (NameOID.STATE_OR_PROVINCE_NAME, "ZheJiang"),
               (NameOID.LOCALITY_NAME, "HangZhou"), (NameOID.ORGANIZATION_NAME, "HIKVISION"),
               (NameOID.ORGANIZATIONAL_UNIT_NAME, "DVRNVR"), (NameOID.COMMON_NAME, "www.hikvision.com")]
HIK_RFC4514 = "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"


def test_certificate_names_are_rfc4514() -> None:
    pem, _ = _cert(HIK_SUBJECT)
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    assert sv(http.cert_observations(der, "10.0.0.9", None, 443)) == {
        ("tls.subject", HIK_RFC4514), ("tls.issuer", HIK_RFC4514)}
    with pytest.raises(DecodeError):
        http.cert_names(b"\x30\x03\x02\x01\x01")


def test_requests_never_carry_credentials() -> None:
    for p in http.PROBE_PATHS:
        req = http.build_request(p.method, "10.0.0.1", 80, p.path, p.body, p.content_type)
        assert b"authorization:" not in req.lower()
        assert p.method in ("GET", "POST")


# ---- I/O in a private netns pair ---------------------------------------------------------------

lab = pytest.mark.skipif(not netpair.can_build(), reason="needs root to build network namespaces")

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
LOGIN = (b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: text/html\r\nContent-Length: 44\r\n\r\n"
         b"<html><title>Login  Page</title>hello</html>")
ICON = bytes(range(200))


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def camera_routes(path: str) -> bytes:
    if path == "/":
        return fixture("hik_root_302.http")
    if path.startswith("/doc/page/login.asp"):
        return LOGIN
    if path == "/ISAPI/System/deviceInfo":
        return fixture("hik_isapi_401.http")
    if path == "/favicon.ico":
        return _ok(ICON, b"Content-Type: image/x-icon\r\n")
    return NOT_FOUND


def all_401(path: str) -> bytes:
    return (b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="box"\r\n'
            b"Content-Length: 0\r\n\r\n")


async def _serve(sock: Any, route: Any, seen: list[str]) -> asyncio.AbstractServer:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if route == "silent":
            seen.append("connect")
        try:
            head = await r.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            seen.append(line)
            if route == "silent":                  # a binary service waiting for its own protocol
                await asyncio.sleep(5)
            elif route == "drip":
                w.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(100):
                    w.write(b"X")
                    await w.drain()
                    await asyncio.sleep(0.2)
            elif route == "endless":
                w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<title>big</title>")
                for _ in range(10_000):
                    w.write(b"A" * 4096)
                    await w.drain()
            else:
                w.write(route(line.split(" ")[1]))
                await w.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    return await asyncio.start_server(handle, sock=sock, ssl=getattr(route, "tls", None))


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"h{os.getpid() % 10000}", 32, extra_b=["198.18.32.99"])
    yield p
    p.close()


@pytest.mark.lab
@lab
def test_probe_of_live_servers(pair) -> None:  # type: ignore[no-untyped-def]
    pem, key = _cert(HIK_SUBJECT)
    tmp = tempfile.mkdtemp()
    Path(tmp, "c.pem").write_bytes(pem)
    Path(tmp, "k.pem").write_bytes(key)
    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ctx.load_cert_chain(Path(tmp, "c.pem"), Path(tmp, "k.pem"))

    def tls_page(path: str) -> bytes:
        return _ok(b"<title>Secure</title>") if path == "/" else NOT_FOUND
    tls_page.tls = tls_ctx  # type: ignore[attr-defined]

    def off_host(path: str) -> bytes:
        return b"HTTP/1.1 302 Found\r\nLocation: http://198.18.32.99/steal\r\nContent-Length: 0\r\n\r\n"

    routes: dict[int, Any] = {80: camera_routes, 443: tls_page, 8080: "drip", 8081: "endless",
                              8888: all_401, 81: off_host, 8000: "silent"}
    ip = pair.ip_b
    seen: dict[int, list[str]] = {p: [] for p in [*routes, 99]}
    socks = {p: pair.listen_b(p) for p in routes}
    trap = pair.listen_b(80, host="198.18.32.99")
    ctx = netpair.make_ctx(["198.18.32.0/24"], ["198.18.32.99"], timeout=1.5)
    ctx.host(ip).open_ports.update(routes)

    async def go() -> list[Any]:
        servers = [await _serve(socks[p], routes[p], seen[p]) for p in routes]
        servers.append(await _serve(trap, camera_routes, seen[99]))
        try:
            return await netpair.collect(http.Http(), ctx)
        finally:
            for s in servers:
                s.close()

    obs = pair.run_in_a(go)
    by_port: dict[int, set[tuple[str, str]]] = {}
    for o in obs:
        by_port.setdefault(o.port, set()).add((o.signal, o.value))

    p80 = by_port[80]
    assert ("http.server", "App-webs/") in p80
    assert ("http.title", "Login Page") in p80                       # reached through the redirect
    assert ("http.path", "/ISAPI/System/deviceInfo") in p80
    assert ("http.path", "/doc/page/login.asp") in p80
    assert ("http.path", "/RPC2_Login") not in p80                    # answered 404
    assert ("http.favicon_mmh3", http.favicon_hash(ICON)) in p80
    assert any(s == "http.www_authenticate" and "IP Camera(C2183)" in v for s, v in p80)

    assert ("tls.subject", HIK_RFC4514) in by_port[443]
    assert ("http.title", "Secure") in by_port[443]

    assert not any(s == "http.path" for s, _ in by_port.get(8888, set()))  # catch-all 401 proves nothing
    assert ("http.www_authenticate", 'Basic realm="box"') in by_port[8888]

    assert seen[99] == []                                             # off-host redirect not followed
    errors = " ".join(e["error"] for e in ctx.stats.errors)
    assert "port 8080" in errors and "no complete reply" in errors    # drip stopped by the deadline
    assert "port 8081" in errors and "cap" in errors                  # endless reply stopped at the cap
    assert ("http.title", "big") in by_port[8081]                     # what came before the cap is kept
    assert all(o.source == "http" and o.ip == ip for o in obs)
    assert seen[8000] == ["connect", "GET / HTTP/1.1"]                # silent port: one plain try, no TLS retry
    assert "port 8000" not in errors and 8000 not in by_port          # and silence is not an error


def test_app_key_ignores_digest_nonces_and_unnamed_fronts_stay_apart() -> None:
    def resp(nonce: str) -> http.HttpResponse:
        return http.parse_response(b'HTTP/1.1 401 Unauthorized\r\nServer: box\r\nWWW-Authenticate: Digest '
                                   b'realm="cam", nonce="' + nonce.encode() + b'"\r\nContent-Length: 0\r\n\r\n')
    assert http.app_key(resp("aaa"), 80, None) == http.app_key(resp("bbb"), 443, None)
    bare = http.parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    fronts = [http._Front(p, p, False, http.app_key(bare, p, None), True, []) for p in (80, 8080)]
    assert [f.port for f in http.distinct_apps(fronts)] == [80, 8080]   # nothing tells them alike
    assert not http.serves_app(http.parse_response(NOT_FOUND))
    assert http.serves_app(resp("x"))


@pytest.mark.lab
@lab
def test_favicon_and_probe_paths_go_once_per_web_application(pair) -> None:  # type: ignore[no-untyped-def]
    def other_app(path: str) -> bytes:
        return _ok(b"<title>Printer</title>", b"Server: other\r\n") if path == "/" else NOT_FOUND

    def to_8443(path: str) -> bytes:
        return b"HTTP/1.1 301 Moved\r\nLocation: http://%s:8443/\r\nContent-Length: 0\r\n\r\n" % pair.ip_b.encode()

    routes: dict[int, Any] = {80: camera_routes, 8080: camera_routes, 5357: lambda p: NOT_FOUND,
                              8081: other_app, 8888: to_8443, 8443: other_app}
    ip = pair.ip_b
    seen: dict[int, list[str]] = {p: [] for p in routes}
    socks = {p: pair.listen_b(p) for p in routes}
    ctx = netpair.make_ctx(["198.18.32.0/24"], [], timeout=1.5)
    ctx.host(ip).open_ports.update(routes)

    async def go() -> list[Any]:
        servers = [await _serve(socks[p], routes[p], seen[p]) for p in routes]
        try:
            return await netpair.collect(http.Http(), ctx)
        finally:
            for s in servers:
                s.close()

    obs = pair.run_in_a(go)
    paths = {p.path for p in http.PROBE_PATHS}

    def asked(port: int) -> set[str]:
        return {line.split(" ")[1] for line in seen[port]}

    assert paths | {"/favicon.ico"} <= asked(80)                  # the camera application, probed on its first port
    assert asked(8080).isdisjoint(paths | {"/favicon.ico"})        # the same application again: front page only
    assert asked(5357) == {"/"}                                    # a 404 root serves no application
    assert paths | {"/favicon.ico"} <= asked(8081)                 # a different application gets its own probes
    assert asked(8888) == {"/"}                                    # redirects to 8443, which is 8081's app again
    assert asked(8443) == {"/"}
    got = {(o.port, o.signal, o.value) for o in obs}
    assert (80, "http.path", "/ISAPI/System/deviceInfo") in got
    assert (80, "http.favicon_mmh3", http.favicon_hash(ICON)) in got
    assert (8080, "http.server", "App-webs/") in got               # every port's own banner is still read
    assert (5357, "http.server", "App-webs/") not in got


@pytest.mark.lab
@lab
def test_a_host_its_evidence_already_names_gets_no_probe_paths(pair) -> None:  # type: ignore[no-untyped-def]
    from scanner.discovery import sadp
    from scanner.match.engine import get_engine
    from scanner.scan import _Settled

    # a real Hikvision SADP reply (tests/discovery/fixtures/sadp): maker, kind, model and serial
    reply = sadp.parse_reply((HERE / "fixtures" / "sadp" / "hikvision_ds2cd2385g1.xml").read_bytes())
    ip = pair.ip_b
    seen: list[str] = []

    def scan(named: bool) -> list[Any]:
        seen.clear()
        sock = pair.listen_b(80)
        ctx = netpair.make_ctx(["198.18.32.0/24"], [], timeout=1.5)
        ctx.host(ip).open_ports.add(80)
        ctx.settled = _Settled(get_engine(), ctx, frozenset({"sadp"}))
        if named:
            ctx.observed[ip] = sadp.to_observations(reply, ip, None)

        async def go() -> list[Any]:
            server = await _serve(sock, camera_routes, seen)
            try:
                return await netpair.collect(http.Http(), ctx)
            finally:
                server.close()
        return pair.run_in_a(go)

    paths = {p.path for p in http.PROBE_PATHS}
    obs = scan(named=False)   # the web UI alone names Hikvision but not the model: the paths may tell more
    assert paths <= {line.split(" ")[1] for line in seen}
    assert ("http.path", "/ISAPI/System/deviceInfo") in {(o.signal, o.value) for o in obs}
    obs = scan(named=True)
    asked = {line.split(" ")[1] for line in seen}
    assert "/favicon.ico" in asked and asked.isdisjoint(paths | {http.CONTROL_PATH})
    got = {(o.signal, o.value) for o in obs}
    assert ("http.server", "App-webs/") in got and ("http.favicon_mmh3", http.favicon_hash(ICON)) in got
