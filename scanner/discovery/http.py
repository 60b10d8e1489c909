"""HTTP and HTTPS banners of a host's web services (phase 2, per host, TCP ports found open).

Protocol: HTTP/1.1 (RFC 9112) over TCP, and over TLS (RFC 8446) without certificate
verification. Per open web port: `GET /` (Server, WWW-Authenticate, <title>, a body snippet,
redirects followed only on the same host) and the TLS peer certificate's subject and issuer (RFC 4514).
Then once per web application the host serves (ports whose front pages have the same status, Server,
realm and title are one application; a root answering 404/5xx serves none): `GET /favicon.ico`
(Shodan-style mmh3) and a neutral list of read-only probe paths (PROBE_PATHS), where its front page was
finally served; the probe paths only while host discovery and this application's pages have not named the
device already (ScanContext.settled). Credentials are never sent. Every reply is capped in bytes and seconds.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import functools
import html
import re
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import mmh3

from scanner.discovery import probes
from scanner.discovery.base import DecodeError, HostModule, ScanContext
from scanner.discovery.probes import Probe
from scanner.models import Observation

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_SNIPPET_CHARS = 1024
MAX_TITLE_CHARS = 200
MAX_REDIRECTS = 3
USER_AGENT = "camscan/0.1 (inventory scan)"

#: Ports never spoken to in HTTP (their protocol is known and not HTTP).
NOT_HTTP_PORTS: frozenset[int] = frozenset({22, 23, 554, 8554, 10554, 37777, 34567})
#: Ports tried with TLS first (plain HTTP first everywhere else, TLS as the fallback).
TLS_FIRST_PORTS: frozenset[int] = frozenset({443, 8443})
#: A path no device serves; when it answers 200 or 401, path hits on that port prove nothing.
CONTROL_PATH = "/camscan-control-404.html"


class HttpDecodeError(DecodeError):
    """An HTTP response (status line, headers, chunked body or certificate) could not be decoded."""


#: Read-only probe paths, with why and their sources: fingerprints/probes.yaml (http_paths). DATA, not decisions:
#: which maker a path points to is for the rules. None changes device state or completes a login.
PROBE_PATHS: tuple[Probe, ...] = probes.load().http_paths


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A parsed HTTP response; body is de-chunked and capped, truncated says the cap was hit."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool = False

    def header(self, name: str) -> str | None:
        """First value of header name (case-insensitive), or None."""
        n = name.lower()
        return next((v for k, v in self.headers if k.lower() == n), None)

    def header_all(self, name: str) -> list[str]:
        """Every value of header name, in order."""
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]


def build_request(method: str, host: str, port: int, path: str, body: bytes = b"",
                  content_type: str | None = None, default_port: int = 80) -> bytes:
    """An HTTP/1.1 request with Connection: close and no credentials."""
    host_hdr = host if port == default_port else f"{host}:{port}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_hdr}", f"User-Agent: {USER_AGENT}",
             "Accept: */*", "Connection: close"]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
        if content_type:
            lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    """Decode a chunked body; (body, complete). Tolerates a truncated final chunk."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out), False
        size_txt = data[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_txt, 16)
        except ValueError:
            raise HttpDecodeError(f"bad chunk size {size_txt[:20]!r}") from None
        if size == 0:
            return bytes(out), True
        start = eol + 2
        out += data[start:start + size]
        if start + size > len(data):
            return bytes(out), False
        pos = start + size + 2


def header_end(data: bytes) -> int:
    """Index just after the blank line ending the headers, or -1 when not seen yet."""
    i = data.find(b"\r\n\r\n")
    if i >= 0:
        return i + 4
    i = data.find(b"\n\n")
    return i + 2 if i >= 0 else -1


