"""Per-host context for the responders: template variables, seeded randomness, shared caps."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Template
from typing import Any, Final

from scanner.lab.model import LabHost

MAX_REQUEST_BYTES: Final = 64 * 1024      # a request head or SOAP body we are willing to read
READ_TIMEOUT_S: Final = 15.0              # idle time before a lab server drops a connection
OUTSIDE_IP: Final = "198.19.200.7"        # lab space, never a host, outside any profile's subnet


def mac_parts(mac: str) -> list[str]:
    """The six lower-case octets of a MAC in any colon/dash notation."""
    return mac.replace("-", ":").lower().split(":")


def ipv6_link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address a device derives from its MAC (RFC 4291 appendix A)."""
    octets = [int(part, 16) for part in mac_parts(mac)]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)


@dataclass(slots=True)
class HostContext:
    """What every responder of one host needs: the host, its neighbours and its template values."""

    host: LabHost
    hosts: Mapping[str, LabHost]
    seed: int
    rng: random.Random = field(init=False)
    values: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.host.ip}")
        self.values = host_values(self.host, self.seed)

    @property
    def spec(self) -> dict[str, Any]:
        """The persona's per-service data."""
        return self.host.persona.spec

    def section(self, name: str) -> dict[str, Any]:
        """One spec section (empty when the persona does not configure it)."""
        body = self.host.persona.spec.get(name, {})
        return body if isinstance(body, dict) else {}

    def render(self, text: str, **extra: str) -> str:
        """Fill ${name} placeholders from the host's values (and EXTRA), e.g. ${mac12}."""
        return Template(text).safe_substitute(self.values, **extra)

    def render_any(self, value: Any, **extra: str) -> Any:
        """render() applied to every string inside nested lists and mappings."""
        if isinstance(value, str):
            return self.render(value, **extra)
        if isinstance(value, list):
            return [self.render_any(item, **extra) for item in value]
        if isinstance(value, dict):
            return {key: self.render_any(item, **extra) for key, item in value.items()}
        return value

    def token(self, nbytes: int = 16) -> str:
        """A fresh random hex string (nonces, session ids) from the host's seeded generator."""
        return f"{self.rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def stable_uuid(seed: int, ip: str, salt: str) -> uuid.UUID:
    """A version-4 UUID that is the same for a host in every run with the same seed."""
    digest = hashlib.sha256(f"{seed}:{ip}:{salt}".encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def host_values(host: LabHost, seed: int) -> dict[str, str]:
    """Template variables of HOST (documented in personas.TEMPLATE_VARS)."""
    parts = mac_parts(host.mac)
    firmware = host.firmware
    fw_version, _, fw_build = firmware.partition(" build ")
    identity = host.persona.spec.get("identity", {})
    manufacturer = str(identity.get("manufacturer", host.persona.brand or ""))
    v4 = stable_uuid(seed, host.ip, "device")
    # Hikvision's EPR: version-1 layout whose node field is the MAC (protocols.md section 1).
    v1_head = stable_uuid(seed, host.ip, "hik").hex
    uuid_hik = f"{v1_head[:8]}-{v1_head[8:12]}-11{v1_head[14:16]}-8{v1_head[17:20]}-{''.join(parts)}"
    return {
        "ip": host.ip,
        "mac": ":".join(parts),
        "MAC": ":".join(parts).upper(),
        "mac12": "".join(parts),
        "MAC12": "".join(parts).upper(),
        "mac_dash": "-".join(parts),
        "MAC_dash": "-".join(parts).upper(),
        "serial": host.serial,
        "serial_tail5": host.serial[-5:],
        "serial_digits": str(int(hashlib.sha1(host.serial.encode()).hexdigest()[:15], 16)).zfill(18)[-18:],
        "model": host.persona.model,
        "firmware": firmware,
        "fw_version": fw_version,
        "fw_build": fw_build,
        "hostname": host.hostname,
        "uuid": str(v4),
        "uuid_hik": uuid_hik,
        "ipv6_ll": ipv6_link_local(host.mac),
        "manufacturer": manufacturer,
        "boot_time": "2026-11-27 06:12:44",
        "year": "2026",
        "outside_ip": OUTSIDE_IP,
        "http_port": str(host.persona.spec.get("http", {}).get("port", 80)),
        "https_port": str(host.persona.spec.get("https", {}).get("port", 443)),
    }
