"""Scope guard: the targets an operator authorised, minus excludes. Nothing is sent outside it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanner.errors import InputError

IPv4Net = ipaddress.IPv4Network
MAX_PREFIX_WITHOUT_FLAG = 16


def parse_target(text: str) -> list[IPv4Net]:
    """CIDR, a-b range (full or last-octet) or single IPv4 address -> networks; InputError if malformed."""
    t = text.strip()
    if not t:
        raise InputError("empty target")
    try:
        if "-" in t:
            a, b = (p.strip() for p in t.split("-", 1))
            start = ipaddress.IPv4Address(a)
            end = ipaddress.IPv4Address(b) if "." in b else ipaddress.IPv4Address(
                ".".join([*a.split(".")[:3], b]))
            if end < start:
                raise InputError(f"target range {text!r}: end is before start")
            return list(ipaddress.summarize_address_range(start, end))
        return [ipaddress.IPv4Network(t, strict=False)]
    except (ValueError, ipaddress.AddressValueError) as e:
        raise InputError(f"bad target {text!r}: {e}") from None


@dataclass(frozen=True, slots=True)
class Scope:
    """Allowed networks minus excluded ones; `allows(ip)` is the one check every sender makes."""

    targets: tuple[IPv4Net, ...]
    excludes: tuple[IPv4Net, ...] = ()
    edges: frozenset[ipaddress.IPv4Address] = frozenset()  # network/broadcast addresses of given CIDRs

    @classmethod
    def build(cls, targets: Iterable[str], excludes: Iterable[str] = (), *,
              allow_large: bool = False, allow_public: bool = False) -> Scope:
        """Parse and check targets/excludes; InputError names the first problem."""
        nets: list[IPv4Net] = []
        edges: set[ipaddress.IPv4Address] = set()
        for t in targets:
            parsed = parse_target(t)
            nets.extend(parsed)
            if "-" not in t:
                for n in parsed:
                    if n.prefixlen < 31:
                        edges |= {n.network_address, n.broadcast_address}
        if not nets:
            raise InputError("no targets given")
        ex: list[IPv4Net] = []
        for e in excludes:
            ex.extend(parse_target(e))
        for n in nets:
            if n.prefixlen < MAX_PREFIX_WITHOUT_FLAG and not allow_large:
                raise InputError(f"target {n} is larger than a /{MAX_PREFIX_WITHOUT_FLAG}; "
                                 "pass --allow-large if you are authorised to scan it")
            if n.is_multicast or n.is_unspecified or (n.network_address.is_reserved and not n.is_private):
                raise InputError(f"target {n} is not a unicast host range")
            if n.is_global and not allow_public:
                raise InputError(f"target {n} is public address space; pass --allow-public "
                                 "if you are authorised to scan it")
        return cls(tuple(ipaddress.collapse_addresses(nets)), tuple(ipaddress.collapse_addresses(ex)),
                   frozenset(edges))

    def allows(self, ip: str) -> bool:
        """True when ip is inside a target and outside every exclude."""
        try:
            a = ipaddress.IPv4Address(ip)
        except ValueError:
            return False
        return any(a in n for n in self.targets) and not any(a in n for n in self.excludes)

    def hosts(self) -> Iterator[str]:
        """Every address in scope, less the network/broadcast addresses of CIDRs larger than /31."""
        for n in self.targets:
            for a in n:
                if a not in self.edges and not any(a in e for e in self.excludes):
                    yield str(a)

    def size(self) -> int:
        """Number of addresses hosts() yields."""
        return sum(1 for _ in self.hosts())