def parse_response(data: bytes, truncated: bool = False) -> HttpResponse:
    """Parse raw response bytes (status line, headers, body); raises HttpDecodeError only."""
    end = header_end(data)
    if end < 0:
        raise HttpDecodeError("no end of headers" if data.startswith(b"HTTP/") else "not an HTTP reply")
    head = data[:end].decode("utf-8", errors="replace")  # invalid bytes become U+FFFD
    lines = head.replace("\r\n", "\n").split("\n")
    m = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})\s*(.*)$", lines[0], re.ASCII)
    if not m:
        raise HttpDecodeError(f"bad status line {lines[0][:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[0] in " \t" and headers:  # obsolete line folding
            k, v = headers[-1]
            headers[-1] = (k, v + " " + line.strip())
            continue
        k, sep, v = line.partition(":")
        if sep:
            headers.append((k.strip(), v.strip()))
    resp = HttpResponse(int(m.group(1)), m.group(2).strip(), tuple(headers), b"", truncated)
    raw = data[end:]
    if "chunked" in (resp.header("Transfer-Encoding") or "").lower():
        body, complete = _dechunk(raw)
        truncated = truncated or not complete
    else:
        body = raw
        length = content_length(resp.header("Content-Length"))
        if length is not None:
            body = raw[:length]
    return HttpResponse(resp.status, resp.reason, resp.headers, body[:MAX_BODY_BYTES], truncated)


_LENGTH = re.compile(r"[0-9]{1,18}")


def content_length(value: str | None) -> int | None:
    """A Content-Length of 1-18 ASCII digits as an int; None for anything else ("²", 4,300 digits, "-1")."""
    if value is None:
        return None
    v = value.strip()
    return int(v) if _LENGTH.fullmatch(v) else None


def reply_complete(data: bytes) -> bool:
    """True when data already holds a whole response (so reading may stop before EOF)."""
    end = header_end(data)
    if end < 0:
        return False
    head = data[:end].lower()
    m = re.search(rb"\ncontent-length:[ \t]*([0-9]{1,18})[ \t]*\r?\n", head)
    if m:
        return len(data) - end >= int(m.group(1))
    if b"transfer-encoding:" in head and b"chunked" in head:
        return data.endswith(b"0\r\n\r\n")
    return re.match(rb"http/\d(?:\.\d)?\s+(1\d\d|204|304)", head) is not None


#: Codecs Python marks as text encodings that still cannot decode a web page: they raise with
#: errors="replace" (idna, undefined), turn escapes into lone surrogates or cost quadratic time.
_NOT_PAGE_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape",
                                "unicode-internal", "utf-7"})
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_charset(declared: str | None) -> str:
    """The codec to decode a body declared as `declared`: a real text encoding Python knows, else utf-8.

    base64, rot13, hex, zlib, bz2, uu, quopri (bytes-to-bytes or str-to-str codecs) and the
    _NOT_PAGE_CHARSETS are refused; this never raises.
    """
    if not declared:
        return "utf-8"
    try:
        info = codecs.lookup(declared)
    except (LookupError, ValueError, TypeError):
        return "utf-8"
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_PAGE_CHARSETS:
        return "utf-8"
    return info.name


def decode_text(resp: HttpResponse) -> str:
    """Body as text in the declared charset if a real text encoding, else UTF-8; bad bytes and surrogates replaced."""
    ctype = resp.header("Content-Type") or ""
    m = re.search(r"charset=[\"']?([A-Za-z0-9_.:-]{1,40})", ctype)
    charset = text_charset(m.group(1) if m else None)
    try:
        text = resp.body.decode(charset, errors="replace")
    except Exception:   # a codec that still refuses (errors= unsupported): the body as UTF-8
        text = resp.body.decode("utf-8", errors="replace")
    return _SURROGATE.sub("\ufffd", text)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def extract_title(text: str) -> str | None:
    """The first <title> text, entities decoded and whitespace collapsed; None if absent or empty."""
    m = _TITLE.search(text)
    if not m:
        return None
    t = _SPACE.sub(" ", html.unescape(m.group(1))).strip()
    return t[:MAX_TITLE_CHARS] or None


def body_snippet(text: str) -> str | None:
    """The start of a body, whitespace collapsed and capped; None when empty."""
    s = _SPACE.sub(" ", text).strip()
    return s[:MAX_SNIPPET_CHARS] or None


