"""The lab's `small` site, brought up once per test session for the link-level discovery tests (root only).

A private lab instance (`camscan lab up` with CAMSCAN_LAB set to a per-process name) so runs by
other people or tests never collide; it is always taken down at the end of the session.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


@dataclass(frozen=True)
class LinkLabSite:
    """A running lab instance: its scanner namespace and address, subnet and ground truth."""

    instance: str
    scanner_ns: str
    scanner_ip: str
    subnet: str
    devices: list[dict[str, Any]]

    def with_service(self, service: str, hostile: bool | None = None) -> list[str]:
        """IPs of the truth's devices that run service (e.g. "wsd"), optionally only (non-)hostile ones."""
        return sorted(d["ip"] for d in self.devices if service in d.get("services", ())
                      and (hostile is None or bool(d.get("hostile")) == hostile))

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run coroutine factory fn on a fresh loop in a thread inside the lab's scanner namespace."""
        from scanner.lab import netns

        box: dict[str, Any] = {}

        def target() -> None:
            try:
                with netns.entered(self.scanner_ns):
                    box["r"] = asyncio.run(fn())  # type: ignore[arg-type]
            except BaseException as e:
                box["e"] = e

        t = threading.Thread(target=target)
        t.start()
        t.join(120)
        if "e" in box:
            raise box["e"]
        return box["r"]  # type: ignore[no-any-return]

    def ctx(self, excludes: list[str]) -> Any:
        """A ScanContext on the lab subnet minus the scanner and excludes, bound to the scanner address."""
        from scanner.discovery.base import RateLimiter, ScanContext, ScanStats
        from scanner.scope import Scope
        return ScanContext(scope=Scope.build([self.subnet], [self.scanner_ip, *excludes]),
                           rate=RateLimiter(500), stats=ScanStats(), interface_ip=self.scanner_ip)


def _camscan(instance: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CAMSCAN_LAB=instance)
    return subprocess.run([sys.executable, "-m", "scanner", "lab", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def _site(profile: str) -> Iterator[LinkLabSite]:
    if os.geteuid() != 0:
        pytest.skip("needs root to build the lab's network namespaces")
    instance = f"dl{profile[0]}{os.getpid() % 100000}"
    try:
        for _attempt in range(3):              # `lab up` cleans up after itself when a host fails
            up = _camscan(instance, "up", "--profile", profile)
            if up.returncode == 0:
                break
        else:
            pytest.fail(f"camscan lab up --profile {profile} failed: {up.stderr[-800:]}")
        truth = json.loads(_camscan(instance, "truth").stdout)
        yield LinkLabSite(instance, f"camscan-{instance}-scan", truth["scanner_ip"], truth["subnet"],
                          truth["devices"])
    finally:
        _camscan(instance, "down")


@pytest.fixture(scope="session")
def link_lab_small() -> Iterator[LinkLabSite]:
    """The lab's `small` profile, up for the session (skipped unless root)."""
    yield from _site("small")


@pytest.fixture(scope="session")
def link_lab_hostile() -> Iterator[LinkLabSite]:
    """The lab's `hostile` profile (malformed SADP/DHIP, XML bomb, XAddrs outside), up for the session."""
    yield from _site("hostile")
