"""Benchmark: database load time and observations matched per second on one core (realistic mix).

Run: .venv/bin/python bench/match_bench.py  (writes bench/results/match.json)
The mix is built from the database's own rule examples (what devices really send) plus as many values
of the rest of a site's kit (printers, routers, switches, NAS, PCs, phones: templates with random versions
and serials), and whole-device identification.
Load is measured in fresh processes three ways: from the validated-database cache (every run but the first
after a change), right after a rule edit (the database parsed from YAML, the IEEE registry from its cache) and
with no cache at all. Matching is measured as a scan sees it (the engine remembers recent (signal, value)
answers, and a site repeats itself) and cold: that memory off and a fresh mix whose non-surveillance values are
all new, so every observation runs the matchers. Each figure is the median of five, with its spread (min, max)
and the 1-minute load average before and after; run it under the bench lock.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scanner.inventory.resolve import identify
from scanner.match.engine import Engine
from scanner.match.load import default_root, load_database

UNKNOWN = [("http.server", "nginx/1.18.0"), ("http.server", "Apache/2.4.41 (Ubuntu)"),
           ("http.title", "Welcome"), ("ssh.banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"),
           ("mac", "00:1a:2b:3c:4d:5e"), ("snmp.sysdescr", "Linux host 5.15.0 #1 SMP x86_64"),
           ("http.www_authenticate", 'Basic realm="Restricted"'), ("tls.subject", "CN=localhost")]

# What the rest of a site sends (printers, routers, switches, NAS, PCs, phones, printers' and routers' web UIs):
# templates filled with random versions, models and serials, so a cold run sees each value once.
_HEX = "0123456789ABCDEF"
_LOOKALIKE: dict[str, list[str]] = {
    "http.server": ["nginx/1.{a}.{b}", "Apache/2.4.{c} (Ubuntu)", "Apache/2.4.{c} (Debian) OpenSSL/1.1.1{l}",
                    "Microsoft-IIS/{a}.0", "lighttpd/1.4.{c}", "HP HTTP Server; HP LaserJet Pro M{n3}dn - {S8}; "
                    "Serial Number: {S10}", "Virata-EmWeb/R6_{a}_{b}", "RomPager/4.{c} UPnP/1.0", "mini_httpd/1.{c} "
                    "{d}Oct2018", "Jetty({a}.4.{c}.v2021{n4})", "Microsoft-HTTPAPI/2.0", "cloudflare",
                    "openresty/1.{a}.{b}",
                    "Caddy", "Kestrel", "Xerox_MicroServer/Xerox{a}", "KS_HTTP/1.0", "CUPS/2.{b} IPP/2.1",
                    "Debut/1.{c}", "EPSON_Linux UPnP/1.0 Epson UPnP SDK/1.0", "httpd", "uhttpd", "Lexmark_Web_Server",
                    "TwistedWeb/2{a}.{b}.0", "Werkzeug/2.{b}.{c} Python/3.{a}.{b}", "Synology/DSM/7.{b}"],
    "http.title": ["{vendor} {model} Series", "HP LaserJet Pro MFP M{n3}fdw", "Brother HL-L{n4}DW series",
                   "RICOH MP C{n4}", "Web Image Monitor", "SHARP MX-{n4}N", "KONICA MINOLTA PageScope Web Connection",
                   "NETGEAR Router R{n4}", "ASUS Wireless Router RT-AC{n2}U - Login", "FRITZ!Box", "OpenWrt - LuCI",
                   "pfSense - Login", "Synology DiskStation - {host}", "QNAP Turbo NAS", "UniFi OS", "Login",
                   "Index of /", "Welcome to nginx!", "IIS Windows Server", "Apache2 Ubuntu Default Page: It works",
                   "MikroTik RouterOS > Login", "Cisco Systems Inc. - Login", "{host} - Dashboard", "Grafana",
                   "Jenkins [Jenkins]", "Printer Status", "Xerox WorkCentre {n4}", "EPSON WF-{n4} Series",
                   "Lexmark MS{n3}dn", "Home Assistant", "Plex", "Zabbix", "GitLab", "Outlook", "Sign in"],
    "http.www_authenticate": ['Basic realm="{vendor}"', 'Basic realm="NETGEAR R{n4}"', 'Digest realm="RICOH", '
                              'nonce="{h32}", qop="auth"', 'Basic realm="Synology"', "Negotiate", "NTLM",
                              'Basic realm="RT-AC{n2}U"', 'Basic realm="Brother"', 'Basic realm="Restricted"',
                              'Digest realm="{host}", nonce="{h32}", algorithm=MD5, qop="auth"',
                              'Bearer realm="{host}", error="invalid_token"', 'Basic realm="Please login"',
                              'Digest qop="auth", realm="Printer", nonce="{h16}", opaque="{h16}"',
                              'Basic realm="Login to the Router Web Configurator"', 'Basic realm="level_15_access"'],
    "http.body": ['<html><head><meta http-equiv="refresh" content="0;url=/{word}/index.html"></head></html>',
                  '<!DOCTYPE html><html lang="en"><head><title>{vendor} {model}</title><link rel="stylesheet" '
                  'href="/css/main.{h8}.css"><script src="/js/app.{h8}.js"></script></head><body><div id="app">'
                  '</div></body></html>', '<html><body><h1>It works!</h1><p>This is the default web page for this '
                  'server.</p></body></html>', '<form action="/cgi-bin/login.cgi" method="post"><input name="user">'
                  '<input type="password" name="pass"></form>',
                  'var sysName = "{host}"; var fwVersion = "V{a}.{b}.{c}";',
                  '<div class="toner">Black Cartridge {n3}A: {n2}%</div>', '{{"status":"ok","version":"{a}.{b}.{c}"}}'],
    "tls.subject": ["CN={host}", "CN={host}.local", "CN=HP LaserJet M{n3}, O=HP", "CN=router.asus.com",
                    "CN=synology, O=Synology Inc., C=TW", "CN=*.{word}.com, O={vendor} Ltd, C=GB", "CN=localhost",
                    "CN=UniFi, OU=UniFi, O=Ubiquiti Inc., L=New York, ST=NY, C=US", "CN=pfSense-{h8}",
                    "CN=fritz.box", "CN={S10}, O=Brother Industries Ltd", "CN=Default, O=Lexmark"],
    "tls.issuer": ["CN=R{b}, O=Let's Encrypt, C=US", "CN={host}", "CN=DigiCert TLS RSA SHA256 2020 CA1, "
                   "O=DigiCert Inc, C=US", "CN={vendor} Root CA, O={vendor}", "CN=Sectigo RSA Domain Validation "
                   "Secure Server CA, O=Sectigo Limited, L=Salford, ST=Greater Manchester, C=GB"],
    "ssh.banner": ["SSH-2.0-OpenSSH_{a}.{b}", "SSH-2.0-OpenSSH_8.{b}p1 Ubuntu-{b}ubuntu0.{c}",
                   "SSH-2.0-dropbear_20{n2}.{c}", "SSH-2.0-Cisco-1.25", "SSH-2.0-ROSSSH",
                   "SSH-2.0-OpenSSH_for_Windows_8.1",
                   "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u{b}", "SSH-2.0-HUAWEI-1.5", "SSH-2.0-Comware-7.1.{c}"],
    "snmp.sysdescr": ["HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD{n3},EEPROM JSI{n4}{n4},CIDATE 08/16/2021",
                      "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.{b}({c})SE{b}, RELEASE "
                      "SOFTWARE (fc1)", "Linux {host} 4.4.{c}+ #{n4} SMP Mon Jun 1 x86_64", "Brother NC-{n4}w, "
                      "Firmware Ver.1.{c} ,MID 8CE-F0C-001", "Hardware: Intel64 Family 6 Model {c} Stepping {b} AT/AT "
                      "COMPATIBLE - Software: Windows Version 6.3 (Build {n4} Multiprocessor Free)",
                      "RouterOS CCR{n4}-{n2}G", "Xerox WorkCentre {n4} v1 Multifunction System",
                      "ProCurve J{n4}A Switch "
                      "{n4}-{n2}G, revision W.{n2}.{n2}, ROM W.{n2}.{n2}", "Linux {host} 5.{b}.{c}-{n2}-generic #{n2}"
                      "-Ubuntu SMP x86_64", "RICOH MP C{n4} {a}.{b} / RICOH Network Printer C model"],
    "hostname": ["DESKTOP-{S8}", "LAPTOP-{S8}", "iPhone", "{word}-iPad", "android-{h16}", "HP{h8}", "BRW{h12}",
                 "NPI{h8}", "{word}-nas", "raspberrypi", "{word}-pc", "SEC{h12}", "Galaxy-S{n2}", "{host}"],
    "dhcp.vendor_class": ["MSFT 5.0", "android-dhcp-{n2}", "udhcp 1.{c}.{b}", "dhcpcd-{a}.{b}.{c}:Linux-5.{b}",
                          "HP LaserJet", "Cisco Systems, Inc. IP Phone CP-{n4}", "ubnt",
                          "PXEClient:Arch:00007:UNDI:003016"],
    "mdns.service": ["_ipp._tcp.local.", "_printer._tcp.local.", "_airplay._tcp.local.", "_googlecast._tcp.local.",
                     "_smb._tcp.local.", "_workstation._tcp.local.", "_http._tcp.local.", "_raop._tcp.local."],
    "mdns.name": ["{vendor} {model} ({h8})", "Living Room TV", "{word}'s MacBook Pro", "HP LaserJet M{n3} [{h8}]"],
    "ssdp.server": ["Linux/{a}.{b} UPnP/1.0 {vendor}/{a}.{b}", "Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0",
                    "Linux/3.{c} UPnP/1.0 Sonos/{n2}.{b}-{n4} (ZPS{n2})", "FRITZ!Box UPnP/1.0 AVM FRITZ!Box {n4}",
                    "Ubuntu/22.04 UPnP/1.1 MiniDLNA/1.{b}.{c}"],
    "snmp.sysobjectid": ["1.3.6.1.4.1.11.2.3.9.1", "1.3.6.1.4.1.9.1.{n3}", "1.3.6.1.4.1.311.1.1.3.1.{b}",
                         "1.3.6.1.4.1.8072.3.2.10", "1.3.6.1.4.1.2435.2.3.9.1", "1.3.6.1.4.1.14988.1"],
    "telnet.banner": ["User Access Verification\r\n\r\nUsername: ", "{host} login: ", "Welcome to {vendor}\r\nlogin:",
                      "\r\nBusyBox v1.{c}.{b} built-in shell (ash)\r\n"],
    "rtsp.server": ["GStreamer RTSP server", "Wowza Streaming Engine {a}.{b}.{c}",
                    "VLC/3.0.{c} (LIVE555 Streaming Media v2016.11.28)"],
    "upnp.manufacturer": ["{vendor}", "Microsoft Corporation", "Sonos, Inc.", "Samsung Electronics", "Roku", "NETGEAR"],
    "http.favicon_mmh3": ["{sn9}", "-{sn9}", "{sn10}", "-{sn10}"],
    "http.path": ["/index.html", "/login.html", "/{word}/", "/api/v{b}/status", "/cgi-bin/luci", "/hp/device/start"],
}
_VENDORS = ["HP", "Brother", "RICOH", "Xerox", "Canon", "Epson", "Lexmark", "NETGEAR", "ASUS", "Synology", "QNAP",
            "Ubiquiti", "MikroTik", "Cisco", "Aruba", "Juniper", "Fortinet", "Sonos", "Samsung", "LG", "Apple",
            "Dell", "Lenovo", "Kyocera", "Sharp", "Zyxel", "Draytek", "Netgear", "Buffalo", "WD"]
_WORDS = ["office", "finance", "reception", "lab", "store", "alpha", "north", "cloud", "portal", "media", "print"]


def lookalike(rng: random.Random) -> tuple[str, str]:
    """One observation the rest of a site's kit sends (not a surveillance device), random versions and serials."""
    sig = rng.choice(list(_LOOKALIKE))
    word = rng.choice(_WORDS)
    return sig, rng.choice(_LOOKALIKE[sig]).format(
        a=rng.randrange(1, 12), b=rng.randrange(10), c=rng.randrange(100), d=rng.randrange(1, 31),
        l=rng.choice("fghijk"), n2=rng.randrange(10, 99), n3=rng.randrange(100, 999),
        n4=rng.randrange(1000, 9999), sn9=rng.randrange(10**8, 10**9), sn10=rng.randrange(10**9, 2**31),
        S8="".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8)),
        S10="".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10)),
        h8="".join(rng.choice(_HEX) for _ in range(8)), h12="".join(rng.choice(_HEX) for _ in range(12)),
        h16="".join(rng.choice(_HEX.lower()) for _ in range(16)),
        h32="".join(rng.choice(_HEX.lower()) for _ in range(32)),
        vendor=rng.choice(_VENDORS), model=f"{rng.choice('ABCDEFGMX')}{rng.randrange(100, 9999)}",
        word=word, host=f"{word}-{rng.randrange(1, 99):02d}")


