"""The lab machinery seen from outside: `camscan lab up/status/truth/exec/mutate/down` on real
namespaces, checked with independent tools (iproute2, scapy's ARP, net-snmp's snmpget)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.errors import InputError
from scanner.lab import state as lab_state
from scanner.lab import topology
from tests.lab.conftest import REPO, Lab, running_lab

TRUTH_KEYS = {"ip", "mac", "vendor", "brand", "model", "firmware", "category", "persona", "services",
              "hostile", "kind_visible"}
SMALL_PERSONAS = 26
ONVIF_PROBE = Path(__file__).with_name("onvif_probe.py")

ARP_SCRIPT = """
import json, sys
from scapy.all import ARP, Ether, conf, srp
conf.verb = 0
ans, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=sys.argv[1]), iface="camscan-eth0",
             timeout=3, retry=2)
print(json.dumps({r.psrc: r.hwsrc for _, r in ans}))
"""


def _namespaces(instance: str) -> list[str]:
    return topology.instance_namespaces(instance, topology.list_namespaces())


def _live_pids_mentioning(text: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line mentions TEXT."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            st = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in argv and st != "Z":
            out.append(int(d.name))
    return out


# --- without a lab ------------------------------------------------------------------------------

def test_unprivileged_up_is_refused_in_one_line() -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0:
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop root for this check")
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", sys.executable, "-m", "scanner", "lab", "up"]
    else:
        argv = [sys.executable, "-m", "scanner", "lab", "up"]
    env = {**os.environ, "CAMSCAN_LAB": "tnopriv", "PYTHONPATH": str(REPO)}
    p = subprocess.run(argv, env=env, cwd="/", text=True, capture_output=True, timeout=60)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "root or CAP_NET_ADMIN" in lines[0]
    assert not _namespaces("tnopriv")


def test_lab_tests_are_skipped_with_the_reason_when_unprivileged() -> None:
    if os.geteuid() != 0:
        pytest.skip("this very run is unprivileged: its own skips show the behaviour")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root for this check")
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", sys.executable, "-B", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
            "-m", "lab", "-k", "arp or snmpget", str(Path(__file__))]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run(argv, env=env, cwd=REPO, text=True, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 skipped" in p.stdout
    assert "needs root or CAP_NET_ADMIN to build network namespaces" in p.stdout


def test_subnet_outside_benchmark_range_must_not_overlap_routes() -> None:
    routes = [ipaddress.IPv4Network("10.1.0.0/16"), ipaddress.IPv4Network("192.168.1.0/24")]
    assert str(topology.check_subnet("198.19.4.0/24", 26, routes)) == "198.19.4.0/24"
    assert str(topology.check_subnet("10.2.0.0/24", 26, routes)) == "10.2.0.0/24"
    with pytest.raises(InputError, match=re.escape("overlaps route 10.1.0.0/16")):
        topology.check_subnet("10.1.5.0/24", 26, routes)
    with pytest.raises(InputError, match="no room"):
        topology.check_subnet("198.18.0.0/28", 26, routes)
    with pytest.raises(InputError, match="not a unicast range"):
        topology.check_subnet("239.1.0.0/16", 26, routes)


# --- the shared small lab ---------------------------------------------------------------------

@pytest.mark.lab
def test_small_truth_lists_every_persona_once_with_its_oui(lab_small: Lab) -> None:
    doc = lab_small.truth()
    assert set(doc) == {"profile", "subnet", "scanner_ip", "devices"}
    assert doc["profile"] == "small"
    net = ipaddress.IPv4Network(doc["subnet"])
    assert doc["scanner_ip"] == str(net.network_address + 1)
    devices = doc["devices"]
    assert len(devices) == SMALL_PERSONAS
    assert len({d["persona"] for d in devices}) == SMALL_PERSONAS
    personas = lab_state.load_personas()
    for d in devices:
        # a camera a recorder records says so (via); a recorder states its channel counts (issue 13)
        assert set(d) - {"via", "channels_stated", "channels_configured"} == TRUTH_KEYS
        assert ("channels_stated" in d) == (d["category"] == "nvr")
        p = personas[d["persona"]]
        assert ipaddress.IPv4Address(d["ip"]) in net
        assert d["mac"].upper().startswith(p.oui.upper() + ":"), d
        assert (d["vendor"], d["brand"], d["model"], d["category"]) == (p.vendor, p.brand, p.model,
                                                                         p.category)
        assert d["firmware"] == p.firmware
        assert d["services"] == list(p.services)
        assert d["hostile"] is False
        assert (d["vendor"] is None) == (d["category"] == "other")
    assert len({d["ip"] for d in devices}) == len({d["mac"] for d in devices}) == SMALL_PERSONAS


@pytest.mark.lab
def test_status_reports_up(lab_small: Lab) -> None:
    p = lab_small.camscan("lab", "status")
    assert "up, profile small" in p.stdout
    s = json.loads(lab_small.camscan("lab", "status", "--json").stdout)
    assert s["state"] == "up" and s["hosts"] == SMALL_PERSONAS and s["served"] == SMALL_PERSONAS


@pytest.mark.lab
def test_second_up_is_refused(lab_small: Lab) -> None:
    p = lab_small.camscan("lab", "up", check=False)
    assert p.returncode != 0
    assert "already up" in p.stderr


@pytest.mark.lab
def test_arp_from_scanner_namespace_sees_every_host_mac(lab_small: Lab) -> None:
    doc = lab_small.truth()
    p = lab_small.exec(sys.executable, "-c", ARP_SCRIPT, doc["subnet"])
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen == {d["ip"]: d["mac"] for d in doc["devices"]}


@pytest.mark.lab
def test_exec_runs_in_scanner_namespace_and_passes_exit_status(lab_small: Lab) -> None:
    doc = lab_small.truth()
    p = lab_small.exec("ip", "-4", "-o", "addr", "show", "dev", "camscan-eth0")
    assert f" {doc['scanner_ip']}/" in p.stdout
    # nothing outside the lab is reachable from the scanner namespace: only the lab subnet and
    # multicast are routed there
    routes = lab_small.exec("ip", "-4", "route").stdout
    assert "default" not in routes
    assert lab_small.exec("sh", "-c", "exit 7", check=False).returncode == 7
    piped = lab_small.camscan("lab", "exec", "--", "cat", input="through the scanner namespace\n")
    assert piped.stdout == "through the scanner namespace\n"


@pytest.mark.lab
def test_nothing_of_the_lab_is_in_the_root_namespace(lab_small: Lab) -> None:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert "camscan-" not in links
    assert set(_namespaces(lab_small.instance)) >= {topology.bridge_ns(lab_small.instance),
                                                    topology.scanner_ns(lab_small.instance)}


def _expected(lab: Lab) -> dict[str, dict[str, object]]:
    """What each host of LAB should answer (the persona facts rendered for it), by IP."""
    from scanner.lab.services import expected_answers

    st = lab_state.load(lab.instance)
    assert st is not None
    personas = lab_state.load_personas()
    return {h.ip: expected_answers(lab_state.lab_host(st, h, personas), st.seed) for h in st.hosts}


@pytest.mark.lab
@pytest.mark.skipif(shutil.which("snmpget") is None, reason="needs snmpget (Debian package snmp)")
def test_snmpget_returns_each_snmp_persona_sysdescr(lab_small: Lab) -> None:
    doc = lab_small.truth()
    expected = _expected(lab_small)
    snmp_hosts = [d for d in doc["devices"] if "snmp" in d["services"]]
    assert len(snmp_hosts) >= 3
    for d in snmp_hosts:
        p = lab_small.exec("snmpget", "-v2c", "-c", "public", "-On", "-Oqv", "-t", "2", "-r", "2",
                           d["ip"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0")
        descr, oid = p.stdout.strip().splitlines()
        assert descr.strip('"') == expected[d["ip"]]["snmp.sysdescr"], d["persona"]
        assert oid.lstrip(".") == str(expected[d["ip"]]["snmp.sysobjectid"]).lstrip("."), d["persona"]
    quiet = next(d for d in doc["devices"] if "snmp" not in d["services"])
    p = lab_small.exec("snmpget", "-v2c", "-c", "public", "-t", "1", "-r", "0", quiet["ip"],
                       "1.3.6.1.2.1.1.1.0", check=False)
    assert p.returncode != 0, "a host without SNMP answered SNMP"


# --- labs of their own ------------------------------------------------------------------------

@pytest.mark.lab
def test_mutate_changes_truth_and_what_hosts_answer() -> None:
    with running_lab("m", "--profile", "small", "--seed", "3") as lab:
        before = {d["ip"]: d for d in lab.truth()["devices"]}
        expected_before = _expected(lab)
        out = lab.camscan("lab", "mutate", "--add", "3", "--remove", "2", "--reflash", "3").stdout
        after = {d["ip"]: d for d in lab.truth()["devices"]}
        removed = set(before) - set(after)
        added = set(after) - set(before)
        flashed = {ip for ip in set(before) & set(after) if before[ip]["firmware"] != after[ip]["firmware"]}
        assert (len(removed), len(added), len(flashed)) == (2, 3, 3)
        for ip in removed | added:
            assert ip in out
        subnet = lab.truth()["subnet"]
        seen = json.loads(lab.exec(sys.executable, "-c", ARP_SCRIPT, subnet).stdout.strip().splitlines()[-1])
        assert seen == {ip: d["mac"] for ip, d in after.items()}
        expected = _expected(lab)
        checked = 0
        for ip in flashed:
            if "onvif" not in after[ip]["services"]:
                continue
            info = expected[ip]["onvif.device_information"]
            assert isinstance(info, dict)
            xaddrs = expected[ip].get("wsd.xaddrs") or [f"http://{ip}/onvif/device_service"]
            assert isinstance(xaddrs, list)
            fw = lab.exec(sys.executable, str(ONVIF_PROBE), str(xaddrs[0]), "admin", "camscan-lab").stdout
            assert fw.strip() == info["FirmwareVersion"]
            old = expected_before[ip]["onvif.device_information"]
            assert isinstance(old, dict) and fw.strip() != old["FirmwareVersion"]
            checked += 1
        assert checked >= 1
        s = json.loads(lab.camscan("lab", "status", "--json").stdout)
        assert s["state"] == "up" and s["served"] == len(after) and s["mutations"] == 1


@pytest.mark.lab
def test_down_leaves_nothing_behind_even_after_a_crash() -> None:
    with running_lab("d", "--profile", "small", "--seed", "5") as lab:
        paths = lab_state.paths(lab.instance)
        pid = lab_state.daemon_pid(lab.instance)
        assert pid is not None and _live_pids_mentioning(str(paths.root))
        # a crashed lab: the daemon dies, its snmpd children live on in the host namespaces
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert "broken" in lab.camscan("lab", "status", check=False).stdout
        p = lab.camscan("lab", "down")
        assert "removed" in p.stdout
        assert not _namespaces(lab.instance)
        assert not _live_pids_mentioning(str(paths.root))
        assert not _live_pids_mentioning(f"--instance {lab.instance}")
        assert not paths.root.exists()
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        assert "camscan-" not in links
        again = lab.camscan("lab", "down")
        assert "nothing was up" in again.stdout
        st = lab.camscan("lab", "status", check=False)
        assert st.returncode == 1 and "down" in st.stdout


RECEIVER = """
import socket, struct, sys
group, port, ip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((group, port))
if group != "255.255.255.255":
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(ip)))
s.settimeout(20)
print("ready", flush=True)
data, src = s.recvfrom(100)
print(data.decode(), src[0], flush=True)
"""
SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(b"camscan-hello", (sys.argv[1], int(sys.argv[2])))
"""


