"""The lab daemon: one asyncio process serving every host of a lab instance (sockets are created in
each host's namespace and stay there), plus one snmpd child per SNMP host.

Started detached by `camscan lab up` as `python -m scanner.lab.daemon --instance NAME`. It listens on
a unix socket (state dir `control.sock`) for newline-delimited JSON requests:
  {"op": "sync"}    re-read state.json and start/stop/restart hosts to match it; reply when done
  {"op": "status"}  hosts served, snmpd count, failures
  {"op": "stop"}    close everything and exit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import importlib
import inspect
import json
import logging
import os
import resource
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, cast

from scanner.lab import netns, snmp
from scanner.lab import state as lab_state
from scanner.lab.model import LabHost

log = logging.getLogger("camscan.lab.daemon")
START_CONCURRENCY = 32
CLOSE_TIMEOUT = 5.0
MAX_REQUEST = 64 * 1024


class HostServices(Protocol):
    """What scanner.lab.services.start_host returns."""

    async def close(self) -> None:
        """Stop serving and close every socket of the host."""


StartHost = Callable[[LabHost, Mapping[str, LabHost], int], Awaitable[HostServices]]
SnmpdConfig = Callable[..., "str | None"]


def load_services() -> tuple[StartHost, SnmpdConfig]:
    """The services' entry points (scanner.lab.services.start_host and snmpd_config)."""
    mod = importlib.import_module("scanner.lab.services")
    return cast(StartHost, mod.start_host), cast(SnmpdConfig, mod.snmpd_config)


load_personas = lab_state.load_personas


def listening_tcp_ports(ns: str) -> list[int]:
    """TCP ports listening in namespace NS (read from /proc/thread-self/net/tcp inside it)."""
    ports: set[int] = set()
    with netns.entered(ns):
        for name in ("tcp", "tcp6"):
            try:
                with open(f"/proc/thread-self/net/{name}") as f:
                    next(f, None)
                    for line in f:
                        parts = line.split()
                        if len(parts) > 3 and parts[3] == "0A":
                            ports.add(int(parts[1].rsplit(":", 1)[1], 16))
            except OSError:
                continue
    return sorted(ports)


