"""Round-trip estimates per host (RFC 6298 section 2), from the connects the scan makes anyway.

A refused or accepted TCP connect is one round trip (SYN to RST or SYN/ACK). Timeouts for a host's next
connects and replies come from its estimate within fixed bounds, as nmap does (--min-rtt-timeout,
--max-rtt-timeout), so a slow device is still read and a quick one does not wait the worst case.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHA = 1 / 8        # RFC 6298: SRTT gain
BETA = 1 / 4         # RFC 6298: RTTVAR gain
K = 4                # RFC 6298: RTO = SRTT + max(G, K * RTTVAR)
GRANULARITY = 0.01   # G: the event loop's own wake-up jitter is of this order

CONNECT_MIN = 0.25   # never wait less for a connect, whatever the estimate (a busy loop delays completions)
CONNECT_MAX = 3.0    # never wait more for a connect
REPLY_MAX_EXTRA = 8.0   # at most this much added to a reply timeout for a slow host


@dataclass(slots=True)
class RoundTrip:
    """Smoothed round trip (SRTT) and its variation (RTTVAR) of one host, seconds; None until a first sample."""

    srtt: float | None = None
    rttvar: float = 0.0
    samples: int = 0

    def add(self, rtt: float) -> None:
        """Take one measured round trip (seconds, >= 0) into the estimate (RFC 6298 2.2 and 2.3)."""
        if rtt < 0:
            return
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        self.samples += 1

    def rto(self) -> float | None:
        """The retransmission timeout the estimate gives (SRTT + max(G, 4 RTTVAR)), None without samples."""
        if self.srtt is None:
            return None
        return self.srtt + max(GRANULARITY, K * self.rttvar)

    def connect_timeout(self, default: float) -> float:
        """Seconds to wait for a connect: default without samples, else the RTO within CONNECT_MIN..CONNECT_MAX."""
        rto = self.rto()
        return default if rto is None else min(CONNECT_MAX, max(CONNECT_MIN, rto))

    def reply_timeout(self, base: float) -> float:
        """Seconds to wait for a whole reply: base, plus K round trips of a slow host (at most REPLY_MAX_EXTRA)."""
        if self.srtt is None:
            return base
        return base + min(REPLY_MAX_EXTRA, K * self.srtt)