@pytest.mark.lab
@pytest.mark.parametrize("group", ["239.255.0.77", "255.255.255.255"])
def test_multicast_and_broadcast_from_scanner_reach_a_host(lab_small: Lab, group: str) -> None:
    st = lab_state.load(lab_small.instance)
    assert st is not None
    host = st.hosts[0]
    ns = topology.host_ns(lab_small.instance, host.index)
    with subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", RECEIVER, group, "45077",
                           host.ip], stdout=subprocess.PIPE, text=True) as rx:
        assert rx.stdout is not None
        assert rx.stdout.readline().strip() == "ready"
        lab_small.exec(sys.executable, "-c", SENDER, group, "45077")
        line = rx.stdout.readline().strip()
        rx.wait(timeout=20)
    assert line == f"camscan-hello {st.scanner_ip}"


@pytest.mark.lab
def test_hostile_profile_is_small_plus_every_hostile_persona() -> None:
    from scanner.lab.profiles import HOSTILE

    with running_lab("h", "--profile", "hostile", "--seed", "2") as lab:
        devices = lab.truth()["devices"]
        hostile = sorted(d["persona"] for d in devices if d["hostile"])
        assert hostile == sorted(HOSTILE)
        assert len(devices) == SMALL_PERSONAS + len(HOSTILE)
        assert all(d["category"] == "other" and d["vendor"] is None for d in devices if d["hostile"])


@pytest.mark.lab
def test_up_refuses_a_subnet_that_overlaps_this_machines_routes() -> None:
    lab = Lab("tsubnet")
    own = [str(r) for r in topology.root_routes()
           if not r.is_loopback and r.prefixlen <= 30 and not r.subnet_of(topology.SAFE_RANGE)]
    for subnet in ("127.0.0.0/24", "224.1.0.0/24", *own[:1]):
        p = lab.camscan("lab", "up", "--subnet", subnet, check=False)
        assert p.returncode != 0
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert subnet in p.stderr
    if own:
        assert "overlaps route" in p.stderr
    assert not _namespaces("tsubnet")
    assert not lab_state.paths("tsubnet").root.exists()


@pytest.mark.lab
def test_daemon_runs_in_an_empty_network_namespace(lab_small: Lab) -> None:
    # a socket the daemon made outside a host namespace by mistake could not reach the machine's
    # network: its own namespace holds nothing but a loopback that is down
    pid = lab_state.daemon_pid(lab_small.instance)
    assert pid is not None
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    links = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "link"], capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()
    assert len(links) == 1 and ": lo:" in links[0]
