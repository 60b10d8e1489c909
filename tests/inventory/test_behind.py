"""Cameras behind recorders are devices: one camera, one count, whichever way it was seen (issue 13)."""

from __future__ import annotations

import json

from scanner.discovery.recorders import parse_remote_devices
from scanner.inventory.build import HostFacts, build, site_info
from scanner.inventory.records import Channel, ScanInfo
from scanner.inventory.serialise import to_json
from scanner.match.engine import get_engine
from scanner.match.load import SURVEILLANCE_CATEGORIES
from scanner.models import Observation as O
from tests.discovery.test_recorders import DAHUA

SCAN = ScanInfo(started="2026-12-07T01:00:00+00:00", finished="2026-12-07T01:00:05+00:00",
                targets=("198.18.0.0/24",), excluded=(), modules=("arp", "onvif"), privileged=True,
                tool_version="0.1.0", fingerprints_version="x")
SITE = site_info("HQ", None, [("198.18.0.0/24", "internal", None)])
NVR = "198.18.0.20"


def cam(ip: str, mac: str, model: str, serial: str | None = None) -> list[O]:
    """A camera that answered the scan itself (its ONVIF identity)."""
    obs = [O("mac", mac, ip=ip, source="arp"), O("onvif.manufacturer", "HIKVISION", ip=ip, source="onvif"),
           O("onvif.model", model, ip=ip, source="onvif")]
    return obs + ([O("onvif.serial", serial, ip=ip, source="onvif")] if serial else [])


def nvr_obs() -> list[O]:
    return [O("mac", "3c:ef:8c:08:4e:1e", ip=NVR, source="arp"),
            O("onvif.manufacturer", "Dahua", ip=NVR, source="onvif"),
            O("onvif.model", "DHI-NVR4108HS-8P-4KS2", ip=NVR, source="onvif")]


def scan(channels: tuple[Channel, ...], *extra: list[O]) -> list:  # type: ignore[type-arg]
    obs = nvr_obs() + [o for e in extra for o in e]
    hosts = {NVR: HostFacts("3c:ef:8c:08:4e:1e", frozenset({80}), channels)}
    return list(build(obs, get_engine(), SCAN, SITE, hosts=hosts).devices)


def test_every_camera_behind_a_recorder_is_counted_once_whichever_way_it_matched() -> None:
    channels = (
        Channel("1", "198.18.0.31", serial="DS-2CD2143G0-I20200101AAWR000000001", source="isapi"),   # by serial
        Channel("2", "10.1.1.2", mac="44:19:b6:00:00:32", source="dahua"),                            # by MAC
        Channel("3", "198.18.0.33", model="DS-2CD2387G2-LU", source="isapi"),                         # by address+model
        Channel("4", "198.18.0.34", source="onvif"),                       # the address alone: the stream's source
        Channel("5", "10.1.1.5", model="IPC-HFW2431S-S-S2", serial="6J0A1B2PAZ00001", source="dahua"),  # hidden
        Channel("6", None, source="onvif"),        # a bare video source: an input, connected or not: no camera
    )
    devs = scan(channels,
                cam("198.18.0.31", "44:19:b6:00:00:31", "DS-2CD2143G0-I", "DS-2CD2143G0-I20200101AAWR000000001"),
                cam("198.18.0.32", "44:19:b6:00:00:32", "DS-2CD2386G2-IU"),
                cam("198.18.0.33", "44:19:b6:00:00:33", "DS-2CD2387G2-LU"),
                cam("198.18.0.34", "44:19:b6:00:00:34", "DS-2CD1043G0-I"))
    by = {(d.ip, d.via.channel if d.via else None): d for d in devs}
    assert len(devs) == 1 + 4 + 1                       # the NVR, four direct cameras, one seen only through it
    matched = {d.ip: d.via.matched_by for d in devs if d.via and d.via.matched_by}
    assert matched == {"198.18.0.31": "serial", "198.18.0.32": "mac", "198.18.0.33": "address+model",
                       "198.18.0.34": "address"}
    hidden = by[("10.1.1.5", "5")]
    assert (hidden.vendor, hidden.category, hidden.discovered_by, hidden.survey) == ("dahua", "camera",
                                                                                     ("recorder",), "internal")
    assert hidden.via is not None and hidden.via.recorder == NVR and hidden.via.matched_by is None
    assert {e.value for e in hidden.evidence} >= {"IPC-HFW2431S-S-S2"}
    assert (NVR, "6") not in by
    recorder = by[(NVR, None)]
    assert recorder.behind is not None and recorder.behind.listed == 6
    assert sum(d.category in SURVEILLANCE_CATEGORIES for d in devs) == 6
    # each hidden camera is listed right after its recorder
    assert [d.ip for d in devs][:2] == [NVR, "10.1.1.5"]


