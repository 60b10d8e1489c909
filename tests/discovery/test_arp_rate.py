"""The ARP sweep keeps the scan's one probe budget: send slots taken in batches never add up to more than --rate
allows over any window, the sender thread paces frames to the rate however fast they are handed to it, and the
per-address targets are exactly the scope's addresses on the link."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import threading
import time

import pytest

from scanner.discovery import arp
from scanner.discovery.base import RateLimiter
from scanner.scope import Scope


def _windows_ok(events: list[tuple[float, int]], pps: float, slack: float, extra: int) -> list[str]:
    """Every window between two events (time, items counted at it) holds at most (span + slack) * pps + extra
    items; the windows that do not, described."""
    bad = []
    for i in range(len(events)):
        total = 0
        for j in range(i, len(events)):
            total += events[j][1]
            span = events[j][0] - events[i][0]
            if total > (span + slack) * pps + extra + 1e-6:   # equality is allowed (float rounding)
                bad.append(f"{total} in {span * 1000:.2f} ms")
    return bad


class _Clocked(RateLimiter):
    """The limiter, with the loop time of every slot it hands out recorded."""

    def __init__(self, pps: float) -> None:
        super().__init__(pps)
        self.at: list[float] = []

    def _take(self, now: float) -> bool:
        ok = super()._take(now)
        if ok:
            self.at.append(now)
        return ok


def test_batched_slots_never_exceed_the_rate_over_any_window() -> None:
    pps = 4000.0

    async def run() -> tuple[_Clocked, list[int]]:
        rate = _Clocked(pps)
        loop = asyncio.get_running_loop()
        end = loop.time() + 0.3
        batches: list[int] = []
        other = asyncio.ensure_future(rate.wait(priority=1))      # a per-host probe waiting its turn
        while loop.time() < end:
            batches.append(await rate.slots(64, priority=0))
        await other
        return rate, batches

    rate, batches = asyncio.run(run())
    assert rate.granted == len(rate.at) == sum(batches) + 1
    assert max(batches) > 1, "due slots were taken together"
    assert _windows_ok([(t, 1) for t in rate.at][:500], pps, RateLimiter.BURST, 1) == []


def test_a_batch_never_takes_more_than_asked_and_nothing_once_halted() -> None:
    async def run() -> tuple[list[int], int]:
        rate = RateLimiter(1_000_000)                       # hundreds of slots due at once
        taken = [await rate.slots(n, priority=0) for n in (1, 7, 3)]
        rate.halt()
        return taken, await rate.slots(50, priority=0)

    taken, halted = asyncio.run(run())
    assert taken == [1, 7, 3] and halted == 0


class _Recorder:
    """A socket stand-in that records when each frame was sent and the target address it carried."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []

    def send(self, frame: bytes) -> int:
        self.sent.append((time.monotonic(), bytes(frame[38:42])))
        return len(frame)


def test_sender_thread_paces_frames_to_the_rate_however_fast_they_are_queued() -> None:
    pps = 5000.0
    rec = _Recorder()
    template = arp.build_probe(bytes(6), "198.18.0.1", "0.0.0.0")
    sender = arp._Sender(rec, template, RateLimiter(pps))  # type: ignore[arg-type]
    addrs = [socket.inet_aton(f"198.18.{i // 250}.{i % 250 + 2}") for i in range(1500)]
    for i in range(0, len(addrs), 100):                   # everything handed over at once, far above the rate
        sender.put(b"".join(addrs[i:i + 100]))
    sender.batches.put(None)
    t = threading.Thread(target=sender.run)
    t.start()
    t.join(30)
    assert [a for _, a in rec.sent] == addrs and sender.backlog() == 0
    # one frame may be sent late and the next on time right after it (a thread preempted between its clock read
    # and its send), hence one more than the pacing's own catch-up allows
    assert _windows_ok([(ts, 1) for ts, _ in rec.sent][:600], pps, arp.PACE_CATCH_UP, 2) == []


def test_sender_sends_nothing_more_once_the_scan_is_halted() -> None:
    rec = _Recorder()
    rate = RateLimiter(1000.0)
    sender = arp._Sender(rec, arp.build_probe(bytes(6), "198.18.0.1", "0.0.0.0"), rate)  # type: ignore[arg-type]
    rate.halted = True
    sender.put(socket.inet_aton("198.18.0.2") * 10)
    sender.batches.put(None)
    sender.run()
    assert rec.sent == [] and sender.backlog() == 0


def _reference(scope: Scope, net: ipaddress.IPv4Network, own: str) -> list[int]:
    """The targets as the sweep chose them before integers: every scope address, one by one."""
    out = []
    for n in scope.targets:
        for a in n:
            if (a not in scope.edges and not any(a in e for e in scope.excludes) and a in net
                    and str(a) != own and scope.allows(str(a))):
                out.append(int(a))
    return out


def test_integer_targets_are_the_scope_addresses_on_the_link() -> None:
    rng = random.Random(11)
    for _ in range(150):
        def net(pfx: tuple[int, ...]) -> str:
            return str(ipaddress.IPv4Network(f"10.{rng.randrange(3)}.{rng.randrange(4)}.{rng.randrange(256)}/"
                                             f"{rng.choice(pfx)}", strict=False))
        link = ipaddress.IPv4Network(net((16, 22, 24, 30)))
        own = str(link.network_address + 1)
        scope = Scope.build([net((22, 24, 26, 29, 32)) for _ in range(rng.randrange(1, 4))],
                            [net((23, 25, 28, 30, 32)) for _ in range(rng.randrange(0, 4))], links=[link])
        assert list(arp.link_targets(scope, link, own)) == _reference(scope, link, own)
        assert scope.size() == sum(1 for _ in scope.hosts())


def test_a_lent_share_of_the_budget_is_taken_off_the_limiter_while_lent() -> None:
    pps, share = 4000.0, 0.75

    async def run() -> tuple[_Clocked, float, int, int]:
        rate = _Clocked(pps)
        loop = asyncio.get_running_loop()
        with rate.lend(share) as lent:
            end = loop.time() + 0.3
            while loop.time() < end:
                await rate.wait()
            during = len(rate.at)
        end = loop.time() + 0.3
        while loop.time() < end:
            await rate.wait()
        return rate, lent, during, len(rate.at) - during

    rate, lent, during, after = asyncio.run(run())
    assert lent == share * pps
    # while lent, the limiter's own slots fit (1 - share) of the rate: the lender and the borrower together, pps
    assert _windows_ok([(t, 1) for t in rate.at[:during]], pps * (1 - share), RateLimiter.BURST, 1) == []
    assert after > 2 * during                      # the whole rate again once the loan is over
    with pytest.raises(ValueError), rate.lend(1.0):   # the whole budget would leave camscan's own probes none
        pass
