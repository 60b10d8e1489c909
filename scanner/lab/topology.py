"""Lab topology with iproute2: a bridge namespace, a scanner namespace and one namespace per host.

Every lab instance lives entirely in namespaces named `camscan-<instance>-...`; nothing is attached to
the root namespace. Each host and the scanner are joined to a Linux bridge (in the bridge namespace)
by a veth pair; the peer inside the host is called `camscan-eth0`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from scanner import caps
from scanner.errors import CamscanError, InputError, PrivilegeError

PREFIX = "camscan-"
BRIDGE = "camscan-br"          # the bridge device, inside the bridge namespace
SCAN_PORT = "camscan-scan"     # bridge-side veth of the scanner
HOST_IF = "camscan-eth0"       # the interface name inside every host and the scanner namespace
SAFE_RANGE = ipaddress.IPv4Network("198.18.0.0/15")  # RFC 2544 benchmarking range
MULTICAST = "224.0.0.0/4"
LIMITED_BROADCAST = "255.255.255.255/32"
IFNAMSIZ = 15
INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class TopologyError(CamscanError):
    """An iproute2 command failed while building or removing the lab (message holds its stderr)."""


@dataclass(frozen=True, slots=True)
class HostLink:
    """What the topology needs to know about one host: its index, namespace, address and MAC."""

    index: int
    ip: str
    mac: str


def check_instance(name: str) -> str:
    """Return NAME if it is a valid lab instance name (lower-case letters, digits, '-'), else raise."""
    if not INSTANCE_RE.match(name):
        raise InputError(f"invalid lab instance name {name!r}: use 1-32 of a-z, 0-9, '-'")
    return name


def bridge_ns(instance: str) -> str:
    """Name of the namespace holding the instance's bridge."""
    return f"{PREFIX}{instance}-br"


def scanner_ns(instance: str) -> str:
    """Name of the namespace the scanner runs in (`camscan lab exec`)."""
    return f"{PREFIX}{instance}-scan"


def host_ns(instance: str, index: int) -> str:
    """Name of the namespace of host number INDEX."""
    return f"{PREFIX}{instance}-h{index}"


def host_port(index: int) -> str:
    """Bridge-side veth name of host INDEX (unique inside the bridge namespace, <= 15 chars)."""
    name = f"{PREFIX}h{index}"
    if len(name) > IFNAMSIZ:
        raise TopologyError(f"host index {index} too large for an interface name")
    return name


def instance_namespaces(instance: str, names: Iterable[str]) -> list[str]:
    """The namespaces among NAMES that belong to INSTANCE (exact pattern, not a bare prefix)."""
    pat = re.compile(rf"^{re.escape(PREFIX + instance)}-(br|scan|h\d+)$")
    return [n for n in names if pat.match(n)]


def list_namespaces() -> list[str]:
    """Every named network namespace (`ip netns list`)."""
    out = _run(["ip", "-j", "netns", "list"], check=False)
    if not out.strip():
        return []
    return [str(e["name"]) for e in json.loads(out)]


def has_privileges() -> bool:
    """True if this process may create network namespaces (root, or CAP_NET_ADMIN + CAP_SYS_ADMIN)."""
    return caps.has(caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN)


def require_privileges() -> None:
    """Raise PrivilegeError with a one-line explanation unless the lab can be built."""
    if not has_privileges():
        raise PrivilegeError("camscan lab needs root or CAP_NET_ADMIN+CAP_SYS_ADMIN to create "
                             "network namespaces; run it with sudo")


def root_routes() -> list[ipaddress.IPv4Network]:
    """IPv4 destinations routed in the root namespace (all tables), without default routes."""
    out = _run(["ip", "-4", "-j", "route", "show", "table", "all"], check=False)
    nets: list[ipaddress.IPv4Network] = []
    for r in json.loads(out or "[]"):
        dst = str(r.get("dst", ""))
        if not dst or dst == "default":
            continue
        try:
            nets.append(ipaddress.IPv4Network(dst, strict=False))
        except ValueError:
            continue
    return nets


def check_subnet(cidr: str, needed: int, routes: Sequence[ipaddress.IPv4Network] | None = None
                 ) -> ipaddress.IPv4Network:
    """Validate a lab subnet: inside 198.18.0.0/15, or overlapping no root-namespace route; room for
    NEEDED hosts plus the scanner."""
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as e:
        raise InputError(f"invalid lab subnet {cidr!r}: {e}") from None
    if net.prefixlen > 30 or net.prefixlen < 8:
        raise InputError(f"lab subnet {net} must be between /8 and /30")
    if net.is_multicast or net.is_loopback or net.is_link_local or net.is_reserved:
        raise InputError(f"lab subnet {net} is not a unicast range")
    if not net.subnet_of(SAFE_RANGE):
        for r in root_routes() if routes is None else routes:
            if net.overlaps(r):
                raise InputError(f"lab subnet {net} overlaps route {r} of this machine; "
                                 f"use a subnet of {SAFE_RANGE}")
    if net.num_addresses - 3 < needed:
        raise InputError(f"lab subnet {net} has no room for {needed} hosts")
    return net


