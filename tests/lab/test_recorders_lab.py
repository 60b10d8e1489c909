"""The `recorders` lab (issue 13): recorders tell of the cameras on their own PoE networks, and those cameras
answer nothing. Checked with a client of our own, independent of camscan's scanner code (urllib with HTTP
Digest, a hand-written WS-UsernameToken, raw SADP/DHIP datagrams), run in the scanner namespace."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.lab import topology
from tests.lab.conftest import Lab, running_lab

pytestmark = pytest.mark.lab

HIK_FAMILY = {"hikvision-nvr", "lts-nvr"}
DAHUA_FAMILY = {"dahua-nvr", "lorex-nvr"}

CLIENT = r'''
import base64, datetime, errno, hashlib, json, os, socket, struct, sys, time, urllib.request
from xml.etree import ElementTree as ET

USER, PASSWORD = "admin", "camscan-lab"


def get(ip, path):
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, f"http://{ip}/", USER, PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))
    with opener.open(f"http://{ip}{path}", timeout=10) as r:
        return r.read()


def local(tag):
    return tag.rsplit("}", 1)[-1]


def isapi(ip):
    root = ET.fromstring(get(ip, "/ISAPI/ContentMgmt/InputProxy/channels"))
    out = []
    for ch in root:
        f = {local(e.tag): (e.text or "") for e in ch.iter()}
        out.append({k: f.get(k, "") for k in ("id", "ipAddress", "model", "serialNumber", "proxyProtocol",
                                               "connMode", "manufacturer")})
    return out


def dahua(ip):
    body = get(ip, "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice").decode()
    slots = {}
    for line in body.split("\r\n"):
        if not line:
            continue
        key, _, value = line.partition("=")
        head, _, field = key.rpartition(".")
        slots.setdefault(int(head.rsplit("_", 1)[1]), {})[field] = value
    return {str(n): f for n, f in sorted(slots.items())}


def receivers(ip):
    nonce = os.urandom(16)
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + PASSWORD.encode()).digest()).decode()
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    kind = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
    env = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>'
           f'<wsse:Security xmlns:wsse="{wsse}" xmlns:wsu="{wsu}"><wsse:UsernameToken><wsse:Username>{USER}'
           f'</wsse:Username><wsse:Password Type="{kind}">{digest}</wsse:Password><wsse:Nonce>'
           f"{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>"
           "</wsse:UsernameToken></wsse:Security></s:Header><s:Body>"
           '<GetReceivers xmlns="http://www.onvif.org/ver10/receiver/wsdl"/></s:Body></s:Envelope>')
    req = urllib.request.Request(f"http://{ip}/onvif/Receiver", env.encode(),
                                 {"Content-Type": "application/soap+xml; charset=utf-8"})
    root = ET.fromstring(urllib.request.urlopen(req, timeout=10).read())
    out = []
    for r in root.iter():
        if local(r.tag) == "Receivers":
            f = {local(e.tag): (e.text or "") for e in r.iter()}
            out.append([f["Token"], f["MediaUri"]])
    return out


def discover():
    found = {}
    sadp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sadp.bind(("0.0.0.0", 0))
    sadp.sendto(b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>9F2E6A1C-3B4D-4E5F-8A9B-0C1D2E3F4A5B'
                b"</Uuid><Types>inquiry</Types></Probe>", ("239.255.255.250", 37020))
    dhip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dhip.bind(("0.0.0.0", 0))
    payload = b'{"method":"DHDiscover.search","params":{"mac":"","uni":1}}\n'
    frame = (struct.pack("<I", 0x20) + b"DHIP" + struct.pack("<IIIIII", 0, 0, len(payload), 0, len(payload), 0)
             + payload)
    dhip.sendto(frame, ("239.255.255.251", 37810))
    deadline = time.monotonic() + 3
    for s in (sadp, dhip):
        s.setblocking(False)
    while time.monotonic() < deadline:
        for s in (sadp, dhip):
            try:
                data, (src, _) = s.recvfrom(65535)
            except BlockingIOError:
                continue
            if s is sadp:
                root = ET.fromstring(data)
                found.setdefault(src, {})["sadp"] = [root.findtext("AnalogChannelNum"),
                                                     root.findtext("DigitalChannelNum")]
            else:
                info = json.loads(data[0x20:].decode())["params"]["deviceInfo"]
                found.setdefault(src, {})["dhip"] = info.get("RemoteVideoInputChannels")
        time.sleep(0.02)
    return found


def unreachable(ips):
    out = {}
    for ip in ips:
        errs = []
        for port in (80, 554, 8000, 37777):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect((ip, port))
                errs.append("connected")
            except OSError as e:
                errs.append(errno.errorcode.get(e.errno or 0, "timeout"))
            finally:
                s.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.sendto(b"x", (ip, 37020))
            errs.append("sent")
        except OSError as e:
            errs.append(errno.errorcode.get(e.errno or 0, "?"))
        finally:
            u.close()
        out[ip] = errs
    return out


cmd, args = sys.argv[1], sys.argv[2:]
result = {"isapi": lambda: isapi(args[0]), "dahua": lambda: dahua(args[0]),
          "receivers": lambda: receivers(args[0]), "discover": discover,
          "unreachable": lambda: unreachable(args)}[cmd]()
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab("rec", "--profile", "recorders", "--seed", "11") as lab:
        yield lab


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recorders") / "recorder_client.py"
    path.write_text(CLIENT)
    return path


def _run(lab: Lab, client: Path, *args: str) -> Any:
    return json.loads(lab.exec(sys.executable, str(client), *args).stdout.strip().splitlines()[-1])


def _channels(truth: dict[str, Any], recorder: str) -> list[dict[str, Any]]:
    """Truth devices recorded by RECORDER, in channel order."""
    return sorted((d for d in truth["devices"] if d.get("via", {}).get("recorder") == recorder),
                  key=lambda d: int(d["via"]["channel"]))


def test_truth_holds_the_recorders_and_their_hidden_cameras(lab: Lab) -> None:
    truth = lab.truth()
    net = ipaddress.IPv4Network(truth["subnet"])
    recorders = [d for d in truth["devices"] if d["category"] == "nvr"]
    hidden = [d for d in truth["devices"] if d.get("hidden")]
    assert len(recorders) >= 5 and len(hidden) >= 20
    assert {d["persona"] for d in recorders} == HIK_FAMILY | DAHUA_FAMILY
    for d in hidden:
        assert ipaddress.IPv4Address(d["ip"]) not in net
        assert ipaddress.IPv4Address(d["ip"]) in ipaddress.IPv4Network("198.19.0.0/16")
    for r in recorders:
        assert r["channels_configured"] == len(_channels(truth, r["ip"])) <= r["channels_stated"]
    both = [d for d in truth["devices"] if "via" in d and not d.get("hidden")]
    assert both, "no camera is seen both directly and through its recorder"
    assert all(ipaddress.IPv4Address(d["ip"]) in net for d in both)


def test_a_digest_client_reads_exactly_the_truths_channels(lab: Lab, client: Path) -> None:
    truth = lab.truth()
    for rec in (d for d in truth["devices"] if d["category"] == "nvr"):
        want = _channels(truth, rec["ip"])
        if rec["persona"] in HIK_FAMILY:
            got = _run(lab, client, "isapi", rec["ip"])
            assert [(c["id"], c["ipAddress"], c["model"]) for c in got] == [
                (d["via"]["channel"], d["ip"], d["model"]) for d in want], rec["persona"]
            for c, d in zip(got, want, strict=True):
                if d.get("hidden"):
                    assert c["serialNumber"] == d["serial"] and c["connMode"] == "plugplay"
                assert c["proxyProtocol"] == ("HIKVISION" if d["vendor"] == "hikvision" else "ONVIF")
                assert c["manufacturer"] == ""
        else:
            slots = _run(lab, client, "dahua", rec["ip"])
            assert len(slots) == rec["channels_stated"]
            enabled = [(str(int(n) + 1), f["Address"], f["DeviceType"]) for n, f in slots.items()
                       if f["Enable"] == "true"]
            assert enabled == [(d["via"]["channel"], d["ip"], d["model"]) for d in want], rec["persona"]
            assert all(f["Address"] == "192.168.0.0" for f in slots.values() if f["Enable"] == "false")
            assert [f["Password"] for f in slots.values()] == [f"lab-camera-secret-{int(n) + 1}" for n in slots]
            for d in want:
                f = slots[str(int(d["via"]["channel"]) - 1)]
                if d.get("hidden"):
                    assert f["SerialNo"] == d["serial"]
                assert f["Vendor"] == ("Private" if d["vendor"] == "dahua" else "Onvif")
        uris = _run(lab, client, "receivers", rec["ip"])
        assert [(t, u.split("/")[2].split(":")[0]) for t, u in uris] == [
            (f"Receiver_{d['via']['channel']}", d["ip"]) for d in want], rec["persona"]


def test_hidden_addresses_answer_nothing_and_no_lab_namespace_holds_one(lab: Lab, client: Path) -> None:
    truth = lab.truth()
    hidden = [d["ip"] for d in truth["devices"] if d.get("hidden")]
    result = _run(lab, client, "unreachable", *hidden)
    assert set(result) == set(hidden)
    for ip, errs in result.items():
        assert errs == ["ENETUNREACH"] * 5, (ip, errs)   # no route: not even a SYN or an ARP leaves
    inner = ipaddress.IPv4Network("198.19.0.0/16")
    names = topology.instance_namespaces(lab.instance, topology.list_namespaces())
    assert names
    for ns in names:
        out = subprocess.run(["ip", "-n", ns, "-j", "-4", "addr"], capture_output=True, text=True, check=True)
        addrs = [a["local"] for link in json.loads(out.stdout) for a in link.get("addr_info", [])]
        assert not [a for a in addrs if ipaddress.IPv4Address(a) in inner], ns


def test_unauthenticated_channel_counts_are_the_truths(lab: Lab, client: Path) -> None:
    truth = lab.truth()
    found = _run(lab, client, "discover")
    for rec in (d for d in truth["devices"] if d["category"] == "nvr"):
        said = found.get(rec["ip"], {})
        if rec["persona"] in HIK_FAMILY:
            assert said.get("sadp") == ["0", str(rec["channels_stated"])], rec
        else:
            assert said.get("dhip") == rec["channels_stated"], rec
    assert not set(found) & {d["ip"] for d in truth["devices"] if d.get("hidden")}
