"""Scope edges: dangerous targets are refused (by the CLI too, tried where a failed refusal sends nothing),
and network/broadcast addresses are those of the scanner's link, not of each range of a site."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.errors import InputError
from scanner.scope import Scope
from scanner.sites import load_site
from tests.lab.conftest import PRIVILEGED, REPO
from tests.netns import empty_netns

EXAMPLES = REPO / "examples"
LAB_LINK = ipaddress.IPv4Network("198.18.0.0/24")


@pytest.mark.parametrize(("target", "needle"), [
    ("0.0.0.0", "unspecified"),
    ("0.0.0.0/24", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "container credentials"),
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "limited broadcast"),
    ("240.0.0.0/24", "reserved"),
])
def test_dangerous_targets_are_refused_whatever_the_flags(target: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as e:
        Scope.build([target], allow_large=True, allow_public=True, allow_link_local=True)
    assert "never scans it" in str(e.value)


@pytest.mark.parametrize("target", ["0.0.0.0/0", "96.0.0.0/3", "126.0.0.0/7", "192.168.1.5-192.168.1.4"])
def test_a_target_that_only_overlaps_forbidden_space_is_refused(target: str) -> None:
    with pytest.raises(InputError):
        Scope.build([target], allow_large=True, allow_public=True, allow_link_local=True)


def test_link_local_needs_its_flag_and_never_includes_the_metadata_address() -> None:
    for t in ("169.254.0.0/16", "169.254.10.20", "169.254.169.0/24"):
        with pytest.raises(InputError, match="--allow-link-local"):
            Scope.build([t])
    s = Scope.build(["169.254.169.0/24"], allow_link_local=True)
    assert s.allows("169.254.169.253")
    assert not s.allows("169.254.169.254")
    assert "169.254.169.254" not in set(s.hosts())
    wide = Scope.build(["169.254.0.0/16"], allow_link_local=True)
    assert not wide.allows("169.254.169.254") and not wide.allows("169.254.170.2")


def test_public_space_names_its_flag() -> None:
    with pytest.raises(InputError, match="--allow-public"):
        Scope.build(["100.0.0.0/24"])
    assert Scope.build(["100.0.0.0/24"], allow_public=True).size() == 254


def test_the_lab_range_stays_allowed() -> None:
    assert Scope.build(["198.18.0.0/15"], allow_large=True).allows("198.19.255.1")
    assert Scope.build(["198.18.0.0/16"]).allows("198.18.7.9")


def test_sub_ranges_of_the_scanners_link_keep_every_address() -> None:
    """examples/site.yaml splits one /24 into /25, /26, /27: only the link's .0 and .255 are edges."""
    site = load_site(EXAMPLES / "site.yaml")
    s = Scope.build([r.cidr for r in site.ranges], list(site.excludes), links=[LAB_LINK])
    hosts = set(s.hosts())
    for last in (127, 128, 191, 192, 223):
        assert f"198.18.0.{last}" in hosts, f".{last} would be skipped"
    assert "198.18.0.0" not in hosts and "198.18.0.250" not in hosts
    assert len(hosts) == 224 - 1   # .0-.223 less the link's network address


def test_the_links_broadcast_is_an_edge_even_in_a_range_or_a_larger_target() -> None:
    assert "198.18.0.255" not in set(Scope.build(["198.18.0.200-255"], links=[LAB_LINK]).hosts())
    # a /23 around the /24 link: the link's broadcast .0.255 is not a host; the /23's .1.255 is presumed one
    hosts = set(Scope.build(["198.18.0.0/23"], links=[LAB_LINK]).hosts())
    assert "198.18.0.255" not in hosts and "198.18.1.0" in hosts and "198.18.1.255" not in hosts
    # on a /16 link, a /24's first and last addresses are ordinary hosts
    hosts = set(Scope.build(["198.18.5.0/24"], links=[ipaddress.IPv4Network("198.18.0.0/16")]).hosts())
    assert {"198.18.5.0", "198.18.5.255"} <= hosts and len(hosts) == 256


def test_off_link_targets_drop_the_edges_of_the_blocks_they_collapse_to() -> None:
    s = Scope.build(["10.20.30.0/25", "10.20.30.128/25"], links=[LAB_LINK])
    hosts = set(s.hosts())
    assert {"10.20.30.127", "10.20.30.128"} <= hosts
    assert "10.20.30.0" not in hosts and "10.20.30.255" not in hosts


@pytest.mark.lab
@pytest.mark.skipif(not PRIVILEGED, reason="needs root to create a network namespace")
@pytest.mark.parametrize(("target", "needle"), [
    ("169.254.169.254", "is the cloud instance metadata address"),
    ("169.254.0.0/16", "pass --allow-link-local"),
    ("127.0.0.1", "loopback"),
    ("0.0.0.0/24", "unspecified"),
    ("224.0.0.0/24", "multicast"),
    ("255.255.255.255", "limited broadcast"),
    ("240.0.0.0/24", "reserved"),
    ("8.8.8.0/24", "pass --allow-public"),
])
def test_scan_cli_refuses_dangerous_targets(tmp_path: Path, target: str, needle: str) -> None:
    out = tmp_path / "out"
    with empty_netns() as ns:
        p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "scanner", "scan", target,
                            "--no-store", "--out", str(out)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert p.returncode != 0
    assert needle in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists(), "nothing may be written for a refused target"


def _allows_by_ipaddress(scope: Scope, ip: str) -> bool:
    try:
        a = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    return any(a in n for n in scope.targets) and not any(a in n for n in scope.excludes)


_ODD = ["10.1.2.3", "10.1.2.0", "10.1.2.255", "10.1.3.7", "10.1.2.9", "10.1", "10.1.2", "010.1.2.3", "10.1.2.03",
        "0x0a.1.2.3", "10.1.2.3 ", " 10.1.2.3", "10.1.2.3\n", "10.1.2.3\x00", "10.1.2.3.4", "10.1.2.256", "",
        "::ffff:10.1.2.3", "10.1.2.-1", "1e1.1.2.3", "١٠.1.2.3", "4294967295", "10.1.2.3/32", "10..2.3",
        "10.1.515", "167838211", "0xa.1.2.3", "012.1.2.3"]   # inet_aton reads these as 10.1.2.3


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.sampled_from(_ODD),
                 st.ip_addresses(v=4).map(str),
                 st.builds(lambda a, b: f"10.1.{a}.{b}", st.integers(-1, 300), st.integers(-1, 300)),
                 st.text(alphabet="0123456789.x -", max_size=18)))
def test_allows_reads_addresses_exactly_as_ipaddress_does(ip: str) -> None:
    scope = Scope.build(["10.1.2.0/24", "10.1.3.1-10.1.3.9"], ["10.1.2.9"])
    assert scope.allows(ip) == _allows_by_ipaddress(scope, ip)