def favicon_hash(data: bytes) -> str:
    """Shodan's favicon hash: signed 32-bit mmh3 of the MIME base64 (76-char lines, trailing \\n)."""
    return str(mmh3.hash(base64.encodebytes(data)))


def cert_names(der: bytes) -> tuple[str, str]:
    """(subject, issuer) of a DER certificate as RFC 4514 strings; raises HttpDecodeError only."""
    from cryptography import x509  # ~0.1 s to import: not at start-up (`camscan scan` warms it in a thread)

    try:
        cert = x509.load_der_x509_certificate(der)
        subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    except Exception as e:   # cryptography raises ValueError, TypeError and its own errors on junk
        raise HttpDecodeError(f"bad certificate: {type(e).__name__}: {str(e)[:200]}") from None
    return _SURROGATE.sub("\ufffd", subject), _SURROGATE.sub("\ufffd", issuer)


def _obs(signal: str, value: str, ip: str, mac: str | None, port: int) -> Observation:
    return Observation(signal, value, ip=ip, mac=mac, port=port, source="http", at=time.time())


def page_observations(resp: HttpResponse, ip: str, mac: str | None, port: int,
                      with_body: bool = True) -> list[Observation]:
    """Server, WWW-Authenticate (each), title and body snippet of one page."""
    out: list[Observation] = []
    server = resp.header("Server")
    if server:
        out.append(_obs("http.server", server[:300], ip, mac, port))
    out.extend(_obs("http.www_authenticate", w[:500], ip, mac, port)
               for w in resp.header_all("WWW-Authenticate") if w)
    if with_body and resp.body:
        text = decode_text(resp)
        title = extract_title(text)
        if title:
            out.append(_obs("http.title", title, ip, mac, port))
        snippet = body_snippet(text)
        if snippet:
            out.append(_obs("http.body", snippet, ip, mac, port))
    return out


def probe_observations(probe: Probe, resp: HttpResponse, ip: str, mac: str | None, port: int,
                       control_hit: bool) -> list[Observation]:
    """http.path when the path answered 200/401 (and the control path did not), plus its banners."""
    if resp.status not in (200, 401) or control_hit:
        return []
    out = [_obs("http.path", probe.path, ip, mac, port)]
    out.extend(page_observations(resp, ip, mac, port, with_body=resp.status == 200))
    return out


def cert_observations(der: bytes, ip: str, mac: str | None, port: int) -> list[Observation]:
    """tls.subject and tls.issuer of a peer certificate (empty names are skipped)."""
    subject, issuer = cert_names(der)
    return [_obs(s, v, ip, mac, port) for s, v in (("tls.subject", subject), ("tls.issuer", issuer)) if v]


def same_host_redirect(resp: HttpResponse, ip: str, port: int, tls: bool) -> tuple[bool, int, str] | None:
    """(tls, port, path) of a redirect that stays on ip, else None (off-host redirects are ignored)."""
    if resp.status not in (301, 302, 303, 307, 308):
        return None
    loc = resp.header("Location")
    if not loc:
        return None
    base = f"{'https' if tls else 'http'}://{ip}:{port}/"
    try:
        u = urllib.parse.urlsplit(urllib.parse.urljoin(base, loc.strip()))
        host, new_port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
    except ValueError:   # "http://[::1", port 99999: an unusable Location, not a failure
        return None
    if u.scheme not in ("http", "https") or host != ip:
        return None
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return u.scheme == "https", new_port, path


# ---- I/O -------------------------------------------------------------------------------------

class FetchError(Exception):
    """A request failed at the transport level; hostile: the peer misbehaved (drip); silent: it said nothing."""

    def __init__(self, message: str, hostile: bool = False, silent: bool = False) -> None:
        super().__init__(message)
        self.hostile = hostile
        self.silent = silent


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # old camera firmware offers weak suites
    return ctx


_TLS = _tls_context()


