"""Stopping a scan part-way (SIGINT/SIGTERM): nothing new is sent, work in flight gets a short grace, and
what was found becomes an inventory marked incomplete. Fake modules, no network."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import ClassVar

import jsonschema
import pytest

from scanner.discovery.base import Module, ScanContext
from scanner.inventory.serialise import json_schema, to_dict
from scanner.match.engine import get_engine
from scanner.models import Observation
from scanner.scan import STOP_GRACE_S, Plan, ScanRequest, StopRequest, run, sweep
from scanner.scope import Scope

SENT: list[float] = []       # when each fake probe got its send slot
EVENTS: list[str] = []


class Prober(Module):
    """Sends a probe every 20 ms (each through the rate limiter) for ever; one observation per probe."""

    name: ClassVar[str] = "prober"
    phase: ClassVar[int] = 1

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        for i in range(10_000):
            await ctx.rate.wait()
            SENT.append(time.monotonic())
            yield Observation("hostname", f"cam{i}", ip=f"198.18.0.{i % 200 + 10}", source=self.name)
            await asyncio.sleep(0.02)


class InFlight(Module):
    """Sends one request at once and gets its answer 0.4 s later: in flight when the stop comes."""

    name: ClassVar[str] = "inflight"
    phase: ClassVar[int] = 1

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        await ctx.rate.wait()
        await asyncio.sleep(0.4)
        EVENTS.append("inflight answered")
        yield Observation("hostname", "answered-late", ip="198.18.0.5", source=self.name)


class Stuck(Module):
    """A reply that never comes."""

    name: ClassVar[str] = "stuck"
    phase: ClassVar[int] = 1

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        await asyncio.sleep(3600)
        yield Observation("hostname", "never", ip="198.18.0.6", source=self.name)


class Paced(Module):
    """Paces its own sends in a worker thread, as the ARP sweep does, reading rate.halted before each."""

    name: ClassVar[str] = "paced"
    phase: ClassVar[int] = 1

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        def sweep() -> int:
            n = 0
            while n < 500 and not ctx.rate.halted:
                SENT.append(time.monotonic())
                n += 1
                time.sleep(0.01)
            return n

        n = await asyncio.to_thread(sweep)
        yield Observation("hostname", f"paced-{n}", ip="198.18.0.8", source=self.name)


class Later(Module):
    """A phase-2 module: must not start once the scan is stopping."""

    name: ClassVar[str] = "later"
    phase: ClassVar[int] = 2

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        EVENTS.append("phase 2 started")
        yield Observation("hostname", "phase2", ip="198.18.0.7", source=self.name)


def _plan(*mods: type[Module]) -> tuple[Plan, ScanRequest]:
    req = ScanRequest(targets=["198.18.0.0/24"], rate=1000)
    return Plan(Scope.build(req.targets), list(mods), None, None, False, []), req


def _reset() -> None:
    SENT.clear()
    EVENTS.clear()


def test_a_stop_sends_nothing_new_finishes_what_is_in_flight_and_skips_phase_two() -> None:
    _reset()
    p, req = _plan(Prober, InFlight, Stuck, Later)
    stop = StopRequest()
    stopped_at: list[float] = []

    def ask() -> None:
        stopped_at.append(time.monotonic())
        stop.set("SIGINT")

    async def main() -> tuple[list[Observation], float]:
        asyncio.get_running_loop().call_later(0.2, ask)
        t0 = time.monotonic()
        _, obs = await asyncio.wait_for(sweep(p, req, lambda m: None, stop=stop), 10)
        return obs, time.monotonic() - t0

    obs, took = asyncio.run(main())
    assert stop.cut and stop.reason == "SIGINT"
    assert SENT and max(SENT) <= stopped_at[0], "a probe was sent after the stop"
    assert "inflight answered" in EVENTS and "answered-late" in {o.value for o in obs}
    assert "phase 2 started" not in EVENTS
    assert sum(1 for o in obs if o.source == "prober") == len(SENT)   # what was found is kept
    assert STOP_GRACE_S <= 1.5 and took < 2.2, f"the stuck module held the stop for {took:.1f}s"


def test_a_stop_from_another_thread_gives_an_incomplete_valid_inventory() -> None:
    _reset()
    p, req = _plan(Prober, Stuck, Later)
    stop = StopRequest()
    threading.Timer(0.3, stop.set, ["SIGTERM"]).start()
    inv = run(req, get_engine(), lambda m: None, p, stop=stop)
    doc = to_dict(inv)
    jsonschema.validate(doc, json_schema())
    assert doc["scan"]["complete"] is False
    assert doc["scan"]["stats"]["stopped_by"] == "SIGTERM"
    assert {d["ip"] for d in doc["devices"]} >= {"198.18.0.10"}, "what was found before the stop is lost"


def test_a_stop_before_the_sweep_starts_sends_nothing() -> None:
    _reset()
    p, req = _plan(Prober, Later)
    stop = StopRequest()
    stop.set("SIGINT")
    inv = run(req, get_engine(), lambda m: None, p, stop=stop)
    assert SENT == [] and EVENTS == []
    assert inv.scan.complete is False and inv.devices == ()


def test_a_scan_that_ends_on_its_own_is_complete() -> None:
    _reset()
    p, req = _plan(InFlight, Later)
    inv = run(req, get_engine(), lambda m: None, p, stop=StopRequest())
    assert inv.scan.complete is True and to_dict(inv)["scan"]["complete"] is True
    assert "stopped_by" not in inv.scan.stats
    assert EVENTS == ["inflight answered", "phase 2 started"]


def test_a_sender_pacing_itself_in_a_thread_stops_too_and_its_findings_are_kept() -> None:
    _reset()
    p, req = _plan(Paced, Stuck)
    stop = StopRequest()
    stopped_at: list[float] = []

    def ask() -> None:
        stopped_at.append(time.monotonic())
        stop.set("SIGTERM")

    threading.Timer(0.3, ask).start()
    t0 = time.monotonic()
    inv = run(req, get_engine(), lambda m: None, p, stop=stop)
    assert time.monotonic() - t0 < 2.5
    assert SENT and max(SENT) <= stopped_at[0] + 0.02, "the thread kept sending after the stop"
    assert [d.ip for d in inv.devices] == ["198.18.0.8"] and inv.scan.complete is False


@pytest.mark.parametrize("pps", [0, -1, float("nan"), float("inf"), float("-inf")])
def test_the_rate_limiter_can_never_be_switched_off(pps: float) -> None:
    from scanner.discovery.base import RateLimiter

    with pytest.raises(ValueError, match="finite number above 0"):
        RateLimiter(pps)