_LOAD = """
import json, sys, time
t0 = time.perf_counter()
from scanner.match.load import default_root, load_database
from scanner.match.engine import Engine
t1 = time.perf_counter()
db = load_database(sys.argv[2] or None, cache=sys.argv[1] == "1")
t2 = time.perf_counter()
Engine(db)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "compile": t3 - t2}))
"""


def _load_in_fresh_process(mode: str) -> dict[str, float]:
    """Median of five fresh interpreters (import, load and compile seconds, and the spread of load+compile).
    mode "hit": the validated-database cache holds this version (every run but the first after a change);
    "miss": a rule was just edited (a copy of the folder, one comment added per run, in a private cache home
    that already holds the IEEE registry); "none": no cache at all (CAMSCAN_FINGERPRINT_CACHE=0)."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        root = ""
        if mode == "miss":
            env["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
            root = str(Path(tmp) / "fingerprints")
            shutil.copytree(default_root(), root)
            subprocess.run([sys.executable, "-c", _LOAD, "1", root], check=True, capture_output=True, env=env)
        for i in range(5):
            if mode == "miss":
                with open(Path(root) / "generic.yaml", "a") as f:
                    f.write(f"\n# edit {i}\n")
            out = subprocess.run([sys.executable, "-c", _LOAD, "0" if mode == "none" else "1", root], check=True,
                                 capture_output=True, text=True, env=env).stdout
            runs.append(json.loads(out))
    totals = sorted(r["load"] + r["compile"] for r in runs)
    med = sorted(runs, key=lambda r: r["load"] + r["compile"])[2]
    return {**med, "min": totals[0], "max": totals[-1]}


def _rate(make: Callable[[], Engine], mix: list[tuple[str, str]],
          warm: list[tuple[str, str]]) -> tuple[list[int], list[int]]:
    """Observations per second by the wall clock and per CPU second of this process (what one core does, while
    other processes share the machine), five passes over mix each (sorted), each by a new engine after warm
    (other values, or the first of mix) has compiled the lazily compiled regexes (and filled the memo, if on)."""
    wall, cpu = [], []
    for _ in range(5):
        eng = make()
        for s, v in warm:
            eng.match(s, v)
        gc.collect()   # the garbage of setting up (the last engine, the warm-up) is not matching's to collect
        t, c = time.perf_counter(), time.process_time()
        for s, v in mix:
            eng.match(s, v)
        c, t = time.process_time() - c, time.perf_counter() - t
        wall.append(round(len(mix) / t))
        cpu.append(round(len(mix) / c))
    return sorted(wall), sorted(cpu)


def _mix(rng: random.Random, known: list[tuple[str, str]], ouis: list[str], n: int,
         other: Callable[[], tuple[str, str]]) -> list[tuple[str, str]]:
    """n observations: 10 % MACs (every device has its own: never repeated), then half the database's real
    examples (what surveillance devices send), half what the rest of the site sends (other())."""
    out = []
    for _ in range(n):
        if rng.random() < 0.1:
            p = rng.choice(ouis) if rng.random() < 0.5 else f"{rng.randrange(1 << 24):06X}"
            tail = ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
            out.append(("mac", f"{p[0:2]}:{p[2:4]}:{p[4:6]}:{tail}"))
        else:
            out.append(rng.choice(known) if rng.random() < 0.5 else other())
    return out


def main() -> None:
    load_before = os.getloadavg()[0]
    load_database()   # make sure the cache holds this version
    cold_load = _load_in_fresh_process("none")
    miss_load = _load_in_fresh_process("miss")
    warm_load = _load_in_fresh_process("hit")
    db = load_database()
    eng = Engine(db)
    rng = random.Random(7)
    known = [(r.signal, ex.value) for r in db.rules for ex in r.examples]
    ouis = [p for p in db.oui if len(p) == 6]
    # as a scan sees it: a site repeats itself (its IT kit: a few hundred distinct strings), MACs never repeat
    kit = UNKNOWN + [lookalike(rng) for _ in range(500)]
    mix = _mix(rng, known, ouis, 50_000, lambda: rng.choice(kit))
    warm_rates, warm_cpu = _rate(lambda: Engine(db), mix, mix[:2000])
    # cold: no memo, and every non-surveillance value is new (random versions, serials, hosts); the warm-up
    # (every real example once, other look-alikes) only compiles regexes
    cold_rng = random.Random(11)
    cold_mix = _mix(cold_rng, known, ouis, 50_000, lambda: lookalike(cold_rng))
    cold_warm = known + [lookalike(random.Random(13)) for _ in range(2000)]
    cold_rates, cold_cpu = _rate(lambda: Engine(db, memo=0), cold_mix, cold_warm)
    cold_eng = Engine(db, memo=0)
    cold_hits = sum(1 for s, v in cold_mix if cold_eng.match(s, v)[0])
    for s, v in mix:   # identification as a scan sees it: the engine has met the site's values before
        eng.match(s, v)
    devices = [mix[i:i + 8] for i in range(0, 20_000, 8)]
    t3 = time.perf_counter()
    for d in devices:
        identify(eng, d)
    ident_s = time.perf_counter() - t3
    res = {
        "python": platform.python_version(), "machine": platform.machine(),
        "rules": len(db.rules), "model_rules": len(db.model_rules), "oui_prefixes": len(db.oui),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],   # before, after
        "load_seconds": round(warm_load["load"], 4), "compile_seconds": round(warm_load["compile"], 4),
        "load_plus_compile_seconds": round(warm_load["load"] + warm_load["compile"], 4),
        "load_plus_compile_seconds_spread": [round(warm_load["min"], 4), round(warm_load["max"], 4)],
        "load_plus_compile_seconds_after_rule_edit": round(miss_load["load"] + miss_load["compile"], 4),
        "load_plus_compile_seconds_after_rule_edit_spread": [round(miss_load["min"], 4), round(miss_load["max"], 4)],
        "load_plus_compile_seconds_without_cache": round(cold_load["load"] + cold_load["compile"], 4),
        "load_plus_compile_seconds_without_cache_spread": [round(cold_load["min"], 4), round(cold_load["max"], 4)],
        "import_seconds": round(warm_load["import"], 4),
        "observations": len(mix), "distinct_values": len(set(mix)),
        "observations_per_second": warm_rates[2], "observations_per_second_spread": [warm_rates[0], warm_rates[-1]],
        "observations_per_cpu_second": warm_cpu[2], "observations_per_cpu_second_spread": [warm_cpu[0], warm_cpu[-1]],
        "cold_observations": len(cold_mix), "cold_distinct_values": len(set(cold_mix)),
        "cold_distinct_examples": len({o for o in cold_mix if o in set(known)}),
        "cold_share_with_evidence": round(cold_hits / len(cold_mix), 3),
        "observations_per_second_without_memo": cold_rates[2],
        "observations_per_second_without_memo_spread": [cold_rates[0], cold_rates[-1]],
        "observations_per_cpu_second_without_memo": cold_cpu[2],
        "observations_per_cpu_second_without_memo_spread": [cold_cpu[0], cold_cpu[-1]],
        "devices": len(devices), "observations_per_device": 8,
        "identify_observations_per_second": round(len(devices) * 8 / ident_s),
        "identify_devices_per_second": round(len(devices) / ident_s),
    }
    out = Path(__file__).parent / "results" / "match.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