@dataclass(frozen=True, slots=True)
class Fetched:
    """The raw outcome of one exchange: bytes read, whether a cap stopped it, the peer cert."""

    data: bytes
    capped: bool
    cert_der: bytes | None


async def exchange(ip: str, port: int, request: bytes, *, tls: bool, timeout: float,
                   cap: int = MAX_HEADER_BYTES + MAX_BODY_BYTES) -> Fetched:
    """Send request, read until EOF, a complete reply or cap bytes, all within timeout seconds."""
    writer: asyncio.StreamWriter | None = None
    data = bytearray()
    cert: bytes | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                ip, port, ssl=_TLS if tls else None, server_hostname="" if tls else None)
            if tls:
                sslobj = writer.get_extra_info("ssl_object")
                cert = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
            writer.write(request)
            await writer.drain()
            while len(data) < cap:
                chunk = await reader.read(min(65536, cap - len(data)))
                if not chunk:
                    break
                data += chunk
                if reply_complete(bytes(data)):
                    break
    except TimeoutError:
        raise FetchError(f"no complete reply within {timeout:g}s ({len(data)} bytes read)",
                         hostile=bool(data), silent=not data) from None
    except (OSError, ssl.SSLError, EOFError) as e:
        if not data:
            raise FetchError(f"{type(e).__name__}: {e}") from None
    finally:
        if writer is not None:
            writer.transport.abort()
    return Fetched(bytes(data), len(data) >= cap, cert)


T = TypeVar("T")


HOST_CONCURRENCY = 64   # hosts probed at once