def test_a_multi_sensor_cameras_video_sources_are_not_cameras_behind_it() -> None:
    ip = "198.18.0.40"
    obs = cam(ip, "44:19:b6:00:00:40", "DS-2CD6D54FWD-IZHS")
    hosts = {ip: HostFacts("44:19:b6:00:00:40", frozenset({80}), tuple(Channel(f"VS{i}") for i in range(4)))}
    devs = build(obs, get_engine(), SCAN, SITE, hosts=hosts).devices
    assert len(devs) == 1 and devs[0].behind is None


def test_without_credentials_a_recorder_says_what_it_states_or_unknown() -> None:
    sadp = ('<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>X</Uuid><Types>inquiry</Types>'
            '<DeviceDescription>DS-7608NI-K2/8P</DeviceDescription><AnalogChannelNum>0</AnalogChannelNum>'
            '<DigitalChannelNum>8</DigitalChannelNum></ProbeMatch>')
    ip = "198.18.0.58"
    obs = [O("mac", "58:50:ed:00:00:58", ip=ip, source="arp"), O("sadp.reply", sadp, ip=ip, source="sadp"),
           O("http.server", "DNVRS-Webs", ip=ip, port=80, source="http")]
    d, = build(obs, get_engine(), SCAN, SITE).devices
    assert d.category == "nvr" and d.behind is not None
    assert (d.behind.listed, d.behind.stated) == (None, 8) and "DigitalChannelNum" in (d.behind.stated_by or "")
    d, = build(nvr_obs(), get_engine(), SCAN, SITE).devices
    assert d.category == "nvr" and d.behind is not None and (d.behind.listed, d.behind.stated) == (None, None)


def test_a_recorders_stored_camera_passwords_never_reach_the_inventory() -> None:
    devs = scan(tuple(parse_remote_devices(DAHUA)))
    text = to_json(type(build([], get_engine(), SCAN))(SITE, SCAN, tuple(devs)))
    assert "cam-secret" not in text and '"admin"' not in text
    doc = json.loads(text)
    via = [d for d in doc["devices"] if d["via"]]
    assert [(d["vendor"], d["model"]) for d in via] == [("hikvision", "DS-2CD1143G0-I"), ("dahua", "IPC-HDW1025C")]
    assert via[1]["via"]["reported"]["mac"] == "08:ed:ed:28:8f:97" and via[1]["mac"] == "08:ed:ed:28:8f:97"


def test_the_diff_follows_a_hidden_camera_by_recorder_and_channel() -> None:
    from scanner.inventory.diff import diff, to_text

    before = scan((Channel("1", "10.1.1.2", model="IPC-HFW2431S-S-S2", source="dahua"),
                   Channel("2", None, source="onvif")))
    after = scan((Channel("1", "10.1.1.2", model="IPC-HFW2431S-S-S2", firmware="2.800.2", source="dahua"),
                  Channel("2", None, source="onvif"), Channel("3", "10.1.1.4", model="IPC-HDW1025C", source="dahua")))
    d = diff("HQ", ("a", "1"), ("b", "2"), before, after)
    assert [x.via.channel for x in d.added if x.via] == ["3"] and not d.removed
    assert sorted((c.matched_by, c.device.via.channel if c.device.via else "", sorted(c.changes)) for c in d.changed) \
        == [("channel", "1", ["firmware"]), ("mac", "", ["behind"])]   # the NVR now lists three
    assert "behind recorder 198.18.0.20 channel 3" in to_text(d)


def test_reports_say_which_recorder_a_camera_is_behind() -> None:
    import io

    import openpyxl

    from scanner.inventory.records import Inventory
    from scanner.report import html, xlsx

    devs = scan((Channel("5", "10.1.1.5", model="IPC-HFW2431S-S-S2", source="dahua"),),
                cam("198.18.0.31", "44:19:b6:00:00:31", "DS-2CD2143G0-I", "DS-2CD2143G0-I20200101AAWR000000001"))
    inv = Inventory(SITE, SCAN, tuple(devs))
    ws = openpyxl.load_workbook(io.BytesIO(xlsx.render_inventory(inv)))["Devices"]
    head = [c.value for c in ws[1]]
    rows = {r[0]: dict(zip(head, r, strict=False)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["10.1.1.5"]["behind recorder"] == f"{NVR} channel 5"
    assert rows[NVR]["cameras behind"] == "1 listed"
    page = html.render_inventory(inv)
    assert f"Behind recorder <strong>{NVR}</strong>, channel <strong>5</strong>" in page
    assert "Cameras behind it: 1 listed by the recorder" in page


def test_csv_and_markdown_say_behind_which_recorder() -> None:
    import csv
    import io

    from scanner import report
    from scanner.inventory.records import Inventory

    devs = scan((Channel("5", "10.1.1.5", model="IPC-HFW2431S-S-S2", source="dahua"),))
    inv = Inventory(SITE, SCAN, tuple(devs))
    rows = {r["ip"]: r for r in csv.DictReader(io.StringIO(report.to_csv(inv)))}
    assert rows["10.1.1.5"]["behind_recorder"] == f"{NVR} channel 5" and rows[NVR]["cameras_behind"] == "1 listed"
    md = report.to_markdown(inv)
    assert f"| {NVR} channel 5 |" in md and "| 1 listed |" in md
