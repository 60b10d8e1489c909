"""What `camscan lab ...` does: bring an instance up or down, report status and truth, mutate it,
and talk to its daemon over the control socket."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import scanner
from scanner.errors import CamscanError, InputError
from scanner.lab import netns, profiles, topology
from scanner.lab import state as lab_state
from scanner.lab.profiles import PlannedHost
from scanner.lab.state import LabState

DAEMON_START_TIMEOUT = 60.0
SYNC_TIMEOUT = 600.0
REACH_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class LabStateError(CamscanError):
    """The lab is not in the state the command needs (not up, already up, broken)."""


@dataclass(frozen=True, slots=True)
class UpResult:
    """What `lab up` brought up."""

    instance: str
    profile: str
    subnet: str
    scanner_ip: str
    hosts: int
    snmpd: int
    seconds: float
    arp_filter: bool = True

    def summary(self) -> str:
        """The one-line report printed by `camscan lab up`."""
        return (f"lab '{self.instance}' up: profile {self.profile}, {self.hosts} hosts on {self.subnet}, "
                f"scanner {self.scanner_ip} (camscan lab exec -- ...), {self.snmpd} snmpd, "
                f"{self.seconds:.1f}s" + ("" if self.arp_filter else ", ARP filter off"))


load_personas = lab_state.load_personas


# --- the daemon's control socket -------------------------------------------------------------

def request(instance: str, op: str, timeout: float = 30.0) -> dict[str, Any]:
    """Send one control request to the instance's daemon and return its JSON reply."""
    path = lab_state.paths(instance).control
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            s.sendall(json.dumps({"op": op}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
        except (OSError, TimeoutError) as e:
            raise LabStateError(f"lab '{instance}' daemon did not answer {op!r}: {e}") from None
    try:
        reply: dict[str, Any] = json.loads(buf)
    except ValueError:
        raise LabStateError(f"lab '{instance}' daemon gave no reply to {op!r}") from None
    return reply


def _spawn_daemon(instance: str) -> subprocess.Popen[bytes]:
    p = lab_state.paths(instance)
    env = dict(os.environ)
    src = str(Path(scanner.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(p.log, "ab") as logf:
        return subprocess.Popen([sys.executable, "-m", "scanner.lab.daemon", "--instance", instance],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, cwd="/", env=env,
                                start_new_session=True, close_fds=True)


def _log_tail(instance: str, n: int = 1500) -> str:
    try:
        return lab_state.paths(instance).log.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _keep_failure_log(instance: str) -> Path | None:
    tail = _log_tail(instance, 200_000)
    if not tail:
        return None
    out = lab_state.RUN_DIR / f"{instance}.failed.log"
    with contextlib.suppress(OSError):
        out.write_text(tail)
        return out
    return None


def _wait_daemon(instance: str, proc: subprocess.Popen[bytes]) -> None:
    p = lab_state.paths(instance)
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while not (p.control.exists() and p.daemon_pid.exists()):
        if proc.poll() is not None:
            last = _log_tail(instance).strip().splitlines()[-1:] or ["(no log)"]
            raise LabStateError(f"lab daemon exited at start ({proc.returncode}): {last[0]}")
        if time.monotonic() > deadline:
            raise LabStateError("lab daemon did not start within 60 s")
        time.sleep(0.05)


# --- reachability from the scanner namespace --------------------------------------------------

def _icmp_echo(ident: int, seq: int) -> bytes:
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    payload = b"camscan-lab"
    data = hdr + payload + b"\0" * (len(payload) % 2)
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return struct.pack("!BBHHH", 8, 0, ~s & 0xFFFF, ident, seq) + payload


async def _ping_all(ns: str, ips: Sequence[str], timeout: float) -> set[str]:
    """The addresses among IPS that answered an ICMP echo sent from namespace NS."""
    if not ips:
        return set()
    loop = asyncio.get_running_loop()
    sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    ident = os.getpid() & 0xFFFF
    answered: set[str] = set()
    wanted = set(ips)
    deadline = loop.time() + timeout
    try:
        while wanted - answered and loop.time() < deadline:
            for i, ip in enumerate(ips):
                if ip not in answered:
                    with contextlib.suppress(OSError):
                        sock.sendto(_icmp_echo(ident, i), (ip, 0))
            round_end = min(deadline, loop.time() + 0.5)
            while wanted - answered and loop.time() < round_end:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 2048), round_end - loop.time())
                except TimeoutError:
                    break
                if len(data) < 28:
                    continue
                ihl = (data[0] & 0x0F) * 4
                if data[ihl] == 0 and struct.unpack("!H", data[ihl + 4:ihl + 6])[0] == ident:
                    answered.add(socket.inet_ntoa(data[12:16]))
    finally:
        sock.close()
    return answered & wanted


async def _connect(ns: str, ip: str, port: int, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), max(0.1, deadline - loop.time()))
            return True
        except (OSError, TimeoutError):
            await asyncio.sleep(0.2)
        finally:
            sock.close()
    return False


async def _reach(ns: str, targets: Mapping[str, int | None], timeout: float) -> dict[str, str]:
    pinged = await _ping_all(ns, list(targets), timeout)
    sem = asyncio.Semaphore(64)

    async def one(ip: str, port: int) -> tuple[str, int, bool]:
        async with sem:
            return ip, port, await _connect(ns, ip, port, timeout)

    tcp = await asyncio.gather(*(one(ip, port) for ip, port in targets.items() if port is not None))
    bad = {ip: "no ICMP echo reply" for ip in targets if ip not in pinged}
    for ip, port, ok in tcp:
        if not ok:
            bad[ip] = f"{bad[ip]}, " if ip in bad else ""
            bad[ip] += f"TCP {port} refused or timed out"
    return dict(sorted(bad.items(), key=lambda kv: int(ipaddress.IPv4Address(kv[0]))))


def unreachable(instance: str, targets: Mapping[str, int | None], timeout: float = REACH_TIMEOUT
                ) -> dict[str, str]:
    """Hosts (IP -> a TCP port to connect to, or None) that do not answer from the scanner namespace,
    with what failed."""
    return asyncio.run(_reach(topology.scanner_ns(instance), targets, timeout))


def _unanswered(what: str, bad: Mapping[str, str]) -> LabStateError:
    first = "; ".join(f"{ip}: {why}" for ip, why in list(bad.items())[:4])
    return LabStateError(f"{len(bad)} {what} do not answer from the scanner namespace ({first})")


def _targets(ips: Sequence[str], reply: Mapping[str, Any]) -> dict[str, int | None]:
    ports: Mapping[str, list[int]] = reply.get("tcp_ports", {})
    return {ip: next(iter(ports.get(ip) or ()), None) for ip in ips}


# --- commands ----------------------------------------------------------------------------------

def _links(hosts: Sequence[PlannedHost]) -> list[topology.HostLink]:
    return [topology.HostLink(h.index, h.ip, h.mac) for h in hosts]


def _scanner_link(st: LabState) -> topology.HostLink:
    return topology.HostLink(0, st.scanner_ip, profiles.scanner_mac(st.seed))


def _sync(instance: str) -> dict[str, Any]:
    reply = request(instance, "sync", timeout=SYNC_TIMEOUT)
    if not reply.get("ok"):
        failed: Mapping[str, str] = reply.get("failed", {})
        if failed:
            first = "; ".join(f"{ip}: {why}" for ip, why in list(failed.items())[:3])
            raise LabStateError(f"{len(failed)} lab hosts failed to start ({first})")
        raise LabStateError(f"lab daemon: {reply.get('error', 'sync failed')}")
    return reply


def is_present(instance: str) -> bool:
    """True if anything of INSTANCE exists (state, daemon or namespaces)."""
    return (lab_state.paths(instance).state.exists() or lab_state.daemon_pid(instance) is not None
            or bool(topology.instance_namespaces(instance, topology.list_namespaces())))


def up(instance: str, profile_name: str, seed: int, subnet: str | None = None, arp_filter: bool = True
       ) -> UpResult:
    """Build the topology (with the ARP flood filter unless told not to: topology.set_arp_filter), start the
    daemon and return once every host answers."""
    topology.require_privileges()
    t0 = time.monotonic()
    profile = profiles.get_profile(profile_name)
    # bad input is refused before anything, even the state directory, is created
    net = topology.check_subnet(subnet or profile.subnet, profile.size)
    scanner_ip = str(net.network_address + 1)
    hosts = profiles.plan(profile, seed, net, scanner_ip, load_personas())
    with lab_state.locked(instance):
        st0 = lab_state.load(instance)
        if st0 is not None and lab_state.daemon_pid(instance) is not None:
            raise LabStateError(f"lab '{instance}' is already up (profile {st0.profile}, "
                                f"{len(st0.hosts)} hosts); run `camscan lab down` first")
        if is_present(instance):
            raise LabStateError(f"lab '{instance}' has leftovers of an earlier run; "
                                "run `camscan lab down` first")
        st = LabState(instance, profile.name, seed, str(net), scanner_ip, tuple(hosts),
                      next_index=len(hosts) + 1)
        lab_state.save(st)  # first, so that `lab down` finds everything if this run dies
        try:
            topology.build(instance, _scanner_link(st), net.prefixlen, _links(hosts), arp_filter=arp_filter)
            proc = _spawn_daemon(instance)
            _wait_daemon(instance, proc)
            reply = _sync(instance)
            bad = unreachable(instance, _targets([h.ip for h in hosts], reply))
            if bad:
                raise _unanswered("lab hosts", bad)
        except BaseException as e:
            kept = _keep_failure_log(instance)
            _teardown(instance)
            if isinstance(e, CamscanError) and kept is not None:
                raise type(e)(f"{e} (daemon log: {kept})") from None
            raise
        return UpResult(instance, profile.name, str(net), scanner_ip, len(hosts), int(reply.get("snmpd", 0)),
                        time.monotonic() - t0, arp_filter)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(pids: Sequence[int], timeout: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _netns_pids(ns: str) -> list[int]:
    p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def _teardown(instance: str) -> list[str]:
    pid = lab_state.daemon_pid(instance)
    if pid is not None:
        with contextlib.suppress(CamscanError):
            request(instance, "stop", timeout=5)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _kill([pid], 2)
    # whatever still runs inside the instance's namespaces (snmpd of a crashed daemon, `lab exec`)
    names = topology.instance_namespaces(instance, topology.list_namespaces())
    left = sorted({p for ns in names for p in _netns_pids(ns)} - {os.getpid()})
    snmp_dir = str(lab_state.paths(instance).snmp)
    for f in lab_state.paths(instance).snmp.glob("*/snmpd.pid"):
        spid = lab_state.read_pid(f)
        if spid is not None and any(snmp_dir in a for a in lab_state.cmdline(spid)):
            left.append(spid)
    if left:
        _kill(sorted(set(left)), 3)
    removed = topology.teardown(instance)
    lab_state.remove_files(instance)
    return removed


def down(instance: str) -> list[str]:
    """Remove every namespace, interface, process and file of INSTANCE (idempotent); return the
    namespaces removed."""
    topology.require_privileges()
    with lab_state.locked(instance):
        return _teardown(instance)


def status(instance: str) -> dict[str, Any]:
    """State of INSTANCE: `up`, `down` or `broken`, with counts."""
    topology.require_privileges()
    st = lab_state.load(instance)
    pid = lab_state.daemon_pid(instance)
    names = topology.instance_namespaces(instance, topology.list_namespaces())
    out: dict[str, Any] = {"instance": instance, "namespaces": len(names)}
    if st is None and pid is None and not names:
        return {**out, "state": "down"}
    if st is not None:
        out.update(profile=st.profile, seed=st.seed, subnet=st.subnet, scanner_ip=st.scanner_ip,
                   hosts=len(st.hosts), mutations=st.mutations)
    if pid is None or st is None:
        return {**out, "state": "broken", "reason": "daemon not running" if pid is None else "no state"}
    try:
        d = request(instance, "status", timeout=10)
    except CamscanError as e:
        return {**out, "state": "broken", "reason": str(e)}
    out.update(daemon_pid=pid, served=d.get("served"), snmpd=d.get("snmpd"), failed=d.get("failed", {}))
    ok = d.get("served") == len(st.hosts) and not d.get("failed")
    return {**out, "state": "up" if ok else "broken", **({} if ok else {"reason": "hosts not served"})}


def require_state(instance: str) -> LabState:
    """The instance's state, or LabStateError saying the lab is not up."""
    st = lab_state.load(instance)
    if st is None:
        raise LabStateError(f"lab '{instance}' is not up (camscan lab up)")
    return st


def truth(instance: str) -> dict[str, Any]:
    """The ground truth document of the running instance."""
    st = require_state(instance)
    personas = load_personas()
    missing = sorted({h.persona for h in st.hosts} - set(personas))
    if missing:
        raise LabStateError(f"lab '{instance}' runs personas that are no longer defined: "
                            f"{', '.join(missing)}; bring it down and up again")
    return lab_state.truth(st, personas)


def exec_argv(instance: str, command: Sequence[str]) -> list[str]:
    """The argv that runs COMMAND inside the instance's scanner namespace."""
    topology.require_privileges()
    require_state(instance)
    ns = topology.scanner_ns(instance)
    if ns not in topology.list_namespaces():
        raise LabStateError(f"lab '{instance}' has no scanner namespace; run `camscan lab down` and up again")
    if not command:
        raise InputError("lab exec needs a command: camscan lab exec -- CMD ...")
    return ["ip", "netns", "exec", ns, *command]


def _mix_weights(profile_name: str) -> list[tuple[str, int]]:
    return list(profiles.get_profile(profile_name).mix)


def mutate(instance: str, add: int = 0, remove: int = 0, reflash: int = 0, move: int = 0) -> list[str]:
    """Change the running site: add, remove, reflash and move hosts (same box, new address); one line per change."""
    topology.require_privileges()
    if min(add, remove, reflash, move) < 0:
        raise InputError("mutate counts must be >= 0")
    if add == remove == reflash == move == 0:
        raise InputError("nothing to change: give --add, --remove, --reflash or --move")
    with lab_state.locked(instance):
        st = require_state(instance)
        if lab_state.daemon_pid(instance) is None:
            raise LabStateError(f"lab '{instance}' daemon is not running; run `camscan lab down`")
        personas = load_personas()
        rng = random.Random(f"{st.seed}:mutate:{st.mutations + 1}")
        hosts = list(st.hosts)
        if remove > len(hosts):
            raise InputError(f"cannot remove {remove} hosts: the lab has {len(hosts)}")
        lines: list[str] = []

        channels = {ip for h in hosts for ip in h.channels}
        order = sorted(hosts, key=lambda h: (h.ip in channels, rng.random()))
        gone = order[:remove]
        gone_ips = {h.ip for h in gone}
        hosts = [h for h in hosts if h.ip not in gone_ips]
        hosts = [replace(h, channels=tuple(c for c in h.channels if c not in gone_ips))
                 if set(h.channels) & gone_ips else h for h in hosts]
        lines += [f"removed {h.ip} {h.persona}" for h in gone]

        candidates = sorted(hosts, key=lambda h: (personas[h.persona].vendor is None,
                                                  personas[h.persona].hostile, rng.random()))
        if reflash > len(candidates):
            raise InputError(f"cannot reflash {reflash} hosts: the lab has {len(candidates)} left")
        flashed = {h.ip: h for h in candidates[:reflash]}
        for i, h in enumerate(hosts):
            if h.ip in flashed:
                fw = profiles.reflashed(h.firmware, personas[h.persona], rng)
                hosts[i] = replace(h, firmware=fw)
                lines.append(f"reflashed {h.ip} {h.persona} {h.firmware} -> {fw}")

        net = ipaddress.IPv4Network(st.subnet)
        taken = {h.ip for h in st.hosts}
        # moving: the same device (MAC, serial, firmware) at a new address; recorders' cameras stay put
        channels = {ip for h in hosts for ip in h.channels}
        movable = [h for h in hosts if h.ip not in channels and not h.channels and h.ip not in flashed
                   and personas[h.persona].vendor is not None and not personas[h.persona].hostile]
        if move > len(movable):
            raise InputError(f"cannot move {move} hosts: the lab has {len(movable)} that can move")
        moving = sorted(movable, key=lambda h: rng.random())[:move]
        to_ips = profiles.choose_addresses(net, st.scanner_ip, move, rng, taken) if move else []
        taken |= set(to_ips)
        moved = [replace(h, index=st.next_index + add + i, ip=ip)
                 for i, (h, ip) in enumerate(zip(moving, to_ips, strict=True))]
        moving_ips = {h.ip for h in moving}
        hosts = [h for h in hosts if h.ip not in moving_ips] + moved
        lines += [f"moved {a.ip} -> {b.ip} {a.persona}" for a, b in zip(moving, moved, strict=True)]
        ips = profiles.choose_addresses(net, st.scanner_ip, add, rng, taken) if add else []
        names: list[str] = []
        if add:
            mix = [(p, n) for p, n in _mix_weights(st.profile) if p in personas]
            names = rng.choices([p for p, _ in mix], weights=[n for _, n in mix], k=add)
        macs = {h.mac for h in hosts} | {h.mac for h in gone}
        new = [profiles.new_host(personas[name], st.seed + 1000 * (st.mutations + 1), st.next_index + i,
                                 ip, macs) for i, (name, ip) in enumerate(zip(names, ips, strict=True))]
        hosts = profiles.assign_channels(hosts + new)
        new = [h for h in hosts if st.next_index <= h.index < st.next_index + add]
        moved = [h for h in hosts if h.index >= st.next_index + add]   # as assign_channels left them
        lines += [f"added {h.ip} {h.persona}" for h in new]

        scanner = topology.HostLink(0, st.scanner_ip, topology.scanner_mac(instance))
        topology.update_arp_filter(instance, [h.ip for h in hosts])
        topology.remove_hosts(instance, [h.index for h in moving])
        topology.add_hosts(instance, st.prefixlen, _links(new + moved), scanner)
        st2 = replace(st, hosts=tuple(hosts), next_index=st.next_index + add + move, mutations=st.mutations + 1)
        lab_state.save(st2)
        reply = _sync(instance)
        topology.remove_hosts(instance, [h.index for h in gone])
        check = [h.ip for h in new + moved] + list(flashed)
        bad = unreachable(instance, _targets(check, reply))
        if bad:
            raise _unanswered("mutated hosts", bad)
        return lines
