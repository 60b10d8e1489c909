"""Naming and state of lab instances (pure; no privileges needed), and the ARP flood filter on the scanner's
bridge port (its program pure; what it does on a lab, root)."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from scanner.discovery import arp
from scanner.errors import InputError
from scanner.lab import profiles, topology
from scanner.lab import state as lab_state
from scanner.lab.personas import load_personas
from tests.lab.conftest import Lab, running_lab


def test_every_name_starts_with_camscan_and_fits_an_interface_name() -> None:
    assert topology.bridge_ns("lab") == "camscan-lab-br"
    assert topology.scanner_ns("lab") == "camscan-lab-scan"
    assert topology.host_ns("lab", 12) == "camscan-lab-h12"
    for name in (topology.BRIDGE, topology.SCAN_PORT, topology.HOST_IF, topology.host_port(999_999)):
        assert name.startswith("camscan-") and len(name) <= topology.IFNAMSIZ
    with pytest.raises(topology.TopologyError):
        topology.host_port(1_000_000)


@pytest.mark.parametrize("bad", ["", "Lab", "a b", "../x", "-x", "x" * 33, "lab/1"])
def test_bad_instance_names_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match="invalid lab instance name"):
        topology.check_instance(bad)


def test_an_instance_claims_only_its_own_namespaces() -> None:
    names = ["camscan-lab-br", "camscan-lab-scan", "camscan-lab-h1", "camscan-lab-h250",
             "camscan-lab-x-h1", "camscan-labx-br", "camscan-lab-hx", "other-lab-h1", "camscan-lab-br2"]
    assert topology.instance_namespaces("lab", names) == names[:4]
    assert topology.instance_namespaces("lab-x", names) == ["camscan-lab-x-h1"]


def test_state_round_trips_and_truth_lists_hosts_in_address_order() -> None:
    personas = load_personas()
    prof = profiles.get_profile("small")
    net = ipaddress.IPv4Network(prof.subnet)
    hosts = profiles.plan(prof, 3, net, "198.18.0.1", personas)
    st = lab_state.LabState("t", "small", 3, str(net), "198.18.0.1", tuple(hosts), len(hosts) + 1)
    assert lab_state.LabState.from_json(st.to_json()) == st
    doc = lab_state.truth(st, personas)
    ips = [ipaddress.IPv4Address(d["ip"]) for d in doc["devices"]]
    assert ips == sorted(ips)
    assert doc["scanner_ip"] == "198.18.0.1" and doc["profile"] == "small"


# --- the ARP flood filter ---------------------------------------------------------------------------------------

def _run_cbpf(prog: list[tuple[int, int, int, int]], frame: bytes) -> int:
    """Classic BPF, the few opcodes the filter uses (loads are big-endian, as the kernel's)."""
    a = x = pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == 0x28:
            a = int.from_bytes(frame[k:k + 2], "big")
        elif code == 0x20:
            a = int.from_bytes(frame[k:k + 4], "big")
        elif code == 0x07:
            x = a
        elif code == 0x87:
            a = x
        elif code in (0x15, 0x1D):
            pc += jt if a == (k if code == 0x15 else x) else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"opcode {code:#x} not expected")


def _verdict(progs: list[list[tuple[int, int, int, int]]], frame: bytes) -> str:
    """What the chain of filters does with FRAME, as tc runs them in priority order."""
    for prog in progs:
        r = _run_cbpf(prog, frame)
        if r != 0xFFFFFFFF:
            return {0: "pass", 2: "drop"}[r]
    return "pass"


MAC = bytes.fromhex("02163e000001")


def _who_has(target: str, sender: str = "198.18.0.1") -> bytes:
    return arp.build_probe(MAC, sender, target)


@pytest.mark.parametrize("n_hosts", [0, 3, topology.ARP_FILTER_CHUNK + 5])
def test_arp_filter_passes_who_has_only_for_lab_addresses(n_hosts: int) -> None:
    net = ipaddress.IPv4Network("198.18.0.0/16")
    hosts = [str(net.network_address + 2 + 7 * i) for i in range(n_hosts)]
    progs = topology.arp_filter_programs(hosts)
    assert all(len(p) <= 4096 for p in progs)
    for ip in hosts[:3] + hosts[-3:]:
        assert _verdict(progs, _who_has(ip)) == "pass"
    unused = [str(net.network_address + 3 + 7 * i) for i in range(5)] + ["198.18.255.254"]
    for ip in unused:
        assert _verdict(progs, _who_has(ip)) == "drop"
    assert _verdict(progs, _who_has("198.18.0.1")) == "pass"            # gratuitous: sender == target
    reply = bytearray(_who_has(unused[0]))
    reply[21] = 2                                                       # an is-at passes whatever it says
    assert _verdict(progs, bytes(reply)) == "pass"
    ipv4 = bytearray(_who_has(unused[0]))
    ipv4[12:14] = b"\x08\x00"                                           # not ARP at all
    assert _verdict(progs, bytes(ipv4)) == "pass"


