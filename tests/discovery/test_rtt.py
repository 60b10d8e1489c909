"""Timeouts from measured round trips: the RFC 6298 estimate, and a slow host still read (real sockets)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scanner.discovery import rtt, tcp

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("camscan_netpair", HERE / "fixtures_host" / "netpair.py")
assert _spec and _spec.loader
netpair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netpair)


def test_first_sample_and_smoothing_follow_rfc6298() -> None:
    r = rtt.RoundTrip()
    assert r.rto() is None and r.connect_timeout(0.75) == 0.75 and r.reply_timeout(2.0) == 2.0
    r.add(0.2)
    assert r.srtt == pytest.approx(0.2) and r.rttvar == pytest.approx(0.1)   # SRTT = R, RTTVAR = R/2
    assert r.rto() == pytest.approx(0.2 + 4 * 0.1)
    r.add(0.4)
    assert r.rttvar == pytest.approx(0.75 * 0.1 + 0.25 * 0.2)
    assert r.srtt == pytest.approx(0.875 * 0.2 + 0.125 * 0.4)


def test_timeouts_stay_within_their_bounds() -> None:
    quick, slow = rtt.RoundTrip(), rtt.RoundTrip()
    for _ in range(20):
        quick.add(0.0003)
        slow.add(5.0)
    assert quick.connect_timeout(0.75) == rtt.CONNECT_MIN     # a LAN host: the floor, not the 0.75 s default
    assert slow.connect_timeout(0.75) == rtt.CONNECT_MAX      # a very slow link: the ceiling
    assert quick.reply_timeout(2.0) == pytest.approx(2.0 + 4 * quick.srtt)  # type: ignore[operator]
    assert slow.reply_timeout(2.0) == 2.0 + rtt.REPLY_MAX_EXTRA


lab = pytest.mark.skipif(not netpair.can_build(), reason="needs root to build network namespaces")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _silence(pair: Any) -> None:
    """Make b silent to a: its link down (a's frames are dropped, nothing answers), its MAC known to a."""
    out = subprocess.run(["ip", "-n", pair.b, "-j", "link", "show", pair.if_b], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    mac = json.loads(out)[0]["address"]
    _ip("-n", pair.a, "neigh", "replace", pair.ip_b, "lladdr", mac, "dev", pair.if_a, "nud", "permanent")
    _ip("-n", pair.b, "link", "set", pair.if_b, "down")


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    p = netpair.NetPair(f"r{os.getpid() % 10000}", 33)
    yield p
    p.close()


@pytest.mark.lab
@lab
def test_a_live_host_slower_than_the_default_timeout_is_still_read(pair) -> None:  # type: ignore[no-untyped-def]
    sock = pair.listen_b(80)
    _silence(pair)
    ctx = netpair.make_ctx([f"{pair.ip_b}/32"])
    ctx.host(pair.ip_b)   # known live (as an ARP answer makes it)
    stop = threading.Event()

    def answer_again() -> None:
        # the host answers again only once the first round (default wait) has timed out and the longer wait has
        # begun, and 0.5 s into it: its first SYN is lost, the retransmission (1 s on) is answered; so only the
        # longer wait finds port 80, and the round trip it measures is slow, however late the scan started
        end = time.monotonic() + 20
        while not ctx.stats.counters.get("tcp.slow_hosts") and time.monotonic() < end and not stop.is_set():
            time.sleep(0.01)
        stop.wait(0.5)
        _ip("-n", pair.b, "link", "set", pair.if_b, "up")

    watcher = threading.Thread(target=answer_again)
    watcher.start()
    try:
        pair.run_in_a(lambda: netpair.collect(tcp.TcpConnect(ports=(80, 554, 8080, 37777)), ctx))
    finally:
        stop.set()
        watcher.join()
        sock.close()
    h = ctx.hosts[pair.ip_b]
    assert h.open_ports == {80}
    assert ctx.stats.counters["tcp.slow_hosts"] == 1
    assert h.rtt.samples >= 1 and h.rtt.srtt is not None and h.rtt.srtt > 0.5   # the slow round trip measured


@pytest.mark.lab
@lab
def test_a_live_host_silent_on_every_port_costs_one_more_try_of_its_liveness_ports(pair) -> None:  # type: ignore[no-untyped-def]
    _silence(pair)
    ctx = netpair.make_ctx([f"{pair.ip_b}/32"])
    ctx.host(pair.ip_b)
    ports = (80, 554, 8080, 37777)
    pair.run_in_a(lambda: netpair.collect(tcp.TcpConnect(ports=ports), ctx))
    liveness = [p for p in tcp.LIVENESS_PORTS if p in ports]
    assert ctx.hosts[pair.ip_b].open_ports == set()
    assert ctx.stats.counters["tcp.probes"] == len(ports) + len(liveness)   # and nothing more
