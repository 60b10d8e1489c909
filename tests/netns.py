"""An empty network namespace for tests that run `camscan scan` with targets it must refuse."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def empty_netns(prefix: str = "tempty") -> Iterator[str]:
    """A network namespace with nothing but lo (down): whatever a refusal that failed sends goes nowhere."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
