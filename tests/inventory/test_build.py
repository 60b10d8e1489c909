"""Observations become typed devices: grouped by IP and MAC, identified, with ports, channels and survey tags."""

from __future__ import annotations

import jsonschema

from scanner.inventory.build import HostFacts, build, site_info
from scanner.inventory.merge import group_observations
from scanner.inventory.records import Channel, ScanInfo
from scanner.inventory.serialise import DEVICE_KEYS, from_dict, json_schema, to_dict
from scanner.match.engine import get_engine
from scanner.models import Observation as O

SCAN = ScanInfo(started="2026-12-07T01:00:00+00:00", finished="2026-12-07T01:00:05+00:00",
                targets=("198.18.0.0/24",), excluded=(), modules=("arp", "snmp"), privileged=True,
                tool_version="0.1.0", fingerprints_version="x")


def test_grouping_by_ip_and_mac() -> None:
    obs = [
        O("mac", "44:19:b6:00:00:01", ip="198.18.0.10", source="arp"),
        O("http.server", "App-webs/", ip="198.18.0.10", port=80, source="http"),
        O("mac", "44-19-B6-00-00-01", ip="198.18.0.11", source="arp"),     # same box, second address
        O("rtsp.server", "x", ip="198.18.0.12", source="rtsp"),
        O("wsd.epr", "urn:uuid:1", mac="44:19:b6:00:00:01", source="wsd"),  # no IP: joins by MAC
    ]
    groups = group_observations(obs)
    assert [sorted(g.ips) for g in groups] == [["198.18.0.10", "198.18.0.11"], ["198.18.0.12"]]
    assert len(groups[0].observations) == 4


def _inventory():  # type: ignore[no-untyped-def]
    obs = [O("mac", "3c:ef:8c:08:4e:1e", ip="198.18.0.20", source="arp"),
           O("snmp.sysdescr", "DH-NVR4108HS-8P-4KS2", ip="198.18.0.20", source="snmp"),
           O("hostname", "nvr-1", ip="198.18.0.20", source="mdns"),
           O("tcp.port", "37777", ip="198.18.0.20", port=37777, source="tcp"),
           O("http.server", "App-webs/", ip="198.18.0.140", port=80, source="http")]
    hosts = {"198.18.0.20": HostFacts("3c:ef:8c:08:4e:1e", frozenset({80}), (Channel("R1", "10.9.0.2", "HIKVISION"),)),
             "198.18.0.99": HostFacts("00:11:22:33:44:55")}   # live, said nothing identifiable
    site = site_info("HQ", "Test Police", [("198.18.0.0/24", "internal", None), ("198.18.0.128/25", "external", 7)])
    return build(obs, get_engine(), SCAN, site, hosts=hosts)


def test_devices_are_typed_and_keep_ports_channels_and_survey_tag() -> None:
    inv = _inventory()
    # address order, the camera the NVR reports behind it (at its internal address) right after the NVR
    assert [d.ip for d in inv.devices] == ["198.18.0.20", "10.9.0.2", "198.18.0.99", "198.18.0.140"]
    nvr, cam = inv.devices[0], inv.devices[1]
    assert cam.via is not None and (cam.via.recorder, cam.via.channel, cam.via.matched_by) == ("198.18.0.20", "R1",
                                                                                               None)
    assert (cam.vendor, cam.category, cam.discovered_by, cam.survey) == ("hikvision", "video", ("recorder",),
                                                                         "internal")
    assert nvr.behind is not None and nvr.behind.listed == 1
    inv = type(inv)(inv.site, inv.scan, tuple(d for d in inv.devices if d is not cam))
    assert (nvr.vendor, nvr.category, nvr.mac) == ("dahua", "nvr", "3c:ef:8c:08:4e:1e")
    assert nvr.open_ports == (80, 37777) and nvr.hostnames == ("nvr-1",)
    assert nvr.discovered_by == ("arp", "mdns", "snmp", "tcp") and nvr.channels[0].maker == "HIKVISION"
    assert nvr.survey == "internal" and inv.devices[2].survey == "external"   # the most specific range wins
    assert inv.devices[1].category == "unknown" and inv.devices[1].mac == "00:11:22:33:44:55"


def test_the_json_keeps_every_field_validates_and_reads_back_the_same() -> None:
    inv = _inventory()
    doc = to_dict(inv)
    assert doc["schema"] == "camscan.inventory/1"
    assert all(tuple(d) == DEVICE_KEYS for d in doc["devices"])
    jsonschema.validate(doc, json_schema(), format_checker=jsonschema.FormatChecker())
    again = from_dict(doc)
    assert again.devices == inv.devices and again.site == inv.site
    assert to_dict(again) == doc


def test_a_document_that_is_not_an_inventory_is_refused_with_where() -> None:
    import pytest

    from scanner.errors import InputError

    doc = to_dict(_inventory())
    doc["devices"][0]["ip"] = "not-an-ip"
    with pytest.raises(InputError, match=r"old\.json: not a camscan inventory: devices/0/ip"):
        from_dict(doc, "old.json")