class Daemon:
    """Serves the hosts listed in the instance's state.json."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.paths = lab_state.paths(instance)
        self.personas = load_personas()
        self.start_host, self.snmpd_config = load_services()
        # snmpd_config(host) is the contract; pass the seed too where it renders seeded values
        self._config_takes_seed = "seed" in inspect.signature(self.snmpd_config).parameters
        self.hosts: dict[str, LabHost] = {}          # served hosts by IP; given to start_host live
        self.services: dict[str, HostServices] = {}
        self.snmpd: dict[str, snmp.Snmpd] = {}
        self.failed: dict[str, str] = {}
        self.seed = 0
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()

    async def _start(self, host: LabHost, sem: asyncio.Semaphore) -> None:
        async with sem:
            try:
                self.services[host.ip] = await self.start_host(host, self.hosts, self.seed)
                conf = self.snmpd_config(host, self.seed) if self._config_takes_seed else self.snmpd_config(host)
                if conf is not None:
                    self.snmpd[host.ip] = await snmp.start(host, conf, self.paths.snmp)
                self.failed.pop(host.ip, None)
            except Exception as e:
                log.exception("host %s (%s) failed to start", host.ip, host.persona.name)
                self.failed[host.ip] = f"{type(e).__name__}: {e}"
                await self._stop(host.ip)

    async def _stop(self, ip: str) -> None:
        svc = self.services.pop(ip, None)
        if svc is not None:
            try:
                await asyncio.wait_for(svc.close(), CLOSE_TIMEOUT)
            except Exception:
                log.exception("host %s did not close cleanly", ip)
        s = self.snmpd.pop(ip, None)
        if s is not None:
            await snmp.stop(s)

    async def sync(self) -> dict[str, Any]:
        """Make the served hosts match state.json; reply with counts and failures."""
        async with self.lock:
            st = lab_state.load(self.instance)
            if st is None:
                return {"ok": False, "error": "no state.json"}
            self.seed = st.seed
            want = {h.ip: lab_state.lab_host(st, h, self.personas) for h in st.hosts}
            gone = [ip for ip, h in self.hosts.items() if want.get(ip) != h]
            await asyncio.gather(*(self._stop(ip) for ip in gone))
            for ip in gone:
                del self.hosts[ip]
            for ip in list(self.failed):
                if ip not in want:
                    del self.failed[ip]
            new = [h for ip, h in want.items() if ip not in self.hosts]
            # every new host is visible (e.g. to NVRs) before any of them starts serving
            self.hosts.update((h.ip, h) for h in new)
            sem = asyncio.Semaphore(START_CONCURRENCY)
            # one host of each persona first: per-persona setup the services share (TLS keys,
            # caches) is then done once, not raced by many hosts of the same persona
            first: dict[str, LabHost] = {}
            for h in new:
                first.setdefault(h.persona.name, h)
            await asyncio.gather(*(self._start(h, sem) for h in first.values()))
            rest = [h for h in new if first[h.persona.name] is not h]
            await asyncio.gather(*(self._start(h, sem) for h in rest))
            for ip in self.failed:
                self.hosts.pop(ip, None)
            ports = {ip: listening_tcp_ports(h.netns) for ip, h in self.hosts.items()}
            log.info("sync: %d served, %d stopped, %d started, %d failed",
                     len(self.hosts), len(gone), len(new), len(self.failed))
            return {"ok": not self.failed, "served": len(self.hosts), "snmpd": len(self.snmpd),
                    "failed": dict(self.failed), "tcp_ports": ports}

    def status(self) -> dict[str, Any]:
        """Counts of what is served right now."""
        return {"ok": True, "pid": os.getpid(), "served": len(self.hosts), "snmpd": len(self.snmpd),
                "failed": dict(self.failed)}

    async def shutdown(self) -> None:
        """Close every host and stop every snmpd."""
        async with self.lock:
            await asyncio.gather(*(self._stop(ip) for ip in list(self.services) + list(self.snmpd)))
            self.hosts.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if len(line) > MAX_REQUEST:
                raise ValueError("request too long")
            op = json.loads(line or b"{}").get("op")
            if op == "sync":
                reply = await self.sync()
            elif op == "status":
                reply = self.status()
            elif op == "stop":
                reply = {"ok": True}
                self.stopping.set()
            else:
                reply = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as e:
            log.exception("control request failed")
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        with contextlib.suppress(OSError):
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
            writer.close()

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT or a stop request."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        with contextlib.suppress(FileNotFoundError):
            self.paths.control.unlink()
        server = await asyncio.start_unix_server(self._client, path=str(self.paths.control),
                                                 limit=MAX_REQUEST + 1)
        os.chmod(self.paths.control, 0o600)
        self.paths.daemon_pid.write_text(f"{os.getpid()}\n")
        log.info("daemon for lab %s listening on %s", self.instance, self.paths.control)
        try:
            await self.stopping.wait()
        finally:
            server.close()
            await self.shutdown()
            with contextlib.suppress(FileNotFoundError):
                self.paths.control.unlink()
            with contextlib.suppress(FileNotFoundError):
                self.paths.daemon_pid.unlink()
            log.info("daemon for lab %s stopped", self.instance)


def _jail_network() -> None:
    """Move this process into a fresh, empty network namespace before anything else runs.

    Every lab socket is made inside a host's namespace (netns.socket_in); a socket made anywhere
    else by mistake then lands in this empty namespace, not on the machine's network."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.unshare(netns.CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the daemon process."""
    ap = argparse.ArgumentParser(prog="python -m scanner.lab.daemon")
    ap.add_argument("--instance", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _jail_network()
    _raise_fd_limit()
    asyncio.run(Daemon(args.instance).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
