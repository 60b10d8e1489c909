"""Profiles: what each site holds and where, without building it (pure; no privileges needed)."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter

import pytest

from scanner.lab import profiles
from scanner.lab.model import Persona
from scanner.lab.personas import load_personas

PERSONAS = load_personas()


def _plan(name: str, seed: int = 1) -> tuple[ipaddress.IPv4Network, list[profiles.PlannedHost]]:
    prof = profiles.get_profile(name)
    net = ipaddress.IPv4Network(prof.subnet)
    return net, profiles.plan(prof, seed, net, str(net.network_address + 1), PERSONAS)


def test_every_persona_the_profiles_name_is_defined() -> None:
    real = PERSONAS
    named = {p for prof in profiles.PROFILES.values() for p, _ in prof.mix}
    assert named <= set(real), sorted(named - set(real))
    for name in profiles.HOSTILE:
        assert real[name].hostile
    for name in profiles.SURVEILLANCE_SMALL:
        assert real[name].vendor is not None and real[name].category != "other"
    for name in profiles.IT_SMALL:
        assert real[name].vendor is None and real[name].category == "other"


def test_small_and_hostile_hold_one_host_of_each_persona() -> None:
    _, small = _plan("small")
    assert sorted(h.persona for h in small) == sorted(profiles.SURVEILLANCE_SMALL + profiles.IT_SMALL)
    _, hostile = _plan("hostile")
    assert Counter(h.persona for h in hostile) - Counter(h.persona for h in small) == Counter(profiles.HOSTILE)


def test_site_is_a_realistic_slash24() -> None:
    net, hosts = _plan("site")
    assert 240 <= len(hosts) <= 253
    ips = [ipaddress.IPv4Address(h.ip) for h in hosts]
    assert len(set(ips)) == len(ips)
    assert all(ip in net and ip not in (net.network_address, net.network_address + 1,
                                        net.broadcast_address) for ip in ips)
    vendors = Counter(PERSONAS[h.persona].vendor for h in hosts if PERSONAS[h.persona].vendor)
    surveillance = sum(vendors.values())
    assert 90 <= surveillance <= 110
    assert vendors["hikvision"] > vendors["axis"] and vendors["dahua"] > vendors["axis"]
    rebrands = {"ezviz-camera", "lts-camera", "amcrest-camera", "lorex-nvr", "honeywell-camera"}
    assert len(rebrands & {h.persona for h in hosts}) >= 3


def test_site_nvrs_record_cameras_of_the_site() -> None:
    _, hosts = _plan("site")
    by_ip = {h.ip: h for h in hosts}
    nvrs = [h for h in hosts if h.persona in profiles.NVR_CHANNELS]
    assert len(nvrs) >= 3
    behind: list[str] = []
    for nvr in nvrs:
        assert 1 <= len(nvr.channels) <= profiles.MAX_CHANNELS
        for ip in nvr.channels:
            assert by_ip[ip].persona in profiles.NVR_CHANNELS[nvr.persona]
        behind += nvr.channels
    assert len(behind) == len(set(behind)), "a camera is behind two NVRs"
    assert all(not h.channels for h in hosts if h.persona not in profiles.NVR_CHANNELS)


def test_sparse16_spreads_about_300_hosts_over_the_slash16() -> None:
    net, hosts = _plan("sparse16")
    assert net.prefixlen == 16
    assert 280 <= len(hosts) <= 320
    assert len({h.ip for h in hosts}) == len(hosts)
    third = {ipaddress.IPv4Address(h.ip).packed[2] for h in hosts}
    assert len(third) > 100
    assert all(ipaddress.IPv4Address(h.ip) in net for h in hosts)


def test_plans_are_deterministic_per_seed() -> None:
    assert _plan("site", 4) == _plan("site", 4)
    a, b = _plan("site", 4)[1], _plan("site", 5)[1]
    assert [h.mac for h in a] != [h.mac for h in b]


def test_macs_carry_the_persona_oui_and_are_unique() -> None:
    _, hosts = _plan("sparse16", 9)
    assert len({h.mac for h in hosts}) == len(hosts)
    for h in hosts:
        assert h.mac.startswith(PERSONAS[h.persona].oui.lower() + ":")
        assert h.mac == h.mac.lower() and len(h.mac) == 17


@pytest.mark.parametrize(("before", "after"), [
    ("V5.5.82 build 190910", "V5.5.83 build 190910"),
    ("V2.800.0000000.25.R, Build Date 2021-09-22", "V2.800.0000000.26.R, Build Date 2021-09-22"),
    ("10.12.182", "10.12.183"),
    ("build 7", "build 8"),
])
def test_reflash_bumps_the_version(before: str, after: str) -> None:
    p = Persona("x", "axis", "axis", "M", before, "camera", "00:40:8C", ("http",))
    assert profiles.reflashed(before, p, random.Random(1)) == after


def test_reflash_prefers_the_persona_alternatives() -> None:
    p = Persona("x", "axis", "axis", "M", "1.0", "camera", "00:40:8C", ("http",),
                spec={"firmware_alternatives": ["1.0", "2.0"]})
    assert profiles.reflashed("1.0", p, random.Random(1)) == "2.0"


def test_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(Exception, match="known: small, hostile, site, sparse16"):
        profiles.get_profile("campus")
