"""Run the real Debian `snmpd` inside a lab host's namespace, one process per SNMP persona host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import CamscanError
from scanner.lab.model import LabHost

SNMP_PORT = 161
START_TIMEOUT = 15.0


class SnmpdError(CamscanError):
    """snmpd is missing or did not start (message holds the reason and its log)."""


@dataclass(slots=True)
class Snmpd:
    """A running snmpd of one host (mutable: the process handle changes state)."""

    ip: str
    proc: asyncio.subprocess.Process
    workdir: Path


def snmpd_binary() -> str:
    """Path of snmpd, or SnmpdError naming the Debian package to install."""
    path = shutil.which("snmpd") or ("/usr/sbin/snmpd" if os.path.exists("/usr/sbin/snmpd") else None)
    if path is None:
        raise SnmpdError("snmpd not found: install the Debian package `snmpd`")
    return path


def workdir_for(snmp_root: Path, host: LabHost) -> Path:
    """Directory of one host's snmpd.conf, pidfile, log and persistent data."""
    return snmp_root / host.netns


def _udp_bound(pid: int, port: int) -> bool:
    # /proc/PID/net/udp lists the sockets of the namespace that PID lives in
    try:
        with open(f"/proc/{pid}/net/udp") as f:
            next(f, None)
            return any(line.split()[1].endswith(f":{port:04X}") for line in f if len(line.split()) > 1)
    except OSError:
        return False


async def start(host: LabHost, config: str, snmp_root: Path) -> Snmpd:
    """Start snmpd for HOST with CONFIG (snmpd.conf text) and wait until it listens on UDP 161."""
    work = workdir_for(snmp_root, host)
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "snmpd.conf"
    conf.write_text(config)
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "SNMP_PERSISTENT_DIR": str(work / "persist"),
        # no MIB parsing: the agent serves numeric OIDs; parsing every MIB costs time and log noise
        "MIBDIRS": str(work / "no-mibs"),
        "MIBS": "",
    }
    argv = ["ip", "netns", "exec", host.netns, snmpd_binary(), "-f", "-C", "-c", str(conf),
            "-p", str(work / "snmpd.pid"), "-Lf", str(work / "snmpd.log")]
    if not any(line.strip().lower().startswith("agentaddress") for line in config.splitlines()):
        argv.append(f"udp:{host.ip}:{SNMP_PORT}")
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while not _udp_bound(proc.pid, SNMP_PORT):
        if proc.returncode is not None or loop.time() > deadline:
            await stop(Snmpd(host.ip, proc, work))
            log = ""
            with contextlib.suppress(OSError):
                log = (work / "snmpd.log").read_text(errors="replace")[-400:]
            raise SnmpdError(f"snmpd for {host.ip} did not start: {log.strip()}")
        await asyncio.sleep(0.05)
    return Snmpd(host.ip, proc, work)


async def stop(s: Snmpd, timeout: float = 3.0) -> None:
    """Stop one snmpd (TERM, then KILL after TIMEOUT seconds)."""
    if s.proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            s.proc.terminate()
        try:
            await asyncio.wait_for(s.proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                s.proc.kill()
            await s.proc.wait()
