"""What discovery asks for is data (fingerprints/probes.yaml): the shipped file is sound, every entry says why and
where the fact comes from, and a bad file is refused with the entry named, before anything is sent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from scanner.discovery import http, onvif, probes, rtsp, snmp, tcp
from scanner.errors import FingerprintError
from scanner.match.load import default_root
from scanner.match.verify import check_probes

SHIPPED = default_root() / probes.FILE


def test_the_modules_ask_for_what_the_shipped_file_lists() -> None:
    p = probes.parse(SHIPPED.read_bytes())
    assert p.tcp_ports == tcp.DEFAULT_PORTS and p.http_paths == http.PROBE_PATHS
    assert p.onvif_ports == onvif.CANDIDATE_PORTS and frozenset(p.rtsp_ports) == rtsp.RTSP_PORTS
    assert dict(p.snmp_objects) == snmp.ENTERPRISE_OIDS and p.snmp_objects
    doc = yaml.safe_load(SHIPPED.read_text())
    for key in (*probes.PORT_LISTS, "http_paths", "snmp_objects"):
        assert all(e["source"].strip() and e["why"].strip() for e in doc[key]), key


def test_every_snmp_object_is_one_instance_a_single_get_can_read() -> None:
    # a GET names an instance: a scalar (.0) or a fixed row (.1); a bare column or subtree OID only ever answers
    # noSuchObject, so listing one would ask for nothing
    assert all(oid.endswith((".0", ".1")) for oid, _ in probes.load().snmp_objects)


def test_the_web_probes_never_carry_a_password_or_change_anything() -> None:
    for p in probes.load().http_paths:
        assert p.method in ("GET", "POST")
        assert b'"password":""' in p.body or b"password" not in p.body.lower()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["tcp_ports"].append(dict(d["tcp_ports"][0])), "listed twice"),
    (lambda d: d["tcp_ports"][0].update(port=70000), "1-65535"),
    (lambda d: d["tcp_ports"][0].update(port=True), "1-65535"),
    (lambda d: d["onvif_ports"][0].pop("source"), "onvif_ports entry 1: `source`"),
    (lambda d: d["http_paths"][0].update(method="DELETE"), "GET or POST"),
    (lambda d: d["http_paths"][0].update(path="ISAPI"), "start with /"),
    (lambda d: d["http_paths"][0].update(path="/a b"), "start with /"),
    (lambda d: d["http_paths"][0].update(body="{}", content_type="application/json"), "only there"),
    (lambda d: d["http_paths"][2].pop("content_type"), "only there"),
    (lambda d: d["http_paths"][2].update(body="x" * 5000), "longer than"),
    (lambda d: d.update(udp_ports=[]), "unknown key"),
    (lambda d: d["snmp_objects"][0].update(oid="1.3.6.1.4.1.x"), "snmp_objects entry 1: oid"),
    (lambda d: d["snmp_objects"][0].update(signal="snmp.sysdescr"), "signal must be one of"),
    (lambda d: d["snmp_objects"].append(dict(d["snmp_objects"][0])), "listed twice"),
    (lambda d: d.pop("rtsp_ports"), "`rtsp_ports` must be a non-empty list"),
])
def test_a_bad_file_is_refused_with_the_entry_named(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(SHIPPED.read_text())
    edit(doc)
    with pytest.raises(FingerprintError, match=message):
        probes.parse(yaml.safe_dump(doc))


def test_fingerprints_check_reports_a_bad_probes_file(tmp_path: Path) -> None:
    shutil.copy(SHIPPED, tmp_path / probes.FILE)
    assert check_probes(tmp_path) == []
    (tmp_path / probes.FILE).write_text("tcp_ports: [80]\n")
    assert check_probes(tmp_path) and "probes.yaml" in check_probes(tmp_path)[0]
    (tmp_path / probes.FILE).unlink()
    assert check_probes(tmp_path) == []   # a folder of rules only (for `camscan identify`) needs none
    with pytest.raises(FingerprintError, match=r"probes\.yaml: cannot be read"):
        probes.load(str(tmp_path))        # a scan from such a folder says what is missing
