"""Scope guard: the targets an operator authorised, minus excludes. Nothing is sent outside it."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from scanner.errors import InputError

IPv4Net = ipaddress.IPv4Network
_PACK = struct.Struct("!I")
MAX_PREFIX_WITHOUT_FLAG = 16

_N = ipaddress.IPv4Network
# Never a target, whatever the flags: nothing of an operator's site lives there and a probe can only
# reach this machine, a cloud's instance metadata service, or every host on a link at once.
FORBIDDEN: tuple[tuple[IPv4Net, str], ...] = (
    (_N("0.0.0.0/8"), "unspecified space (\"this network\", RFC 1122)"),
    (_N("127.0.0.0/8"), "loopback: this machine itself"),
    (_N("169.254.169.254/32"), "the cloud instance metadata address"),
    (_N("169.254.170.2/32"), "a cloud container credentials address (AWS ECS task metadata)"),
    (_N("224.0.0.0/4"), "multicast, not a unicast host range"),
    (_N("240.0.0.0/4"), "reserved space (RFC 1112) with the limited broadcast address"),
)
LINK_LOCAL = _N("169.254.0.0/16")   # RFC 3927: where cameras that found no DHCP server may sit
FORBIDDEN_NOTE = "camscan never scans it (no flag allows it)"


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


def check_target(n: IPv4Net, *, allow_large: bool = False, allow_public: bool = False,
                 allow_link_local: bool = False) -> None:
    """InputError when n may not be scanned: forbidden space, or large/public/link-local without its flag."""
    for f, why in FORBIDDEN:
        if not n.overlaps(f):
            continue
        if f.subnet_of(LINK_LOCAL) and f != n and f.subnet_of(n):
            continue   # a metadata address inside a wider link-local target is excluded (Scope.build)
        where = "is" if n == f else f"is inside {f}," if n.subnet_of(f) else f"includes {f},"
        raise InputError(f"target {n} {where} {why}; {FORBIDDEN_NOTE}")
    if n.prefixlen < MAX_PREFIX_WITHOUT_FLAG and not allow_large:
        raise InputError(f"target {n} is larger than a /{MAX_PREFIX_WITHOUT_FLAG}; "
                         "pass --allow-large if you are authorised to scan it")
    if n.overlaps(LINK_LOCAL) and not allow_link_local:
        raise InputError(f"target {n} is link-local address space ({LINK_LOCAL}); pass --allow-link-local "
                         "if devices there fell back to self-assigned addresses and you are authorised "
                         "to scan them (the cloud metadata address is never scanned)")
    if (n.is_global or n.network_address.is_global or n.broadcast_address.is_global) and not allow_public:
        raise InputError(f"target {n} is public address space; pass --allow-public "
                         "if you are authorised to scan it")


def edge_addresses(targets: Iterable[IPv4Net], cidrs: Iterable[IPv4Net],
                   links: Iterable[IPv4Net]) -> frozenset[ipaddress.IPv4Address]:
    """Network and broadcast addresses among targets: those of each link (the scanner's own subnets);
    for CIDR targets on no link, whose prefix we cannot know, those of each block they collapse to."""
    links = [lk for lk in links if lk.prefixlen < 31]
    nets = list(ipaddress.collapse_addresses(targets))
    out: set[ipaddress.IPv4Address] = set()
    for lk in links:
        if any(lk.overlaps(n) for n in nets):
            out |= {lk.network_address, lk.broadcast_address}
    for n in ipaddress.collapse_addresses(cidrs):
        if n.prefixlen < 31 and not any(n.subnet_of(lk) for lk in links):
            out |= {n.network_address, n.broadcast_address}
    return frozenset(a for a in out if any(a in n for n in nets))


@dataclass(frozen=True, slots=True)
class Scope:
    """Allowed networks minus excluded ones; `allows(ip)` is the one check every sender makes."""

    targets: tuple[IPv4Net, ...]
    excludes: tuple[IPv4Net, ...] = ()
    edges: frozenset[ipaddress.IPv4Address] = frozenset()  # network/broadcast addresses (edge_addresses)
    _spans: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] = field(
        default=((), ()), init=False, repr=False, compare=False)   # (targets, excludes) as integer bounds

    def __post_init__(self) -> None:
        spans = tuple(tuple((int(n.network_address), int(n.broadcast_address)) for n in ns)
                      for ns in (self.targets, self.excludes))
        object.__setattr__(self, "_spans", spans)

    @classmethod
    def build(cls, targets: Iterable[str], excludes: Iterable[str] = (), *, allow_large: bool = False,
              allow_public: bool = False, allow_link_local: bool = False,
              links: Iterable[IPv4Net] = ()) -> Scope:
        """Parse and check targets/excludes (InputError names the first problem); links are the
        scanner's own subnets, whose network/broadcast addresses are never probed."""
        targets = list(targets)
        nets: list[IPv4Net] = []
        for t in targets:
            nets.extend(parse_target(t))
        if not nets:
            raise InputError("no targets given")
        ex: list[IPv4Net] = []
        for e in excludes:
            ex.extend(parse_target(e))
        for n in nets:
            check_target(n, allow_large=allow_large, allow_public=allow_public, allow_link_local=allow_link_local)
        # forbidden addresses inside a wider target that is itself allowed (the metadata address)
        ex.extend(f for f, _ in FORBIDDEN if any(f.overlaps(n) for n in nets))
        cidr_nets = [n for t in targets if "-" not in t for n in parse_target(t)]
        return cls(tuple(ipaddress.collapse_addresses(nets)), tuple(ipaddress.collapse_addresses(ex)),
                   edge_addresses(nets, cidr_nets, links))

    def allows(self, ip: str) -> bool:
        """True when ip (a dotted-quad IPv4 address, as ipaddress.IPv4Address reads one) is inside a target and
        outside every exclude; anything else is False."""
        try:
            packed = socket.inet_aton(ip)
        except (OSError, TypeError, ValueError):
            return False
        # inet_aton also reads '10.1', '0x0a.0.0.1', '010.0.0.1' and trailing junk: only the canonical form
        # (what inet_ntoa writes back) is the address ipaddress would read; every other string is refused
        if socket.inet_ntoa(packed) != ip:
            return False
        return self.allows_int(_PACK.unpack(packed)[0])

    def allows_int(self, a: int) -> bool:
        """allows() for an IPv4 address given as its integer value (a sweep's per-address check)."""
        targets, excludes = self._spans
        for lo, hi in targets:
            if lo <= a <= hi:
                break
        else:
            return False
        return not any(lo <= a <= hi for lo, hi in excludes)

    def host_ints(self, within: IPv4Net | None = None) -> Iterator[int]:
        """hosts() as integers, in the same order; only those inside WITHIN when given."""
        edges = {int(a) for a in self.edges}
        w_lo, w_hi = (int(within.network_address), int(within.broadcast_address)) if within else (0, 2**32 - 1)
        for n in self.targets:
            lo, hi = max(w_lo, int(n.network_address)), min(w_hi, int(n.broadcast_address))
            cuts = sorted((max(lo, e_lo), min(hi, e_hi)) for e_lo, e_hi in self._spans[1])
            for c_lo, c_hi in [*((a, b) for a, b in cuts if a <= b), (hi + 1, hi + 1)]:
                yield from (a for a in range(lo, c_lo) if a not in edges)
                lo = max(lo, c_hi + 1)

    def hosts(self) -> Iterator[str]:
        """Every address in scope, less the network/broadcast addresses of its links (edge_addresses)."""
        pack = _PACK.pack
        for a in self.host_ints():
            yield socket.inet_ntoa(pack(a))

    def size(self) -> int:
        """Number of addresses hosts() yields (counted from the ranges, not one by one)."""
        total = sum(n.num_addresses - sum(min(n.num_addresses, e.num_addresses)
                                          for e in self.excludes if e.overlaps(n))
                    for n in self.targets)
        return total - sum(1 for a in self.edges if self.allows_int(int(a)))