class Http(HostModule):
    """Banners, favicon, certificate and probe paths of every open web port of every live host."""

    name: ClassVar[str] = "http"
    signals: ClassVar[frozenset[str]] = frozenset({
        "http.server", "http.www_authenticate", "http.title", "http.body", "http.path",
        "http.favicon_mmh3", "tls.subject", "tls.issuer"})
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False
    phase: ClassVar[int] = 2
    concurrency: ClassVar[int] = HOST_CONCURRENCY

    async def _request(self, ctx: ScanContext, ip: str, port: int, tls: bool, method: str, path: str,
                       body: bytes = b"", ctype: str | None = None, capped: list[str] | None = None
                       ) -> tuple[HttpResponse, bytes | None]:
        """One capped exchange -> parsed response and peer cert; paths that hit the cap go to capped."""
        if not ctx.scope.allows(ip):
            raise FetchError("address outside the scan scope")
        await ctx.rate.wait()
        ctx.stats.count("http.requests")
        req = build_request(method, ip, port, path, body, ctype, 443 if tls else 80)
        h = ctx.hosts.get(ip)
        base = max(ctx.timeout, 0.5)
        got = await exchange(ip, port, req, tls=tls, timeout=h.rtt.reply_timeout(base) if h else base)
        if got.capped and capped is not None:
            capped.append(path)
        return parse_response(got.data, truncated=got.capped), got.cert_der

    async def _root(self, ctx: ScanContext, ip: str, port: int, capped: list[str]
                    ) -> tuple[bool, HttpResponse, bytes | None]:
        """GET / trying the likelier scheme first; (tls, response, cert)."""
        order = (True, False) if port in TLS_FIRST_PORTS else (False, True)
        last: Exception | None = None
        for tls in order:
            try:
                resp, cert = await self._request(ctx, ip, port, tls, "GET", "/", capped=capped)
                return tls, resp, cert
            except FetchError as e:
                # A service silent to plain HTTP is silent to a ClientHello too (a TLS server answers plain
                # bytes with an alert at once); a silent TLS attempt may still hide a plain server.
                if e.hostile or (e.silent and not tls):
                    raise
                last = e
            except DecodeError as e:
                last = e
        raise FetchError(str(last))

    async def _front(self, ctx: ScanContext, ip: str, mac: str | None, port: int) -> _Front | None:
        """GET / on port (redirects followed on the host): its certificate and page observations; None if not HTTP."""
        capped: list[str] = []
        try:
            return await self._front_page(ctx, ip, mac, port, capped)
        finally:
            _report_capped(ctx, self.name, ip, port, capped)

    async def _front_page(self, ctx: ScanContext, ip: str, mac: str | None, port: int,
                          capped: list[str]) -> _Front | None:
        out: list[Observation] = []
        try:
            tls, resp, cert = await self._root(ctx, ip, port, capped)
        except FetchError as e:
            ctx.stats.count("http.not_http")
            if e.hostile:
                ctx.stats.error(self.name, ip, f"port {port}: {e}")
            return None
        ctx.stats.count("http.ports")
        if cert:
            try:
                out.extend(cert_observations(cert, ip, mac, port))
            except DecodeError as e:
                ctx.stats.error(self.name, ip, f"port {port}: {e}")
        out.extend(page_observations(resp, ip, mac, port, with_body=False))
        final, cur_tls, cur_port = resp, tls, port
        for _ in range(MAX_REDIRECTS):
            nxt = same_host_redirect(final, ip, cur_port, cur_tls)
            if nxt is None:
                break
            n_tls, n_port, n_path = nxt
            if n_port != port and n_port not in ctx.host(ip).open_ports:
                break
            try:
                final, _ = await self._request(ctx, ip, n_port, n_tls, "GET", n_path, capped=capped)
            except (FetchError, DecodeError) as e:
                ctx.stats.error(self.name, ip, f"port {port}: redirect to {n_path}: {e}")
                break
            cur_tls, cur_port = n_tls, n_port
            out.extend(page_observations(final, ip, mac, port, with_body=False))
        page = [o for o in page_observations(final, ip, mac, port) if o.signal in ("http.title", "http.body")]
        out.extend(page)
        title = next((o.value for o in page if o.signal == "http.title"), None)
        return _Front(port, cur_port, cur_tls, app_key(final, cur_port, title), serves_app(final), out)

    async def _app_probes(self, ctx: ScanContext, ip: str, mac: str | None, front: _Front) -> list[Observation]:
        """Favicon, control path and probe paths of one web application (sent once, where its front page was)."""
        capped: list[str] = []
        try:
            return await self._app_paths(ctx, ip, mac, front.final_port, front.final_tls, capped, front.observations)
        finally:
            _report_capped(ctx, self.name, ip, front.final_port, capped)

    async def _app_paths(self, ctx: ScanContext, ip: str, mac: str | None, port: int, tls: bool,
                         capped: list[str], shown: list[Observation]) -> list[Observation]:
        out: list[Observation] = []
        try:
            fav, _ = await self._request(ctx, ip, port, tls, "GET", "/favicon.ico", capped=capped)
            if fav.status == 200 and fav.body and not fav.truncated:
                out.append(_obs("http.favicon_mmh3", favicon_hash(fav.body), ip, mac, port))
        except (FetchError, DecodeError):
            pass
        if ctx.settled is not None and await ctx.settled(ip, [*shown, *out]):
            # the probe paths name what the pages hide (and may give a serial number): known already here
            ctx.stats.count("http.apps_settled")
            return out
        try:
            ctl, _ = await self._request(ctx, ip, port, tls, "GET", CONTROL_PATH, capped=capped)
            if ctl.status in (200, 401):
                # every path answers alike: a path hit would prove nothing, so the probe paths are not sent
                ctx.stats.count("http.control_hit")
                return out
        except (FetchError, DecodeError):
            pass
        for probe in PROBE_PATHS:
            try:
                r, _ = await self._request(ctx, ip, port, tls, probe.method, probe.path, probe.body,
                                           probe.content_type, capped)
            except (FetchError, DecodeError) as e:
                if isinstance(e, FetchError) and e.hostile:
                    ctx.stats.error(self.name, ip, f"port {port} {probe.path}: {e}")
                continue
            out.extend(probe_observations(probe, r, ip, mac, port, False))
        return out

    async def _host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        h = ctx.host(ip)
        ports = sorted(p for p in web_ports(h.open_ports, h.http_ports) if p not in NOT_HTTP_PORTS)
        sem = asyncio.Semaphore(max(1, ctx.per_host_concurrency))

        async def guarded(port: int, work: Callable[[], Awaitable[T]], empty: T) -> T:
            async with sem:
                try:
                    return await work()
                except Exception as e:  # a broken host is data, never the end of the sweep
                    ctx.stats.error(self.name, ip, f"port {port}: {type(e).__name__}: {e}")
                    return empty

        front = functools.partial(self._front, ctx, ip, h.mac)
        fronts = await asyncio.gather(*(guarded(p, functools.partial(front, p), None) for p in ports))
        apps = distinct_apps(f for f in fronts if f is not None)
        no_obs: list[Observation] = []
        ctx.stats.count("http.apps", len(apps))
        probes = functools.partial(self._app_probes, ctx, ip, h.mac)
        paths = await asyncio.gather(*(guarded(f.final_port, functools.partial(probes, f), no_obs) for f in apps))
        return _dedupe([*(o for f in fronts if f is not None for o in f.observations),
                        *(o for r in paths for o in r)])

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        """A live in-scope host with an open (or stated) web port."""
        h = ctx.hosts.get(ip)
        return (h is not None and ctx.scope.allows(ip)
                and any(p not in NOT_HTTP_PORTS for p in web_ports(h.open_ports, h.http_ports)))

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        """Every web port of ip."""
        return await self._host(ctx, ip)


