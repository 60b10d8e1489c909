"""SNMP module: var-binds to observations, and real GETs against Debian's snmpd in a private netns."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from pysnmp.proto import rfc1905
from pysnmp.proto.rfc1902 import Integer, ObjectIdentifier, ObjectName, OctetString

from scanner.discovery import snmp
from scanner.inventory.resolve import identify
from scanner.match.engine import get_engine
from scanner.signals import SIGNALS

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("camscan_netpair", HERE / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)


def vb(oid: str, value: Any) -> tuple[Any, Any]:
    return (ObjectName(oid), value)


def test_signals_in_vocabulary() -> None:
    assert snmp.Snmp.signals <= set(SIGNALS)


def test_system_group_becomes_observations() -> None:
    # Dahua NVR agent record (LibreNMS dahua-nvr.snmprec, protocols.md section 8).
    values = snmp.parse_reply([
        vb("1.3.6.1.2.1.1.1.0", OctetString("DH-NVR4108HS-8P-4KS2")),
        vb("1.3.6.1.2.1.1.2.0", ObjectIdentifier("1.3.6.1.4.1.1004849.3.2.10")),
        vb("1.3.6.1.2.1.1.5.0", rfc1905.NoSuchObject("")),
    ])
    obs = snmp.to_observations(values, "10.0.0.3", "3c:ef:8c:08:4e:1e")
    assert {(o.signal, o.value) for o in obs} == {
        ("snmp.sysdescr", "DH-NVR4108HS-8P-4KS2"),
        ("snmp.sysobjectid", "1.3.6.1.4.1.1004849.3.2.10")}
    assert all(o.port == 161 and o.source == "snmp" and o.mac == "3c:ef:8c:08:4e:1e" for o in obs)


def test_binary_octets_are_replaced_not_fatal() -> None:
    raw = b"; AXIS P5534-E;\xff\xfe\x00 5.40.9.2;"
    values = snmp.parse_reply([vb("1.3.6.1.2.1.1.1.0", OctetString(raw))])
    assert values["1.3.6.1.2.1.1.1.0"] == "; AXIS P5534-E;\ufffd\ufffd 5.40.9.2;"


def test_identifier_objects_end_at_trailing_garbage() -> None:
    # an agent that does not NUL-terminate its strings (a public integration note's real walks: "eth0" and
    # "Camera 1" followed by garbage bytes, cited in scanner/discovery/snmp.py): the model is the printable run
    garbage = b"\xe0\x87H\xd6e"
    values = snmp.parse_reply([
        vb("1.3.6.1.2.1.1.1.0", OctetString(b"FLEXIDOME indoor 5100i IR" + garbage)),
        vb("1.3.6.1.4.1.3967.1.1.5.1.0", OctetString(b"FLEXIDOME indoor 5100i IR - 5MP" + garbage)),
        vb("1.3.6.1.4.1.39165.1.3.0", OctetString(b"\x00\x01garbage only")),
    ])
    obs = {o.signal: o.value for o in snmp.to_observations(values, "10.0.0.4", None)}
    assert obs["snmp.model"] == "FLEXIDOME indoor 5100i IR - 5MP"
    assert "snmp.firmware" not in obs   # nothing printable before the garbage: no observation
    assert obs["snmp.sysdescr"].startswith("FLEXIDOME indoor 5100i IR\ufffd")   # kept whole (multi-line text)
    ident = identify(get_engine(), [("snmp.sysdescr", obs["snmp.sysdescr"])])
    assert (ident.vendor, ident.category, ident.model) == ("bosch", "camera", "FLEXIDOME indoor 5100i IR")


def test_a_kind_code_is_kept_with_its_object() -> None:
    # HIKVISION-MIB hikEntityType (probes.yaml): a bare "1" means DVR only at 1.3.6.1.4.1.50001.1.100.0
    values = snmp.parse_reply([vb("1.3.6.1.2.1.1.2.0", ObjectIdentifier("1.3.6.1.4.1.50001")),
                               vb("1.3.6.1.4.1.50001.1.100.0", Integer(1))])
    obs = {(o.signal, o.value) for o in snmp.to_observations(values, "10.0.0.5", None)}
    assert obs == {("snmp.sysobjectid", "1.3.6.1.4.1.50001"), ("snmp.object", "1.3.6.1.4.1.50001.1.100.0=1")}
    agent = ("snmp.sysobjectid", "1.3.6.1.4.1.50001")
    kinds = {code: identify(get_engine(), [agent, ("snmp.object", f"1.3.6.1.4.1.50001.1.100.0={code}")])
             for code in ("1", "2", "3", "255")}
    assert {code: (i.vendor, i.category) for code, i in kinds.items()} == {
        "1": ("hikvision", "dvr"), "2": ("hikvision", "nvr"), "3": ("hikvision", "camera"),
        "255": ("hikvision", "video")}   # Unknown(255): a Hikvision recorder-MIB agent, kind not said


def test_no_community_means_no_packet() -> None:
    import asyncio
    ctx = netpair.make_ctx(["198.18.36.0/30"])
    ctx.host("198.18.36.2")
    assert asyncio.run(netpair.collect(snmp.Snmp(), ctx)) == []
    assert "snmp.requests" not in ctx.stats.counters


lab = pytest.mark.skipif(not (netpair.can_build() and shutil.which("snmpd")),
                         reason="needs root and Debian's snmpd")


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"s{os.getpid() % 10000}", 36)
    yield p
    p.close()


def _wait_udp_bound(pair: Any, port: int) -> None:
    for _ in range(50):
        out = subprocess.run(["ip", "netns", "exec", pair.b, "ss", "-uln"],
                             capture_output=True, text=True).stdout
        if f":{port}" in out:
            return
        time.sleep(0.1)
    raise AssertionError("snmpd did not start")


# Hikvision NVR agent values (protocols.md section 8)
HIK_SYSTEM = "sysDescr Hikvision company products\nsysObjectID 1.3.6.1.4.1.50001\nsysName nvr-01\n"


def _serve(pair: Any, extra: str, system: str = HIK_SYSTEM) -> tuple[subprocess.Popen[bytes], Path]:
    """Debian's snmpd in namespace b with a camera-like system group plus `extra` config lines."""
    tmp = Path(tempfile.mkdtemp())
    (tmp / "snmpd.conf").write_text(
        f"agentAddress udp:{pair.ip_b}:161\n"
        "rocommunity camscan-lab-ro default\n" + system +
        "sysLocation lab\nsysContact lab\nsysServices 72\n" + extra)
    proc = pair.popen_b(["snmpd", "-f", "-C", "-c", str(tmp / "snmpd.conf"), "-Lf", str(tmp / "log"),
                         "-p", str(tmp / "pid"), "-M", "/nonexistent", "-m", ""],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_udp_bound(pair, 161)
    return proc, tmp


@pytest.mark.lab
@lab
def test_real_snmpd(pair) -> None:  # type: ignore[no-untyped-def]
    # a camera's product-name object (a real walk of a CPP-platform camera, scanner/discovery/snmp.py)
    proc, _ = _serve(pair, 'override 1.3.6.1.4.1.3967.1.1.5.1.0 octet_str "FLEXIDOME indoor 5100i IR - 5MP"\n'
                           'override 1.3.6.1.4.1.50001.1.100.0 integer 1\n')
    try:
        ctx = netpair.make_ctx(["198.18.36.0/29"], ["198.18.36.1"],
                               snmp_communities=("wrong-one", "camscan-lab-ro"))
        ctx.host(pair.ip_b)
        ctx.host("198.18.36.5")   # live per an earlier phase, but no agent: must just time out
        obs = pair.run_in_a(lambda: netpair.collect(snmp.Snmp(timeout=0.5), ctx))
    finally:
        proc.terminate()
        proc.wait(5)
    assert {(o.ip, o.signal, o.value) for o in obs} == {
        (pair.ip_b, "snmp.sysdescr", "Hikvision company products"),
        (pair.ip_b, "snmp.sysobjectid", "1.3.6.1.4.1.50001"),
        (pair.ip_b, "snmp.sysname", "nvr-01"),
        (pair.ip_b, "snmp.model", "FLEXIDOME indoor 5100i IR - 5MP"),
        (pair.ip_b, "snmp.object", "1.3.6.1.4.1.50001.1.100.0=1")}   # an INTEGER, read with its OID
    assert ctx.stats.counters["snmp.answered"] == 1
    assert ctx.stats.errors == []


def test_enterprise_get_fits_the_message_size_every_agent_accepts() -> None:
    # RFC 3417 section 3.2: an SNMP entity must accept messages of at least 484 octets; the enterprise objects go
    # in one GET, so the request must fit that even with a long (32-character) community, or some agents drop it
    from pyasn1.codec.ber import encoder
    from pyasn1.type.univ import Null
    from pysnmp.proto import api

    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_varbinds(pdu, [(oid, Null("")) for oid in snmp.ENTERPRISE_OIDS])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, "c" * 32)
    v2c.apiMessage.set_pdu(msg, pdu)
    assert len(encoder.encode(msg)) <= 484


