"""Cameras behind recorders, without namespaces (issue 13): the `recorders` profile's plan, the hidden
cameras' identities and addresses, the truth document, and the channel lists the recorders serve."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections import Counter
from typing import Any
from xml.sax.saxutils import escape

import pytest
from defusedxml import ElementTree as SafeET

from scanner.errors import InputError
from scanner.lab import profiles
from scanner.lab import state as lab_state
from scanner.lab.model import HiddenCamera, LabHost
from scanner.lab.personas import load_personas
from scanner.lab.services.context import OUTSIDE_IP, HostContext
from scanner.lab.services.http import GENERATORS, HttpApp
from scanner.lab.services.onvif import OnvifService

PERSONAS = load_personas()
RECORDERS = {"hikvision-nvr", "dahua-nvr", "lorex-nvr", "lts-nvr"}
HIK = "{http://www.hikvision.com/ver20/XMLSchema}"


def _plan(name: str, seed: int = 1, subnet: str | None = None) -> tuple[ipaddress.IPv4Network,
                                                                        list[profiles.PlannedHost]]:
    prof = profiles.get_profile(name)
    net = ipaddress.IPv4Network(subnet or prof.subnet)
    return net, profiles.plan(prof, seed, net, str(net.network_address + 1), PERSONAS)


def _state(seed: int = 1) -> lab_state.LabState:
    net, hosts = _plan("recorders", seed)
    return lab_state.LabState("t", "recorders", seed, str(net), str(net.network_address + 1), tuple(hosts),
                              len(hosts) + 1)


# --- the plan --------------------------------------------------------------------------------------

def test_other_profiles_plan_the_same_hosts_as_before_and_hide_nothing() -> None:
    # digests of (index, ip, mac, persona, serial, firmware, hostname, channels) for seed 1, taken from the
    # code before hidden cameras existed: the lab's other tests depend on these plans
    golden = {"small": "85a062c5", "site": "e62a6e6c", "sparse16": "1292c7a0", "hostile": "4552de2f"}
    for name in golden:
        _, hosts = _plan(name)
        assert not any(h.hidden for h in hosts), name
        rows = [(h.index, h.ip, h.mac, h.persona, h.serial, h.firmware, h.hostname, list(h.channels))
                for h in hosts]
        digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:8]
        assert digest == golden[name], name


def test_recorders_profile_hides_twenty_odd_cameras_of_mixed_makers() -> None:
    net, hosts = _plan("recorders")
    assert net == ipaddress.IPv4Network("198.18.0.0/24")
    recorders = [h for h in hosts if PERSONAS[h.persona].category == "nvr"]
    assert len(recorders) >= 5 and {h.persona for h in recorders} == RECORDERS
    hidden = [c for h in recorders for c in h.hidden]
    assert len(hidden) >= 20 and all(h.hidden for h in recorders)
    vendors = Counter(c.vendor for c in hidden)
    brands = Counter(c.brand for c in hidden)
    assert vendors["hikvision"] and vendors["dahua"] and len(vendors) >= 4, vendors
    assert {"lts", "amcrest", "ezviz", "honeywell"} <= set(brands), brands
    assert {c.category for c in hidden} >= {"camera", "anpr"}
    # Hikvision cameras behind a Dahua recorder (ONVIF), Dahua-made rebrands behind Lorex (Dahua protocol)
    by_persona = {h.persona: h for h in recorders}
    assert any(c.vendor == "hikvision" and c.protocol == "onvif" for c in by_persona["dahua-nvr"].hidden)
    assert all(c.protocol == "private" for c in by_persona["lorex-nvr"].hidden if c.vendor == "dahua")
    # some recorders also record cameras of the LAN; some cameras are on no recorder; office IT around
    assert any(h.channels for h in recorders)
    recorded = {ip for h in recorders for ip in h.channels}
    cameras = [h for h in hosts if PERSONAS[h.persona].category == "camera"]
    assert any(h.ip not in recorded for h in cameras) and any(h.ip in recorded for h in cameras)
    assert sum(PERSONAS[h.persona].vendor is None for h in hosts) >= 3
    for h in recorders:
        assert len(h.hidden) + len(h.channels) <= (PERSONAS[h.persona].stated_channels or 0)


def test_hidden_cameras_live_on_their_recorders_own_unrouted_networks() -> None:
    net, hosts = _plan("recorders", 7)
    lab_ips = {h.ip for h in hosts}
    nets = []
    for h in hosts:
        if not h.hidden:
            continue
        inner = {ipaddress.IPv4Network(f"{c.ip}/24", strict=False) for c in h.hidden}
        assert len(inner) == 1, h
        (own,) = inner
        nets.append(own)
        assert own.subnet_of(profiles.HIDDEN_SPACE) and not own.overlaps(net)
        assert ipaddress.IPv4Address(OUTSIDE_IP) not in own
        assert [c.channel for c in h.hidden] == list(range(1, len(h.hidden) + 1))
        assert [c.ip for c in h.hidden] == [str(own.network_address + c.channel + 1) for c in h.hidden]
    assert len(set(nets)) == len(nets)
    hidden = [c for h in hosts for c in h.hidden]
    assert not {c.ip for c in hidden} & lab_ips
    macs = [h.mac for h in hosts] + [c.mac for c in hidden]
    assert len(set(macs)) == len(macs)


def test_hidden_cameras_carry_their_makers_ouis_serials_and_names() -> None:
    _, hosts = _plan("recorders", 3)
    for h in hosts:
        for c in h.hidden:
            p = PERSONAS[c.persona]
            assert c.mac.startswith(p.oui.lower() + ":") and re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", c.mac)
            assert c.serial.startswith(str(p.spec.get("serial_prefix", "")))
            alphabet = p.spec.get("serial_alphabet")
            if alphabet:
                assert set(c.serial[len(p.spec.get("serial_prefix", "")):]) <= set(alphabet)
            assert (c.vendor, c.brand, c.category, c.model, c.firmware) == (p.vendor, p.brand, p.category,
                                                                            p.model, p.firmware)
            assert c.maker == p.spec["identity"]["manufacturer"]
            assert c.protocol == ("private" if p.vendor == PERSONAS[h.persona].vendor else "onvif")


def test_plans_with_hidden_cameras_are_deterministic_per_seed() -> None:
    assert _plan("recorders", 4) == _plan("recorders", 4)
    a = [c.mac for h in _plan("recorders", 4)[1] for c in h.hidden]
    b = [c.mac for h in _plan("recorders", 5)[1] for c in h.hidden]
    assert a != b


def test_internal_networks_avoid_the_lab_subnet_and_the_outside_block() -> None:
    nets = profiles.internal_networks(ipaddress.IPv4Network("198.19.0.0/22"), 3)
    assert [str(n) for n in nets] == ["198.19.4.0/24", "198.19.5.0/24", "198.19.6.0/24"]
    many = profiles.internal_networks(ipaddress.IPv4Network("198.18.0.0/24"), 250)
    assert ipaddress.IPv4Network("198.19.200.0/24") not in many
    with pytest.raises(InputError):
        profiles.internal_networks(ipaddress.IPv4Network("198.19.0.0/16"), 1)
    # a lab subnet over 198.19.1-4 moves the recorders' networks past it
    net, hosts = _plan("recorders", 1, "198.19.0.0/21")
    assert all(ipaddress.IPv4Address(c.ip) not in net for h in hosts for c in h.hidden)


# --- state and truth -------------------------------------------------------------------------------

def test_state_round_trips_hidden_cameras() -> None:
    st = _state(2)
    back = lab_state.LabState.from_json(json.loads(json.dumps(st.to_json())))
    assert back == st
    assert all(isinstance(c, HiddenCamera) for h in back.hosts for c in h.hidden)


def test_truth_lists_hidden_cameras_via_their_recorders() -> None:
    st = _state(2)
    doc = lab_state.truth(st, PERSONAS)
    devices = doc["devices"]
    by_ip = {d["ip"]: d for d in devices}
    hosts = {h.ip: h for h in st.hosts}
    hidden = [d for d in devices if d.get("hidden")]
    assert len(hidden) == sum(len(h.hidden) for h in st.hosts) >= 20
    for d in hidden:
        rec = hosts[d["via"]["recorder"]]
        (cam,) = [c for c in rec.hidden if c.ip == d["ip"]]
        assert d["via"]["channel"] == str(cam.channel)
        assert (d["mac"], d["serial"], d["model"], d["firmware"], d["vendor"], d["brand"], d["category"]) == (
            cam.mac, cam.serial, cam.model, cam.firmware, cam.vendor, cam.brand, cam.category)
        assert d["persona"] == cam.persona and d["kind_visible"] is True and d["services"] == []
        assert d["ip"] not in hosts
    for rec in (h for h in st.hosts if PERSONAS[h.persona].category == "nvr"):
        d = by_ip[rec.ip]
        assert d["channels_stated"] == 8 and d["channels_configured"] == len(rec.hidden) + len(rec.channels)
        first = len(rec.hidden) + 1
        for n, ip in enumerate(rec.channels, start=first):   # LAN cameras: after the PoE ports' channels
            assert by_ip[ip]["via"] == {"recorder": rec.ip, "channel": str(n)} and "hidden" not in by_ip[ip]
    vias = [(d["via"]["recorder"], d["via"]["channel"]) for d in devices if "via" in d]
    assert len(vias) == len(set(vias))


def test_truth_of_a_profile_without_hidden_cameras_keeps_its_shape() -> None:
    net, hosts = _plan("small", 3)
    st = lab_state.LabState("t", "small", 3, str(net), str(net.network_address + 1), tuple(hosts), len(hosts) + 1)
    devices = lab_state.truth(st, PERSONAS)["devices"]
    assert len(devices) == len(hosts) and not any(d.get("hidden") for d in devices)
    nvrs = [h for h in hosts if h.channels]
    assert nvrs
    for h in nvrs:
        for n, ip in enumerate(h.channels, start=1):
            assert next(d for d in devices if d["ip"] == ip)["via"] == {"recorder": h.ip, "channel": str(n)}


# --- what the recorders serve ----------------------------------------------------------------------

def _lab_hosts(seed: int = 2) -> dict[str, LabHost]:
    st = _state(seed)
    return {h.ip: lab_state.lab_host(st, h, PERSONAS) for h in st.hosts}


def _recorder(hosts: dict[str, LabHost], persona: str) -> LabHost:
    return next(h for h in hosts.values() if h.persona.name == persona)


def _expected_channels(rec: LabHost, hosts: dict[str, LabHost]) -> list[tuple[str, str, str, str]]:
    """(channel, address, model, serial) of every camera REC records, from the plan."""
    out = [(str(c.channel), c.ip, c.model, c.serial) for c in rec.hidden]
    out += [(str(len(rec.hidden) + n), ip, hosts[ip].persona.model, hosts[ip].serial)
            for n, ip in enumerate(rec.channels, start=1)]
    return out


@pytest.mark.parametrize("persona", ["hikvision-nvr", "lts-nvr"])
def test_isapi_input_proxy_lists_hidden_and_lan_channels(persona: str) -> None:
    hosts = _lab_hosts()
    rec = _recorder(hosts, persona)
    body = GENERATORS["hik-input-proxy"](HostContext(rec, hosts, 2))
    root = SafeET.fromstring(body.encode())
    assert root.tag == f"{HIK}InputProxyChannelList" and root.get("size") == "8"
    got = []
    for ch in root:
        src = ch.find(f"{HIK}sourceInputPortDescriptor")
        assert src is not None
        tags = [e.tag.removeprefix(HIK) for e in src]
        assert tags == ["proxyProtocol", "addressingFormatType", "ipAddress", "managePortNo", "srcInputPort",
                        "userName", "connMode", "streamType", "model", "serialNumber", "firmwareVersion",
                        "deviceID"]
        got.append((ch.findtext(f"{HIK}id"), src.findtext(f"{HIK}ipAddress"), src.findtext(f"{HIK}model"),
                    src.findtext(f"{HIK}serialNumber")))
        cam = next((c for c in rec.hidden if c.ip == src.findtext(f"{HIK}ipAddress")), None)
        vendor = cam.vendor if cam else hosts[str(src.findtext(f"{HIK}ipAddress"))].persona.vendor
        assert src.findtext(f"{HIK}proxyProtocol") == ("HIKVISION" if vendor == "hikvision" else "ONVIF")
        assert src.findtext(f"{HIK}managePortNo") == ("8000" if vendor == "hikvision" else "80")
        assert src.findtext(f"{HIK}connMode") == ("plugplay" if cam else "manual")
        assert ch.findtext(f"{HIK}name") == f"IPCamera {int(str(ch.findtext(f'{HIK}id'))):02d}"
    assert got == _expected_channels(rec, hosts)
    assert b"manufacturer" not in body.encode()


@pytest.mark.parametrize("persona", ["dahua-nvr", "lorex-nvr"])
def test_dahua_remote_device_table_lists_every_slot(persona: str) -> None:
    hosts = _lab_hosts()
    rec = _recorder(hosts, persona)
    body = GENERATORS["dahua-remote-devices"](HostContext(rec, hosts, 2))
    assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")
    slots: dict[int, dict[str, str]] = {}
    for line in body.split("\r\n")[:-1]:
        m = re.fullmatch(r"table\.RemoteDevice\.uuid:System_CONFIG_NETCAMERA_INFO_(\d+)\.(\w+)=(.*)", line)
        assert m, line
        slots.setdefault(int(m.group(1)), {})[m.group(2)] = m.group(3)
    assert sorted(slots) == list(range(8))
    enabled = [(str(n + 1), f["Address"], f["DeviceType"], f["SerialNo"]) for n, f in sorted(slots.items())
               if f["Enable"] == "true"]
    assert enabled == _expected_channels(rec, hosts)
    for n, f in slots.items():
        assert f["Password"] == f"lab-camera-secret-{n + 1}"
        assert set(f) == {"Address", "DeviceType", "Enable", "HttpPort", "Mac", "Name", "Password", "Port",
                          "ProtocolType", "RtspPort", "SerialNo", "UserName", "Vendor", "Version"}
        if f["Enable"] == "false":
            assert f["Address"] == "192.168.0.0" and f["DeviceType"] == "" and f["SerialNo"] == ""
            continue
        cam = next((c for c in rec.hidden if c.ip == f["Address"]), None)
        vendor = cam.vendor if cam else hosts[f["Address"]].persona.vendor
        mac = cam.mac if cam else hosts[f["Address"]].mac
        if vendor == "dahua":
            assert (f["Vendor"], f["ProtocolType"], f["Mac"], f["Name"]) == ("Private", "Dahua2", mac, f["SerialNo"])
        else:
            assert (f["Vendor"], f["ProtocolType"], f["Mac"], f["Name"]) == ("Onvif", "Onvif", "ff:ff:ff:ff:ff:ff", "")


def test_onvif_receivers_and_sources_list_hidden_cameras_first() -> None:
    hosts = _lab_hosts()
    for rec in (h for h in hosts.values() if h.hidden):
        ctx = HostContext(rec, hosts, 2)
        svc = OnvifService(ctx, HttpApp(ctx, []))
        any_call: Any = None
        receivers = svc.op_GetReceivers(any_call, any_call)
        tokens = re.findall(r"<tt:Token>(Receiver_\d+)</tt:Token>", receivers)
        uris = re.findall(r"<tt:MediaUri>rtsp://([\d.]+):554", receivers)
        expected = _expected_channels(rec, hosts)
        assert tokens == [f"Receiver_{n}" for n, *_ in expected]
        assert uris == [ip for _, ip, *_ in expected]
        for cam in rec.hidden:
            assert escape(f"rtsp://{cam.ip}:554{cam.rtsp_path}") in receivers
        sources = re.findall(r'VideoSources token="(VideoSource_\d+)"', svc.op_GetVideoSources(any_call, any_call))
        assert sources == [f"VideoSource_{n}" for n, *_ in expected]
