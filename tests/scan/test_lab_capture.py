"""On the wire: a scan with a target list, excludes and rogue responders sends no unicast packet to any address
outside targets-minus-excludes (tcpdump on the scanner's interface, read back with scapy)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.lab import topology
from tests.lab.conftest import REPO, running_lab

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump (make test installs it)")]
CREDS = str(REPO / "examples" / "lab-credentials.yaml")


def _allowed(targets: list[str], excludes: list[str], link: ipaddress.IPv4Network) -> set[ipaddress.IPv4Address]:
    """Targets minus excludes; only the link's own network and broadcast addresses are never hosts."""
    out: set[ipaddress.IPv4Address] = set()
    for t in targets:
        out |= set(ipaddress.IPv4Network(t))
    return out - {ipaddress.IPv4Address(x) for x in excludes} - {link.network_address, link.broadcast_address}


def test_no_unicast_packet_leaves_for_an_address_outside_the_scope(tmp_path: Path) -> None:
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP
    from scapy.utils import rdpcap

    pcap = tmp_path / "scan.pcap"
    with running_lab("cap", "--profile", "hostile", "--seed", "4") as lab:
        truth = lab.truth()
        net = ipaddress.IPv4Network(truth["subnet"])
        scanner_ip = ipaddress.IPv4Address(truth["scanner_ip"])
        live = sorted(ipaddress.IPv4Address(d["ip"]) for d in truth["devices"])
        low = [ip for ip in live if int(ip) - int(net.network_address) < 128]
        high = [ip for ip in live if int(ip) - int(net.network_address) >= 128]
        assert len(low) > 4 and high, "the hostile profile should spread over the subnet"
        targets = [str(ipaddress.IPv4Network((int(net.network_address), 25))), f"{high[0]}/32"]
        excludes = [str(low[1]), str(low[3])]
        cap = subprocess.Popen(["ip", "netns", "exec", topology.scanner_ns(lab.instance), "tcpdump", "-i",
                                topology.HOST_IF, "-n", "-U", "-w", str(pcap)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)
            args = [sys.executable, "-m", "scanner", "scan", *targets, "--no-store", "--out", str(tmp_path / "o"),
                    "--credentials", CREDS]
            for x in excludes:
                args += ["--exclude", x]
            lab.exec(*args, timeout=300)
            time.sleep(1.5)   # late replies the kernel might still answer
        finally:
            cap.terminate()
            cap.wait(10)
    allowed = _allowed(targets, excludes, net)
    packets = rdpcap(str(pcap))
    sent = [p for p in packets if IP in p and ipaddress.IPv4Address(p[IP].src) == scanner_ip]
    assert len(sent) > 100, "the capture saw the scan"
    stray = sorted({p[IP].dst for p in sent
                    if not (ipaddress.IPv4Address(p[IP].dst).is_multicast or p[IP].dst == "255.255.255.255"
                            or ipaddress.IPv4Address(p[IP].dst) == net.broadcast_address)
                    and ipaddress.IPv4Address(p[IP].dst) not in allowed})
    assert stray == [], f"unicast packets to addresses outside targets-minus-excludes: {stray}"
    asked = {p[ARP].pdst for p in packets
             if ARP in p and p[ARP].op == 1 and ipaddress.IPv4Address(p[ARP].psrc) == scanner_ip}
    assert asked, "the ARP sweep ran"
    assert sorted(a for a in asked if ipaddress.IPv4Address(a) not in allowed) == []
    contacted = {ipaddress.IPv4Address(p[IP].dst) for p in sent}
    assert not contacted & {ipaddress.IPv4Address(x) for x in excludes}, "an excluded host was contacted"