def web_ports(open_ports: Iterable[int], stated: Iterable[int]) -> set[int]:
    """Open ports plus the web ports a device stated in discovery (SADP/DHIP)."""
    return set(open_ports) | {p for p in stated if 0 < p < 65536}


@dataclass(frozen=True, slots=True)
class _Front:
    """One web port's front page: where it was finally served, what it looks like, its observations."""

    port: int
    final_port: int
    final_tls: bool
    key: tuple[object, ...]
    serves_app: bool
    observations: list[Observation]


_REALM = re.compile(r'realm\s*=\s*"([^"]{0,200})"', re.IGNORECASE)


def app_key(final: HttpResponse, final_port: int, title: str | None) -> tuple[object, ...]:
    """What tells two web ports' front pages apart: status, Server, realms (never nonces), title; the port
    they were finally served from is not part of it (80 redirecting to 443 is 443's application)."""
    realms = tuple(sorted(m.group(1) for w in final.header_all("WWW-Authenticate") for m in _REALM.finditer(w)))
    return (final.status, final.header("Server"), realms, title)


def serves_app(final: HttpResponse) -> bool:
    """A front page that is a web application (served, protected or redirecting), not an error for the root:
    only such a server gets the favicon and probe-path requests (a 404/5xx root has no UI to fingerprint)."""
    return final.status < 400 or final.status in (401, 403)


def distinct_apps(fronts: Iterable[_Front]) -> list[_Front]:
    """One front per web application of a host (ports in the order given): a port serving the same front page
    as an earlier one, or serving no application, gets no favicon or probe-path requests of its own."""
    seen: set[tuple[object, ...]] = set()
    out: list[_Front] = []
    for f in fronts:
        if not f.serves_app:
            continue
        k = (*f.key, f.final_port) if f.key[1] is None and not f.key[2] and f.key[3] is None else f.key
        if k in seen:
            continue
        seen.add(k)
        out.append(f)
    return out


def _report_capped(ctx: ScanContext, module: str, ip: str, port: int, capped: list[str]) -> None:
    if capped:
        ctx.stats.error(module, ip, f"port {port}: reply exceeded the {MAX_HEADER_BYTES + MAX_BODY_BYTES}-byte "
                        "cap (truncated) for " + ", ".join(capped))


def _dedupe(obs: Iterable[Observation]) -> list[Observation]:
    seen: set[tuple[str, str, int | None]] = set()
    out: list[Observation] = []
    for o in obs:
        key = (o.signal, o.value, o.port)
        if key not in seen:
            seen.add(key)
            out.append(o)
    return out


MODULE = Http
