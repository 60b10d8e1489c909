"""Linux capabilities of this process (for up-front privilege checks with a plain-words message)."""

from __future__ import annotations

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21


def effective() -> int:
    """The effective capability set as a bit mask (0 when /proc cannot be read)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def has(*caps: int) -> bool:
    """True when this process holds every capability named in its effective set (uid 0 alone is not enough:
    root can run with capabilities dropped, e.g. under `capsh --drop=cap_net_raw` or in a container)."""
    mask = effective()
    return all(mask >> c & 1 for c in caps)
