"""One pipeline, no barrier: a host goes to the per-host modules as soon as its ports are known, while host
discovery goes on; a module that must follow another on a host does; a host that shows nothing a module needs
gets nothing from it; ARP's send slots come before the per-host probes'. Fake modules, no network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from scanner.discovery.base import HostModule, Module, RateLimiter, ScanContext
from scanner.models import Observation
from scanner.scan import Plan, ScanRequest, sweep
from scanner.scope import Scope

EVENTS: list[str] = []
A, B = "198.18.0.10", "198.18.0.11"


class FakeTcp(Module):
    """Finds A and knows its ports at once; finds B only later (a long sweep)."""

    name: ClassVar[str] = "tcp"
    phase: ClassVar[int] = 1

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        for ip in (A, B):
            await ctx.rate.wait()
            ctx.host(ip).open_ports.add(80)
            ctx.ports_probed(ip)
            yield Observation("tcp.port", "80", ip=ip, port=80, source=self.name)
            await asyncio.sleep(0.3)
        EVENTS.append("tcp done")


class Web(HostModule):
    name: ClassVar[str] = "web"

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        return 80 in ctx.hosts[ip].open_ports

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        await ctx.rate.wait()
        await asyncio.sleep(0.05)
        EVENTS.append(f"web {ip}")
        return [Observation("http.server", "fake", ip=ip, port=80, source=self.name)]


class Service(HostModule):
    """Must follow web on each host."""

    name: ClassVar[str] = "service"
    host_after: ClassVar[frozenset[str]] = frozenset({"web"})

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        EVENTS.append(f"service {ip}")
        return []


class Never(HostModule):
    """Wants no host: must send nothing."""

    name: ClassVar[str] = "never"

    def wants(self, ctx: ScanContext, ip: str) -> bool:
        return False

    async def host(self, ctx: ScanContext, ip: str) -> list[Observation]:
        EVENTS.append(f"never {ip}")
        return []


def test_a_host_is_probed_while_discovery_goes_on_in_the_order_its_modules_need() -> None:
    EVENTS.clear()
    req = ScanRequest(targets=["198.18.0.0/24"], rate=1000)
    p = Plan(Scope.build(req.targets), [FakeTcp, Web, Service, Never], None, None, False, [])
    ctx, obs = asyncio.run(sweep(p, req, lambda m: None))
    assert EVENTS.index(f"web {A}") < EVENTS.index("tcp done"), EVENTS       # no barrier after discovery
    for ip in (A, B):
        assert EVENTS.index(f"web {ip}") < EVENTS.index(f"service {ip}")
    assert not [e for e in EVENTS if e.startswith("never")]
    assert {(o.source, o.ip) for o in obs} == {("tcp", A), ("tcp", B), ("web", A), ("web", B)}
    stats = ctx.stats.counters
    assert stats["observations.web"] == 2 and stats["observations.never"] == 0
    assert all(isinstance(stats[k], float) for k in ("seconds.phase1", "seconds.phase2", "seconds.web"))


def test_discovery_send_slots_come_before_queued_per_host_probes() -> None:
    order: list[str] = []

    async def main() -> None:
        rate = RateLimiter(200)

        async def probe(name: str, priority: int) -> None:
            await rate.wait(priority)
            order.append(name)

        first = [asyncio.ensure_future(probe(f"http{i}", 1)) for i in range(6)]
        await asyncio.sleep(0)
        arp = asyncio.ensure_future(probe("arp", 0))
        await asyncio.gather(*first, arp)
        assert rate.granted == 7

    asyncio.run(main())
    assert order.index("arp") <= 2, order     # at most the slots already due went first


def test_a_halt_releases_every_queued_prober_with_nothing_to_send() -> None:
    async def main() -> list[bool]:
        rate = RateLimiter(10)
        waiters = [asyncio.ensure_future(rate.slot()) for _ in range(5)]
        await asyncio.sleep(0.01)
        rate.halt()
        return await asyncio.gather(*waiters)

    got = asyncio.run(main())
    assert got.count(False) >= 4 and not any(got[1:])
