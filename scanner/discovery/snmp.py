"""SNMP GET of the system group with the operator's communities (phase 2, per host, UDP 161).

Protocol: SNMPv2c (RFC 3416) GetRequest via pysnmp 7's community-only dispatcher (`pysnmp.hlapi.v1arch`; the
v3arch engine configured a target in its MIB tables per host, ~6x the CPU for the same answers),
for sysDescr.0, sysObjectID.0 and sysName.0 (RFC 3418). Only communities the operator configured
are used, one after another until one answers; none configured means nothing is sent. A few
enterprise OIDs some recorders and cameras expose are read in a second GET and kept in the host's
hints (the vocabulary has no signal for them). Facts: shared/docs/protocols.md section 8.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from scanner.discovery import probes
from scanner.discovery.base import DecodeError, HostModule, ScanContext
from scanner.models import Observation

SNMP_PORT = 161
TIMEOUT = 1.0
MAX_VALUE_CHARS = 1024
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ufffd]")   # where an identifier object's text ends (to_observations)
HOST_CONCURRENCY = 128

#: System group objects and the signal each becomes (RFC 3418 SNMPv2-MIB).
SYSTEM_OIDS: dict[str, str] = {
    "1.3.6.1.2.1.1.1.0": "snmp.sysdescr",
    "1.3.6.1.2.1.1.2.0": "snmp.sysobjectid",
    "1.3.6.1.2.1.1.5.0": "snmp.sysname",
}

#: Enterprise objects that hold a device's model, firmware or serial, and the signal each becomes: DATA in
#: fingerprints/probes.yaml (snmp_objects), each with why and its source.
ENTERPRISE_OIDS: dict[str, str] = dict(probes.load().snmp_objects)

class SnmpDecodeError(DecodeError):
    """A response's var-binds could not be rendered."""


def render_value(value: Any) -> str | None:
    """A pysnmp value as text: OIDs dotted, octet strings UTF-8 (bad bytes replaced); None if absent."""
    from pyasn1.type import univ
    from pysnmp.proto import rfc1905

    if hasattr(value, "get_oid"):      # a MIB-resolved ObjectIdentity
        value = value.get_oid()
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView | univ.Null):
        return None
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(str(x) for x in tuple(value))
    if isinstance(value, univ.OctetString):
        raw: bytes = value.asOctets()
        return raw.decode("utf-8", errors="replace").replace("\x00", "").strip()[:MAX_VALUE_CHARS]
    return str(value.prettyPrint())[:MAX_VALUE_CHARS]


def parse_reply(var_binds: Iterable[Any]) -> dict[str, str]:
    """OID -> text for the objects present in a response's var-binds; raises SnmpDecodeError only."""
    out: dict[str, str] = {}
    try:
        for vb in var_binds:
            oid, value = vb[0], vb[1]
            if hasattr(oid, "get_oid"):
                oid = oid.get_oid()
            text = render_value(value)
            if text is not None:
                out[".".join(str(x) for x in tuple(oid))] = text
    except Exception as e:   # pyasn1 raises its own PyAsn1Error family besides the built-in ones
        raise SnmpDecodeError(f"bad var-bind: {type(e).__name__}: {str(e)[:200]}") from None
    return out


def to_observations(values: dict[str, str], ip: str, mac: str | None) -> list[Observation]:
    """One observation per system-group or enterprise object that came back non-empty; an enterprise object (a
    model, firmware or serial: one line) ends at its first unprintable character; an snmp.object is OID=value."""
    now = time.time()
    got = [(signal, values.get(oid, "")) for oid, signal in SYSTEM_OIDS.items()]
    # some agents return such strings with trailing binary garbage (no NUL-termination; probes.yaml's source for
    # the product-name object)
    for oid, signal in ENTERPRISE_OIDS.items():
        value = _UNPRINTABLE.split(values.get(oid, ""), 1)[0].strip()
        # a code or name (a kind code such as 2, a maker's name) means something only beside its object's OID
        got.append((signal, f"{oid}={value}" if value and signal == "snmp.object" else value))
    return [Observation(signal, value, ip=ip, mac=mac, port=SNMP_PORT, source="snmp", at=now)
            for signal, value in got if value]



class SnmpError(Exception):
    """No answer (timeout / transport) or an agent error status."""


class Snmp(HostModule):
    """GET sysDescr/sysObjectID/sysName from each live host with the configured communities."""

    name: ClassVar[str] = "snmp"
    signals: ClassVar[frozenset[str]] = frozenset((*SYSTEM_OIDS.values(), *ENTERPRISE_OIDS.values()))
    per_link: ClassVar[bool] = False
    needs_raw: ClassVar[bool] = False
    phase: ClassVar[int] = 2

    concurrency: ClassVar[int] = HOST_CONCURRENCY

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._engine: Any = None

    async def _get(self, engine: Any, ip: str, community: str, oids: Sequence[str]) -> dict[str, str]:
        from pyasn1.type.univ import Null
        from pysnmp.hlapi.v1arch.asyncio import CommunityData, UdpTransportTarget, get_cmd
        from pysnmp.proto.rfc1902 import ObjectName
        target = await UdpTransportTarget.create((ip, SNMP_PORT), timeout=self.timeout, retries=0)
        err_ind, err_stat, err_idx, var_binds = await get_cmd(   # raw OIDs: no MIB work per reply
            engine, CommunityData(community, mpModel=1), target, *((ObjectName(o), Null("")) for o in oids))
        if err_ind:
            raise SnmpError(str(err_ind))
        if err_stat:
            raise SnmpError(f"agent error {err_stat.prettyPrint()} at {err_idx}")
        return parse_reply(var_binds)

    async def _host(self, ctx: ScanContext, engine: Any, ip: str) -> list[Observation]:
        last = ""
        for community in ctx.snmp_communities:
            if not ctx.scope.allows(ip):
                return []
            await ctx.rate.wait()
            ctx.stats.count("snmp.requests")
            try:
                values = await self._get(engine, ip, community, list(SYSTEM_OIDS))
            except SnmpError as e:
                last = str(e)
                continue
            except DecodeError as e:
                ctx.stats.error(self.name, ip, str(e))
                return []
            ctx.stats.count("snmp.answered")
            with contextlib.suppress(SnmpError, DecodeError):   # most agents have none of them
                values.update(await self._get(engine, ip, community, list(ENTERPRISE_OIDS)) or {})
            return to_observations(values, ip, ctx.host(ip).mac)
        if last and "timeout" not in last.lower():
            ctx.stats.error(self.name, ip, last)   # a timeout only means no agent / wrong community
        return []

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        """Every live in-scope host, when a community is configured (none: nothing is sent)."""
        return bool(ctx.snmp_communities) and ctx.scope.allows(ip)

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        """The system group of ip, with the first community that answers."""
        if self._engine is None:
            from pysnmp.hlapi.v1arch.asyncio import SnmpDispatcher
            self._engine = SnmpDispatcher()
        return await self._host(ctx, self._engine, ip)

    async def finish(self, ctx: ScanContext) -> None:
        """Close the SNMP dispatcher."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None


MODULE = Snmp
