"""Lab test support: skip `@pytest.mark.lab` tests without privileges, and bring labs up under unique
instance names (always torn down), driven through the `camscan lab` command line like a user would."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scanner.lab import topology

REPO = Path(__file__).resolve().parents[2]
PRIVILEGED = topology.has_privileges()
NO_PRIV_REASON = "needs root or CAP_NET_ADMIN to build network namespaces"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every lab-marked test, with the reason, when this process cannot build namespaces."""
    if PRIVILEGED:
        return
    skip = pytest.mark.skip(reason=NO_PRIV_REASON)
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@dataclass
class Lab:
    """A lab instance brought up for tests; every call goes through the camscan command line."""

    instance: str
    env: Mapping[str, str] = field(default_factory=dict)

    def camscan(self, *args: str, check: bool = True, timeout: float = 600,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `camscan ARGS` for this instance."""
        env = {**os.environ, **self.env, "CAMSCAN_LAB": self.instance}
        p = subprocess.run([sys.executable, "-m", "scanner", *args], env=env, cwd=REPO, text=True,
                           capture_output=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"camscan {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
        return p

    def exec(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run CMD inside the scanner namespace (`camscan lab exec -- CMD`)."""
        return self.camscan("lab", "exec", "--", *cmd, check=check, timeout=timeout)

    def truth(self) -> dict[str, Any]:
        """The current `camscan lab truth` document."""
        doc: dict[str, Any] = json.loads(self.camscan("lab", "truth").stdout)
        return doc

    def down(self) -> None:
        """`camscan lab down` (never raises: used in teardown)."""
        self.camscan("lab", "down", check=False)


def new_instance(tag: str) -> str:
    """A unique instance name for one test lab."""
    return f"t{tag}{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def running_lab(tag: str, *args: str, env: Mapping[str, str] | None = None) -> Iterator[Lab]:
    """Bring a lab up (`camscan lab up ARGS`) under a fresh instance name; always bring it down."""
    lab = Lab(new_instance(tag), dict(env or {}))
    try:
        lab.camscan("lab", "up", *args)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def lab_small() -> Iterator[Lab]:
    """The `small` profile, up for the whole session (do not mutate it: other tests share it)."""
    if not PRIVILEGED:
        pytest.skip(NO_PRIV_REASON)
    with running_lab("s", "--profile", "small", "--seed", "7") as lab:
        yield lab
