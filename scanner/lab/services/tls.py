"""Self-signed certificates with each maker's typical subject, generated at start-up and cached."""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS: Final = 2048
_lock = threading.Lock()
_keys: dict[str, rsa.RSAPrivateKey] = {}
_contexts: dict[tuple[str, str], ssl.SSLContext] = {}
_dir: Path | None = None


def _workdir() -> Path:
    global _dir
    if _dir is None:
        _dir = Path(tempfile.mkdtemp(prefix="camscan-lab-tls-"))
        atexit.register(shutil.rmtree, _dir, True)
    return _dir


def persona_key(persona: str) -> rsa.RSAPrivateKey:
    """One RSA key per persona (key generation is the slow part; 250 hosts share a few keys)."""
    with _lock:
        key = _keys.get(persona)
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
            _keys[persona] = key
        return key


def make_certificate(key: rsa.RSAPrivateKey, subject: str, not_before: dt.datetime,
                     days: int, serial: int) -> x509.Certificate:
    """A self-signed certificate whose subject and issuer are SUBJECT (an RFC 4514 string)."""
    name = x509.Name.from_rfc4514_string(subject)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(not_before)
            .not_valid_after(not_before + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))


def server_context(persona: str, subject: str, not_before: dt.datetime, days: int) -> ssl.SSLContext:
    """A server SSLContext presenting a self-signed certificate for SUBJECT (cached per subject)."""
    cache_key = (persona, subject)
    with _lock:
        cached = _contexts.get(cache_key)
    if cached is not None:
        return cached
    key = persona_key(persona)
    serial = int.from_bytes(hashlib.sha1(subject.encode()).digest()[:8], "big") | 1
    cert = make_certificate(key, subject, not_before, days, serial)
    stem = hashlib.sha1(f"{persona}|{subject}".encode()).hexdigest()
    cert_path = _workdir() / f"{stem}.crt"
    key_path = _workdir() / f"{persona}.key"
    if not key_path.exists():
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    with _lock:
        _contexts[cache_key] = context
    return context
