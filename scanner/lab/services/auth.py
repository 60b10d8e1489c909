"""Credential checks the simulated devices perform: WS-UsernameToken digest and HTTP Digest/Basic."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

WSSE_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
PASSWORD_TEXT: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText")
NONCE_CACHE_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class UsernameToken:
    """The fields of a wsse:UsernameToken as received (strings, unverified)."""

    username: str
    password: str
    password_type: str
    nonce: str | None
    created: str | None


def password_digest(nonce_b64: str, created: str, password: str) -> str:
    """Base64(SHA1(nonce_raw + created + password)) per the WS-Security UsernameToken profile 1.0."""
    raw = base64.b64decode(nonce_b64, validate=True)
    return base64.b64encode(hashlib.sha1(raw + created.encode() + password.encode()).digest()).decode()


def parse_created(text: str) -> dt.datetime | None:
    """An xs:dateTime as an aware UTC datetime ('Z' or an offset); None when malformed."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        return None
    return value.astimezone(dt.UTC)


class TokenChecker:
    """Checks UsernameTokens against one account: digest, Created window, nonce replay."""

    def __init__(self, username: str, password: str, window_s: float = 300.0,
                 allow_text: bool = False) -> None:
        self._username = username
        self._password = password
        self._window = dt.timedelta(seconds=window_s)
        self._allow_text = allow_text
        self._seen: OrderedDict[str, None] = OrderedDict()

    def check(self, token: UsernameToken, now: dt.datetime) -> bool:
        """True only for the right user and digest, Created within the window, nonce not seen before."""
        if not hmac.compare_digest(token.username.encode(), self._username.encode()):
            return False
        if token.password_type == PASSWORD_TEXT or (token.nonce is None and token.created is None):
            return self._allow_text and hmac.compare_digest(token.password.encode(),
                                                            self._password.encode())
        if token.nonce is None or token.created is None:
            return False   # the ONVIF Core spec requires both for PasswordDigest
        created = parse_created(token.created)
        if created is None or abs(created - now) > self._window:
            return False
        try:
            expected = password_digest(token.nonce, token.created, self._password)
        except (binascii.Error, ValueError):
            return False
        if not hmac.compare_digest(expected.encode(), token.password.strip().encode()):
            return False
        if token.nonce in self._seen:
            return False
        self._seen[token.nonce] = None
        while len(self._seen) > NONCE_CACHE_SIZE:
            self._seen.popitem(last=False)
        return True


_PARAM: Final = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_auth_params(text: str) -> dict[str, str]:
    """The key=value / key="value" pairs of a WWW-Authenticate or Authorization header."""
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(text)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class DigestChecker:
    """HTTP Digest (RFC 2617, MD5, qop=auth) and optional Basic for one account and realm."""

    def __init__(self, realm: str, username: str, password: str, *, basic: bool = False) -> None:
        self.realm = realm
        self._username = username
        self._password = password
        self._basic = basic
        self._nonces: OrderedDict[str, None] = OrderedDict()

    def remember_nonce(self, nonce: str) -> None:
        """Record a nonce this device issued in a challenge (bounded)."""
        self._nonces[nonce] = None
        while len(self._nonces) > NONCE_CACHE_SIZE:
            self._nonces.popitem(last=False)

    def check(self, method: str, authorization: str | None) -> bool:
        """True when AUTHORIZATION carries valid credentials for a request with METHOD."""
        if not authorization:
            return False
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            if not self._basic:
                return False
            try:
                user, _, password = base64.b64decode(rest.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return user == self._username and hmac.compare_digest(password.encode(),
                                                                  self._password.encode())
        if scheme.lower() != "digest":
            return False
        params = parse_auth_params(rest)
        nonce = params.get("nonce", "")
        if params.get("username") != self._username or params.get("realm") != self.realm:
            return False
        if nonce not in self._nonces:
            return False
        ha1 = _md5(f"{self._username}:{self.realm}:{self._password}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        qop = params.get("qop")
        if qop:
            expected = _md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:{qop}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        return hmac.compare_digest(expected.encode(), params.get("response", "").encode())
