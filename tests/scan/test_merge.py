"""Observations are grouped into devices by MAC, then IP, and every device keeps its evidence."""

from __future__ import annotations

from scanner.inventory.merge import DEVICE_KEYS, build_devices, group_observations
from scanner.match.engine import get_engine
from scanner.models import Observation as O


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


def test_device_records_have_the_inventory_shape() -> None:
    obs = [O("mac", "3c:ef:8c:08:4e:1e", ip="198.18.0.20", source="arp"),
           O("snmp.sysdescr", "DH-NVR4108HS-8P-4KS2", ip="198.18.0.20", source="snmp"),
           O("hostname", "nvr-1", ip="198.18.0.20", source="mdns")]
    devs = build_devices(obs, get_engine(), open_ports={"198.18.0.20": [80, 37777]},
                         channels={"198.18.0.20": [{"maker": "x"}]})
    assert len(devs) == 1
    d = devs[0]
    assert tuple(d) == DEVICE_KEYS
    assert (d["ip"], d["mac"], d["vendor"], d["category"]) == ("198.18.0.20", "3c:ef:8c:08:4e:1e", "dahua", "nvr")
    assert d["open_ports"] == [80, 37777] and d["hostnames"] == ["nvr-1"]
    assert d["discovered_by"] == ["arp", "mdns", "snmp"] and d["channels"] == [{"maker": "x"}]
    assert any(e["signal"] == "snmp.sysdescr" for e in d["evidence"])