@pytest.mark.lab
@lab
def test_real_snmpd_answers_the_objects_it_has_and_no_such_object_for_the_rest(pair) -> None:  # type: ignore[no-untyped-def]
    # MOBOTIX p26 model and firmware as that camera reported them (homebridge-camera-ffmpeg issue #1337, cited in
    # fingerprints/mobotix.yaml), served at the MOBOTIX cameraModel / software-version objects (probes.yaml); the
    # agent has none of the other enterprise objects camscan asks
    proc, _ = _serve(pair, 'override 1.3.6.1.4.1.21701.2.1.1.0 octet_str "p26B-AU-6D"\n'
                           'override 1.3.6.1.4.1.21701.2.4.1.1.0 octet_str "MX-V5.4.6.3"\n')
    try:
        ctx = netpair.make_ctx(["198.18.36.0/29"], ["198.18.36.1"], snmp_communities=("camscan-lab-ro",))
        ctx.host(pair.ip_b)
        obs = pair.run_in_a(lambda: netpair.collect(snmp.Snmp(timeout=0.5), ctx))

        async def raw() -> list[Any]:   # the same single GET the module sends, var-binds kept as the agent gave them
            from pyasn1.type.univ import Null
            from pysnmp.hlapi.v1arch.asyncio import CommunityData, SnmpDispatcher, UdpTransportTarget, get_cmd
            from pysnmp.proto.rfc1902 import ObjectName as Name
            target = await UdpTransportTarget.create((pair.ip_b, 161), timeout=0.5, retries=0)
            err_ind, err_stat, _, var_binds = await get_cmd(
                SnmpDispatcher(), CommunityData("camscan-lab-ro", mpModel=1), target,
                *((Name(o), Null("")) for o in snmp.ENTERPRISE_OIDS))
            assert not err_ind and not err_stat
            return list(var_binds)
        var_binds = pair.run_in_a(raw)
    finally:
        proc.terminate()
        proc.wait(5)
    assert {(o.signal, o.value) for o in obs} == {
        ("snmp.sysdescr", "Hikvision company products"), ("snmp.sysobjectid", "1.3.6.1.4.1.50001"),
        ("snmp.sysname", "nvr-01"), ("snmp.model", "p26B-AU-6D"), ("snmp.firmware", "MX-V5.4.6.3")}
    assert ctx.stats.errors == []
    # one PDU, every object answered in order: two values, noSuchObject for all the others
    assert [".".join(map(str, tuple(vb[0]))) for vb in var_binds] == list(snmp.ENTERPRISE_OIDS)
    absent = [vb for vb in var_binds if isinstance(vb[1], rfc1905.NoSuchObject | rfc1905.NoSuchInstance)]
    assert len(absent) == len(snmp.ENTERPRISE_OIDS) - 2
    ident = identify(get_engine(), [(o.signal, o.value) for o in obs if o.signal in ("snmp.model", "snmp.firmware")])
    assert (ident.vendor, ident.category) == ("mobotix", "camera")


