"""The lab's on-disk state: /run/camscan/<instance>/ holds state.json, the daemon's pidfile, control
socket and log, and per-host snmpd files. state.json is the ground truth of the running site."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.lab import topology
from scanner.lab.model import HiddenCamera, LabHost, Persona, recorder_channels
from scanner.lab.profiles import PlannedHost

RUN_DIR = Path(os.environ.get("CAMSCAN_RUN_DIR", "/run/camscan"))
DEFAULT_INSTANCE = "lab"


def instance_name() -> str:
    """The lab instance this process works on: $CAMSCAN_LAB, default `lab`."""
    return topology.check_instance(os.environ.get("CAMSCAN_LAB") or DEFAULT_INSTANCE)


@dataclass(frozen=True, slots=True)
class Paths:
    """Files of one lab instance."""

    root: Path

    @property
    def state(self) -> Path:
        """state.json: profile, subnet and hosts."""
        return self.root / "state.json"

    @property
    def lock(self) -> Path:
        """Lock file serialising up/down/mutate."""
        return self.root / "lock"

    @property
    def daemon_pid(self) -> Path:
        """Pidfile of the daemon."""
        return self.root / "daemon.pid"

    @property
    def control(self) -> Path:
        """Unix socket of the daemon's control channel."""
        return self.root / "control.sock"

    @property
    def log(self) -> Path:
        """The daemon's log."""
        return self.root / "daemon.log"

    @property
    def snmp(self) -> Path:
        """Directory of per-host snmpd config, pidfile and persistent data."""
        return self.root / "snmp"


def paths(instance: str) -> Paths:
    """Paths of INSTANCE."""
    return Paths(RUN_DIR / instance)


@dataclass(frozen=True, slots=True)
class LabState:
    """A running (or half-built) lab instance."""

    instance: str
    profile: str
    seed: int
    subnet: str
    scanner_ip: str
    hosts: tuple[PlannedHost, ...]
    next_index: int
    mutations: int = 0

    @property
    def prefixlen(self) -> int:
        """Prefix length of the lab subnet."""
        return int(self.subnet.split("/")[1])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (inverse of from_json)."""
        d = dataclasses.asdict(self)
        d["hosts"] = [dataclasses.asdict(h) for h in self.hosts]
        return d

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> LabState:
        """Parse state.json content written by to_json."""
        hosts = tuple(PlannedHost(**{**h, "channels": tuple(h.get("channels", ())),
                                     "hidden": tuple(HiddenCamera(**c) for c in h.get("hidden", ()))})
                      for h in d["hosts"])
        return LabState(str(d["instance"]), str(d["profile"]), int(d["seed"]), str(d["subnet"]),
                        str(d["scanner_ip"]), hosts, int(d["next_index"]), int(d.get("mutations", 0)))


def load(instance: str) -> LabState | None:
    """The saved state of INSTANCE, or None if there is none."""
    try:
        return LabState.from_json(json.loads(paths(instance).state.read_text()))
    except FileNotFoundError:
        return None


def save(state: LabState) -> None:
    """Write state.json atomically."""
    p = paths(state.instance)
    p.root.mkdir(parents=True, exist_ok=True)
    tmp = p.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=1))
    os.replace(tmp, p.state)


@contextlib.contextmanager
def locked(instance: str) -> Iterator[None]:
    """Hold the instance's lock (one up/down/mutate at a time)."""
    p = paths(instance)
    p.root.mkdir(parents=True, exist_ok=True)
    with open(p.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_files(instance: str) -> None:
    """Delete the instance's state directory (the lock file included)."""
    shutil.rmtree(paths(instance).root, ignore_errors=True)


def load_personas() -> dict[str, Persona]:
    """Every persona by name (scanner/lab/personas/*.yaml)."""
    from scanner.lab.personas import load_personas as load

    return load()


def lab_host(state: LabState, h: PlannedHost, personas: Mapping[str, Persona]) -> LabHost:
    """The LabHost record the services are given for planned host H."""
    return LabHost(netns=topology.host_ns(state.instance, h.index), ip=h.ip, mac=h.mac,
                   prefixlen=state.prefixlen, persona=personas[h.persona], serial=h.serial,
                   firmware=h.firmware, hostname=h.hostname, channels=h.channels, hidden=h.hidden)


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split("."))


def truth(state: LabState, personas: Mapping[str, Persona]) -> dict[str, Any]:
    """The `camscan lab truth` document: hosts in address order, each recorder's hidden cameras after it.

    A camera a recorder records carries `via` {recorder: its IP, channel: the channel number as the recorder
    lists it ("3": ISAPI id, Dahua RemoteDevice slot + 1, ONVIF Receiver_3/VideoSource_3)}; hidden cameras
    (no lab host; `hidden: true`) have their internal address, MAC and serial. A recorder states
    `channels_stated` (what SADP/DHIP say unauthenticated: its capacity) and `channels_configured`
    (the cameras it records, hidden ones included)."""
    via: dict[str, dict[str, str]] = {}
    for h in state.hosts:
        for ch in recorder_channels(h.hidden, h.channels):
            if ch.hidden is None:
                via[ch.ip] = {"recorder": h.ip, "channel": str(ch.number)}
    devices: list[dict[str, Any]] = []
    for h in sorted(state.hosts, key=lambda h: _ip_key(h.ip)):
        p = personas[h.persona]
        d: dict[str, Any] = {
            "ip": h.ip, "mac": h.mac, "vendor": p.vendor, "brand": p.brand, "model": p.model,
            "firmware": h.firmware, "category": p.category, "persona": p.name,
            "services": list(p.services), "hostile": p.hostile, "kind_visible": p.kind_visible,
        }
        if h.ip in via:
            d["via"] = via[h.ip]
        if p.category in ("nvr", "dvr"):
            d["channels_stated"] = p.stated_channels
            d["channels_configured"] = len(h.channels) + len(h.hidden)
        devices.append(d)
        for c in sorted(h.hidden, key=lambda c: c.channel):
            devices.append({
                "ip": c.ip, "mac": c.mac, "vendor": c.vendor, "brand": c.brand, "model": c.model,
                "firmware": c.firmware, "category": c.category, "persona": c.persona,
                "services": [], "hostile": False, "kind_visible": True, "serial": c.serial,
                "maker_reported": c.maker, "protocol": c.protocol, "hidden": True,
                "via": {"recorder": h.ip, "channel": str(c.channel)},
            })
    return {"profile": state.profile, "subnet": state.subnet, "scanner_ip": state.scanner_ip,
            "devices": devices}


def read_pid(path: Path) -> int | None:
    """The pid in a pidfile, or None."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid: int) -> list[str]:
    """The argv of process PID ([] if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def daemon_pid(instance: str) -> int | None:
    """Pid of the instance's running daemon, or None (a stale pidfile is not trusted)."""
    pid = read_pid(paths(instance).daemon_pid)
    if pid is None:
        return None
    argv = cmdline(pid)
    if "scanner.lab.daemon" in argv and instance in argv:
        return pid
    return None
