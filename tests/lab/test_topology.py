"""Naming and state of lab instances (pure; no privileges needed)."""

from __future__ import annotations

import ipaddress

import pytest

from scanner.errors import InputError
from scanner.lab import profiles, topology
from scanner.lab import state as lab_state
from scanner.lab.personas import load_personas


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