@pytest.mark.lab
@lab
def test_a_camera_behind_a_generic_linux_agent_is_named_by_its_makers_objects(pair) -> None:  # type: ignore[no-untyped-def]
    # net-snmp's own sysObjectID and a bare Linux sysDescr name nobody; BSS-RCP-MIB manufacturer-name and
    # hardware-version (probes.yaml; 'Bosch' and F000B543 as a FLEXIDOME 5100i reports them) name Bosch and video
    proc, _ = _serve(pair, 'override 1.3.6.1.4.1.3967.1.1.1.7.0 octet_str "Bosch"\n'
                           'override 1.3.6.1.4.1.3967.1.1.1.4.0 octet_str "F000B543"\n',
                     system="sysDescr Linux cam 4.9.0 #1 SMP armv7l\nsysObjectID 1.3.6.1.4.1.8072.3.2.10\n"
                            "sysName cam-01\n")
    try:
        ctx = netpair.make_ctx(["198.18.36.0/29"], ["198.18.36.1"], snmp_communities=("camscan-lab-ro",))
        ctx.host(pair.ip_b)
        obs = pair.run_in_a(lambda: netpair.collect(snmp.Snmp(timeout=0.5), ctx))
    finally:
        proc.terminate()
        proc.wait(5)
    got = [(o.signal, o.value) for o in obs]
    assert ("snmp.object", "1.3.6.1.4.1.3967.1.1.1.7.0=Bosch") in got
    assert identify(get_engine(), [g for g in got if g[0] != "snmp.object"]).vendor is None   # the system group alone
    ident = identify(get_engine(), got)
    assert (ident.vendor, ident.category) == ("bosch", "video")