def _run(argv: Sequence[str], stdin: str | None = None, check: bool = True) -> str:
    """Run a command, returning stdout; raise TopologyError with its stderr on failure."""
    try:
        p = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise TopologyError(f"{argv[0]} not found: install iproute2") from None
    if check and p.returncode != 0:
        raise TopologyError(f"{' '.join(argv[:4])} failed: {p.stderr.strip()[:500]}")
    return p.stdout


def _batch(lines: Sequence[str], netns: str | None = None, force: bool = False) -> None:
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + (["-force"] if force else []) + ["-batch", "-"]
    _run(argv, stdin="\n".join(lines) + "\n", check=not force)


def _inner_config(ip: str, prefixlen: int, scanner: HostLink | None = None) -> list[str]:
    lines = [
        "link set lo up",
        f"link set {HOST_IF} up",
        f"addr add {ip}/{prefixlen} dev {HOST_IF}",
        # routes for multicast and the limited broadcast: there is no default route in a lab
        # namespace, and without these sends to 239.x or 255.255.255.255 fail "unreachable"
        f"route add {MULTICAST} dev {HOST_IF}",
        f"route add {LIMITED_BROADCAST} dev {HOST_IF}",
    ]
    if scanner is not None:
        # The kernel's ARP table is one for all namespaces and its size limit (gc_thresh3, 1024 by
        # default) is global; permanent entries do not count against it (Linux >= 4.19). With the
        # scanner's MAC pinned, hosts keep answering even when a sweep of a /16 fills the table.
        lines.append(f"neigh replace {scanner.ip} lladdr {scanner.mac} dev {HOST_IF} nud permanent")
    return lines


# --- the ARP flood filter -----------------------------------------------------------------------
# A real switch floods a broadcast in hardware and each host drops a who-has for an address it does not hold on
# its own CPU; in the lab the software bridge copies every who-has the scanner sends to every port, and each
# host namespace's ARP code reads it, inside the scanner's own send() (~400 us of kernel time per frame with
# 300 hosts). The filter is a classic BPF program on the ingress of the scanner's bridge port: a who-has for an
# address some lab host holds (or a gratuitous one) goes on to the bridge unchanged, any other who-has is dropped
# there, as if flooded to hosts that all ignore it. Every other frame passes untouched. Captures on the
# scanner's own interface still see every frame it sends.

ARP_FILTER_CHUNK = 2000        # addresses per program (a classic BPF program holds at most 4096 instructions)
_TC_ACT_OK, _TC_ACT_SHOT, _TC_ACT_UNSPEC = 0, 2, 0xFFFFFFFF
_LD_H_ABS, _LD_W_ABS, _TAX, _TXA, _RET_K = 0x28, 0x20, 0x07, 0x87, 0x06
_JEQ_K, _JEQ_X = 0x15, 0x1D


def arp_filter_programs(ips: Iterable[str]) -> list[list[tuple[int, int, int, int]]]:
    """Classic BPF programs (code, jt, jf, k) that together pass a who-has only for IPS: each passes those
    of its share of IPS and a gratuitous one (TC_ACT_OK), hands every frame that is no who-has on
    (TC_ACT_UNSPEC), and ends with UNSPEC, but the last with a drop (TC_ACT_SHOT)."""
    addrs = sorted({int(ipaddress.IPv4Address(ip)) for ip in ips})
    chunks = [addrs[i:i + ARP_FILTER_CHUNK] for i in range(0, len(addrs), ARP_FILTER_CHUNK)] or [[]]
    progs: list[list[tuple[int, int, int, int]]] = []
    for n, chunk in enumerate(chunks):
        prog = [
            (_LD_H_ABS, 0, 0, 12), (_JEQ_K, 1, 0, 0x0806), (_RET_K, 0, 0, _TC_ACT_UNSPEC),   # ethertype ARP
            (_LD_H_ABS, 0, 0, 20), (_JEQ_K, 1, 0, 1), (_RET_K, 0, 0, _TC_ACT_UNSPEC),        # op: request
            (_LD_W_ABS, 0, 0, 38), (_TAX, 0, 0, 0),                                          # target address
            (_LD_W_ABS, 0, 0, 28), (_JEQ_X, 0, 1, 0), (_RET_K, 0, 0, _TC_ACT_OK),            # gratuitous
            (_TXA, 0, 0, 0),
        ]
        for a in chunk:
            prog += [(_JEQ_K, 0, 1, a), (_RET_K, 0, 0, _TC_ACT_OK)]
        prog.append((_RET_K, 0, 0, _TC_ACT_SHOT if n == len(chunks) - 1 else _TC_ACT_UNSPEC))
        progs.append(prog)
    return progs


def _tc(instance: str, *args: str, check: bool = True) -> str:
    return _run(["tc", "-n", bridge_ns(instance), *args], check=check)