SEND_WHO_HAS = """
import json, socket, sys, time
from scanner.discovery import arp
ip, count = sys.argv[1], int(sys.argv[2])
((iface, own, _),) = [lk for lk in arp.local_links() if lk[0] == "camscan-eth0"]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(arp.ETH_P_ARP))
s.bind((iface, arp.ETH_P_ARP))
s.settimeout(0.2)
for _ in range(count):
    s.send(arp.build_probe(arp._hwaddr(iface), own, ip))
answers, end = 0, time.monotonic() + 1.5
while time.monotonic() < end:
    try:
        f = s.recv(2048)
    except TimeoutError:
        continue
    if arp.is_reply(f) and arp.parse_reply(f).ip == ip:
        answers += 1
print(json.dumps({"answers": answers}))
"""


def _who_has_from_scanner(lab: Lab, ip: str, count: int) -> int:
    """Send COUNT who-has for IP from the lab's scanner interface; the is-at replies that came back."""
    out = lab.exec(sys.executable, "-c", SEND_WHO_HAS, ip, str(count)).stdout
    return int(json.loads(out.strip().splitlines()[-1])["answers"])


def _unused(truth: dict[str, Any]) -> str:
    taken = {d["ip"] for d in truth["devices"]} | {truth["scanner_ip"]}
    net = ipaddress.IPv4Network(truth["subnet"])
    return next(str(a) for a in reversed(list(net.hosts())) if str(a) not in taken)


def _arp_scan(lab: Lab, tmp: Path) -> dict[str, str]:
    """ip -> MAC of every host `camscan scan --modules arp` finds on the lab's subnet."""
    subnet = lab.truth()["subnet"]
    lab.exec(sys.executable, "-m", "scanner", "scan", subnet, "--modules", "arp", "--no-store", "-q",
             "--out", str(tmp), timeout=300)
    inv = json.loads((tmp / "inventory.json").read_text())
    return {d["ip"]: d["mac"] for d in inv["devices"]}


@pytest.mark.lab
def test_arp_filter_drops_who_has_for_an_unused_address_and_passes_the_hosts(lab_small: Lab) -> None:
    truth = lab_small.truth()
    assert topology.arp_filter_on(lab_small.instance)
    before = topology.arp_filter_dropped(lab_small.instance)
    assert _who_has_from_scanner(lab_small, _unused(truth), 25) == 0
    assert topology.arp_filter_dropped(lab_small.instance) - before >= 25
    host = truth["devices"][0]["ip"]
    assert _who_has_from_scanner(lab_small, host, 1) >= 1


@pytest.mark.lab
def test_every_host_of_hostile_is_found_with_the_filter_after_hosts_are_added_moved_and_removed(
        tmp_path: Path) -> None:
    with running_lab("af", "--profile", "hostile", "--seed", "5") as lab:
        assert topology.arp_filter_on(lab.instance)
        assert _arp_scan(lab, tmp_path / "a") == {d["ip"]: d["mac"] for d in lab.truth()["devices"]}
        out = lab.camscan("lab", "mutate", "--add", "2", "--move", "2", "--remove", "1").stdout
        assert sum(line.startswith("moved ") for line in out.splitlines()) == 2
        truth = lab.truth()
        assert _arp_scan(lab, tmp_path / "b") == {d["ip"]: d["mac"] for d in truth["devices"]}
        gone = [line.split()[1] for line in out.splitlines() if line.startswith(("moved ", "removed "))]
        before = topology.arp_filter_dropped(lab.instance)
        assert _who_has_from_scanner(lab, gone[0], 5) == 0   # an address nobody holds any more is filtered
        assert topology.arp_filter_dropped(lab.instance) - before >= 5


@pytest.mark.lab
def test_no_arp_filter_floods_every_who_has(tmp_path: Path) -> None:
    with running_lab("nf", "--profile", "small", "--seed", "6", "--no-arp-filter") as lab:
        assert not topology.arp_filter_on(lab.instance)
        assert _who_has_from_scanner(lab, _unused(lab.truth()), 5) == 0
        assert topology.arp_filter_dropped(lab.instance) == 0
        assert _arp_scan(lab, tmp_path) == {d["ip"]: d["mac"] for d in lab.truth()["devices"]}
