"""Error entries stay bounded: de-duplicated, capped per host and per module, with what was left out
counted (issue 10: one device streaming ProbeMatches with out-of-scope XAddrs produced 49,924 entries, 8.4 MB)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import ClassVar

from scanner.discovery.base import ERRORS_PER_HOST, ERRORS_PER_MODULE, Module, ScanContext, ScanStats
from scanner.inventory.serialise import to_json
from scanner.match.engine import get_engine
from scanner.models import Observation
from scanner.scan import Plan, ScanRequest, run
from scanner.scope import Scope

FLOOD = 49_924


def test_a_repeated_error_is_recorded_once_and_counted() -> None:
    st = ScanStats()
    for _ in range(5):
        st.error("wsd", "198.18.0.9", "reply from an address outside the scan scope; ignored")
    assert st.errors == [{"module": "wsd", "ip": "198.18.0.9",
                          "error": "reply from an address outside the scan scope; ignored"}]
    assert st.counters["errors_repeated"] == 4
    assert st.has_error("wsd", "198.18.0.9", "reply from an address outside the scan scope; ignored")
    assert not st.has_error("wsd", "198.18.0.8", "reply from an address outside the scan scope; ignored")


def test_one_host_flooding_distinct_errors_keeps_a_few_and_counts_the_rest() -> None:
    st = ScanStats()
    for i in range(FLOOD):
        st.error("wsd", "198.18.0.9", f"XAddr http://10.9.{i // 256 % 256}.{i % 256}:{i}/ outside the scope")
    st.error("wsd", "198.18.0.10", "another host still gets its entry")
    st.error("http", "198.18.0.9", "another module still gets its entry")
    per_host = [e for e in st.errors if e["module"] == "wsd" and e["ip"] == "198.18.0.9"]
    assert len(per_host) == ERRORS_PER_HOST
    assert st.counters["errors_dropped"] == st.counters["errors_dropped.wsd"] == FLOOD - ERRORS_PER_HOST
    assert len(st.errors) == ERRORS_PER_HOST + 2
    assert all(set(e) == {"module", "ip", "error"} for e in st.errors)


def test_many_hosts_erring_are_capped_per_module() -> None:
    st = ScanStats()
    for i in range(1000):
        st.error("rtsp", f"198.18.{i // 250}.{i % 250 + 1}", "port 554: connection reset")
    assert len(st.errors) == ERRORS_PER_MODULE
    assert st.counters["errors_dropped.rtsp"] == 1000 - ERRORS_PER_MODULE


def test_out_of_scope_replies_are_counted_not_piled_up() -> None:
    st = ScanStats()
    for _ in range(300):
        st.out_of_scope("scan", "10.0.0.1", "observation from an address outside the scan scope was dropped")
    assert st.counters["ignored_out_of_scope"] == st.counters["ignored_out_of_scope.scan"] == 300
    assert st.errors == []   # a counter, never an error entry
    assert "errors_repeated" not in st.counters


class Flood(Module):
    """One device streaming ProbeMatches whose XAddrs all point outside the scope, plus one real reply."""

    name: ClassVar[str] = "flood"
    phase: ClassVar[int] = 1

    async def run(self, ctx: ScanContext) -> AsyncIterator[Observation]:
        for i in range(FLOOD):
            ctx.stats.error(self.name, "198.18.0.9", f"XAddr http://10.9.{i // 256 % 256}.{i % 256}/onvif/{i} "
                            "names an address outside the scan scope; not contacted")
            yield Observation("hostname", "x", ip=f"10.1.{i // 256 % 256}.{i % 256}", source=self.name)
        yield Observation("hostname", "cam", ip="198.18.0.9", source=self.name)


def test_an_error_flood_leaves_a_small_inventory_with_the_drops_counted() -> None:
    req = ScanRequest(targets=["198.18.0.0/24"], rate=1000)
    inv = run(req, get_engine(), lambda m: None, Plan(Scope.build(req.targets), [Flood], None, None, False, []))
    text = to_json(inv)
    doc = json.loads(text)
    assert len(text) < 64_000, f"inventory grew to {len(text)} bytes"
    stats = doc["scan"]["stats"]
    assert stats["errors_dropped.flood"] == FLOOD - ERRORS_PER_HOST
    assert stats["ignored_out_of_scope"] == FLOOD
    assert [d["ip"] for d in doc["devices"]] == ["198.18.0.9"]
