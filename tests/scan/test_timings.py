"""Where the time went: the inventory's stats carry per-phase and per-module float seconds, the time to the
first live host and to the last result. Fake modules, no network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from scanner.discovery.base import Module, ScanContext
from scanner.match.engine import get_engine
from scanner.models import Observation
from scanner.scan import Plan, ScanRequest, run
from scanner.scope import Scope


class Finder(Module):
    """Host discovery: finds two hosts, 50 ms apart."""

    name: ClassVar[str] = "finder"
    phase: ClassVar[int] = 1

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        for ip in ("198.18.0.10", "198.18.0.11"):
            await ctx.rate.wait()
            await asyncio.sleep(0.05)
            yield Observation("hostname", f"h{ip[-2:]}", ip=ip, source=self.name)


class Prober(Module):
    """A per-host module: one observation per known host."""

    name: ClassVar[str] = "prober"
    phase: ClassVar[int] = 2

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        for ip in sorted(ctx.hosts):
            await ctx.rate.wait()
            yield Observation("http.server", "fake", ip=ip, port=80, source=self.name)


def test_stats_say_where_the_time_went() -> None:
    req = ScanRequest(targets=["198.18.0.0/24"], rate=1000)
    p = Plan(Scope.build(req.targets), [Finder, Prober], None, None, False, [])
    stats = run(req, get_engine(), lambda m: None, p).scan.stats
    keys = ("seconds.phase1", "seconds.phase2", "seconds.finder", "seconds.prober", "seconds.first_host",
            "seconds.last_result")
    assert all(isinstance(stats[k], float) for k in keys), {k: stats.get(k) for k in keys}
    assert 0 < stats["seconds.first_host"] <= stats["seconds.last_result"] <= stats["seconds"]
    assert stats["seconds.finder"] <= stats["seconds.phase1"] <= stats["seconds"]