def arp_filter_on(instance: str) -> bool:
    """True when the instance's scanner port carries the ARP flood filter."""
    return "bpf" in _tc(instance, "filter", "show", "dev", SCAN_PORT, "ingress", check=False)


def set_arp_filter(instance: str, ips: Iterable[str]) -> None:
    """Install (or replace) the ARP flood filter so that exactly IPS (and gratuitous ARP) get the scanner's
    who-has frames; raises TopologyError."""
    progs = arp_filter_programs(ips)
    _tc(instance, "qdisc", "replace", "dev", SCAN_PORT, "clsact")
    for prio, prog in enumerate(progs, start=1):
        code = ",".join([str(len(prog))] + [f"{c} {jt} {jf} {k}" for c, jt, jf, k in prog])
        _tc(instance, "filter", "replace", "dev", SCAN_PORT, "ingress", "prio", str(prio), "handle", "1",
            "bpf", "da", "bytecode", code)
    out = _tc(instance, "-j", "filter", "show", "dev", SCAN_PORT, "ingress")
    for prio in sorted({int(f["pref"]) for f in json.loads(out or "[]")} - set(range(1, len(progs) + 1))):
        _tc(instance, "filter", "del", "dev", SCAN_PORT, "ingress", "prio", str(prio))


def update_arp_filter(instance: str, ips: Iterable[str]) -> bool:
    """If the filter is on, make IPS the addresses it passes (a host added, moved or removed); True if it is on."""
    if not arp_filter_on(instance):
        return False
    set_arp_filter(instance, ips)
    return True


def arp_filter_dropped(instance: str) -> int:
    """Frames the filter has dropped so far (the ingress qdisc's drop counter of the scanner's port)."""
    out = _tc(instance, "-s", "-j", "qdisc", "show", "dev", SCAN_PORT)
    return sum(int(q.get("drops", 0)) for q in json.loads(out or "[]") if q.get("kind") == "clsact")


def build(instance: str, scanner: HostLink, prefixlen: int, hosts: Sequence[HostLink],
          arp_filter: bool = True) -> None:
    """Create the bridge and scanner namespaces and attach HOSTS, with the ARP flood filter unless told not to
    (raises TopologyError)."""
    br, scan = bridge_ns(instance), scanner_ns(instance)
    _batch([f"netns add {br}", f"netns add {scan}"])
    _batch([
        "link set lo up",
        # no multicast snooping: every group datagram floods to every port, as on a dumb switch
        f"link add {BRIDGE} type bridge mcast_snooping 0",
        f"link set {BRIDGE} up",
        f"link add {SCAN_PORT} type veth peer name {HOST_IF} address {scanner.mac} netns {scan}",
        f"link set {SCAN_PORT} master {BRIDGE} up",
    ], netns=br)
    _batch(_inner_config(scanner.ip, prefixlen), netns=scan)
    if arp_filter:
        set_arp_filter(instance, [h.ip for h in hosts])
    add_hosts(instance, prefixlen, hosts, scanner)


def add_hosts(instance: str, prefixlen: int, hosts: Sequence[HostLink], scanner: HostLink) -> None:
    """Create a namespace per host, join it to the bridge and configure its address and MAC."""
    if not hosts:
        return
    br = bridge_ns(instance)
    _batch([f"netns add {host_ns(instance, h.index)}" for h in hosts])
    lines: list[str] = []
    for h in hosts:
        port = host_port(h.index)
        lines += [
            f"link add {port} type veth peer name {HOST_IF} address {h.mac} "
            f"netns {host_ns(instance, h.index)}",
            f"link set {port} master {BRIDGE} up",
        ]
    _batch(lines, netns=br)
    workers = min(16, (os.cpu_count() or 2) * 4)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(_batch, _inner_config(h.ip, prefixlen, scanner), host_ns(instance, h.index))
                  for h in hosts]:
            f.result()


def scanner_mac(instance: str) -> str:
    """The MAC of the scanner's interface (read from its namespace)."""
    out = _run(["ip", "-n", scanner_ns(instance), "-j", "link", "show", HOST_IF])
    return str(json.loads(out)[0]["address"])


def remove_hosts(instance: str, indexes: Iterable[int]) -> None:
    """Delete the namespaces of these hosts (their veth pairs go with them); missing ones are ignored."""
    _batch([f"netns del {host_ns(instance, i)}" for i in indexes], force=True)


def teardown(instance: str) -> list[str]:
    """Delete every namespace of INSTANCE; return the names removed (idempotent)."""
    names = instance_namespaces(instance, list_namespaces())
    # bridge first: deleting it destroys all veth pairs at once, which is faster than one by one
    names.sort(key=lambda n: (not n.endswith("-br"), n))
    _batch([f"netns del {n}" for n in names], force=True)
    left = instance_namespaces(instance, list_namespaces())
    if left:
        raise TopologyError(f"could not delete namespaces: {', '.join(left[:5])}")
    return names
