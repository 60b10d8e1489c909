"""Logging (text and JSON lines, levels, secrets redacted), the human summary and the Markdown report (concern
column and legend, maker-named devices of unknown kind in their own rows, ignored out-of-scope replies apart from
errors) and the camscan.summary/1 document, from records built in the test."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from scanner import log as logmod
from scanner import report
from scanner.cli.scan import failed_conditions, print_summary
from scanner.discovery.base import ScanStats
from scanner.inventory.records import AdvisoryHit, Device, Inventory, ScanError, ScanInfo, SiteInfo

SCHEMA = json.loads((Path(report.__file__).parents[1] / "schemas" / "summary-1.json").read_text())
MARKER = "pw-MARKER-5e1f0c"


def device(ip: str, **kw: object) -> Device:
    base: dict[str, object] = dict(ip=ip, mac=None, hostnames=(), open_ports=(80,), vendor="hikvision",
                                   brand="hikvision", model=None, firmware=None, serial=None, category="camera",
                                   confidence=0.9, concerns=(), advisories=(), evidence=(), discovered_by=("http",))
    base.update(kw)
    return Device(**base)  # type: ignore[arg-type]


def sample(errors: tuple[ScanError, ...] = ()) -> Inventory:
    """Two Hikvision cameras of concern (one with an advisory), an LTS camera named Hikvision of unknown kind,
    an Axis device of undetermined kind, a printer and an unidentified host; 28 ignored out-of-scope replies."""
    adv = AdvisoryHit("CVE-2021-36260", "command injection", "critical", "affected", "https://example.invalid/a")
    devs = (
        device("198.18.0.10", concerns=("uk-bscc-police-survey-2022",), advisories=(adv,)),
        device("198.18.0.11", concerns=("uk-bscc-police-survey-2022",)),
        device("198.18.0.12", brand="lts", category="unknown", concerns=("uk-bscc-police-survey-2022",)),
        device("198.18.0.13", vendor="axis", brand="axis", category="video"),
        device("198.18.0.14", vendor="hp", brand="hp", category="other"),
        device("198.18.0.15", vendor=None, brand=None, category="unknown"),
    )
    info = ScanInfo("2026-12-07T00:00:00+00:00", "2026-12-07T00:00:05+00:00", ("198.18.0.0/27",), (), ("http",),
                    True, "t", "t", {"seconds": 4.25, "ignored_out_of_scope": 28, "errors_dropped": 0,
                                     "seconds.http": 1.5}, errors)
    return Inventory(SiteInfo("Example Road"), info, devs)


# --- summaries ------------------------------------------------------------------------------------

def test_human_summary_shows_concerns_with_a_legend_and_the_unknown_kind_row() -> None:
    buf = io.StringIO()
    print_summary(sample(), file=buf)
    text = buf.getvalue()
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in text.splitlines() if line.startswith("│")}
    # columns: camera, video, unknown, total, concern (kinds nobody has are left out)
    assert rows["hikvision"] == ["2", "", "", "2", "1"]
    assert rows["axis"] == ["", "1", "", "1", ""]
    assert rows["hikvision (kind unknown)"] == ["", "", "1", "1", "1"]
    assert "1 uk-bscc-police-survey-2022: UK Biometrics and Surveillance Camera" in text
    assert "2023-02-15" in text and "gov.uk" in text                     # source and date in the legend
    assert "video: a surveillance device whose kind" in text and "unknown: a maker is named" in text
    tail = " ".join(text.split("\n\n")[-1].split())
    assert ("6 hosts: 3 surveillance devices (3 of concern, 1 with advisories), 1 other, 2 unidentified "
            "(1 maker-named); 0 errors, 28 ignored out-of-scope replies; 4.2s") in tail


def test_markdown_has_the_concern_column_legend_unknown_kind_rows_and_ignored_replies() -> None:
    md = report.to_markdown(sample(errors=(ScanError("rtsp", "198.18.0.10", "port 554: reset"),)))
    assert ("| maker | camera | nvr | dvr | anpr | encoder | bodyworn | drone | video | unknown | total "
            "| concerns |") in md
    assert "| hikvision | 2 |  |  |  |  |  |  |  |  | 2 | uk-bscc-police-survey-2022 |" in md
    assert "| hikvision \\(kind unknown\\) |  |  |  |  |  |  |  |  | 1 | 1 | uk-bscc-police-survey-2022 |" in md
    assert "| axis |  |  |  |  |  |  |  | 1 |  | 1 |  |" in md
    assert "- `uk-bscc-police-survey-2022`: UK Biometrics and Surveillance Camera Commissioner" in md
    assert "| 198.18.0.12 | hikvision | lts |  |  | unknown |" in md                 # listed, not hidden
    assert "198.18.0.14" not in md and "198.18.0.15" not in md
    assert "CVE-2021-36260 \\(affected\\)" in md
    assert "Ignored out-of-scope replies: 28" in md and "## Errors (1)" in md


def test_summary_document_follows_its_schema_and_counts() -> None:
    inv = sample(errors=(ScanError("rtsp", "198.18.0.10", "port 554: reset"),))
    failed = failed_conditions(inv, ["surveillance", "concern", "advisory", "error"])
    doc = report.summary_doc(inv, scan_id="abc", files=[Path("out/inventory.json")], fail_on=["concern"],
                             failed=["concern"], exit_code=1)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert failed == ["surveillance", "concern", "advisory", "error"]
    assert doc["schema"] == "camscan.summary/1" and doc["scan_id"] == "abc" and doc["site"] == "Example Road"
    assert doc["hosts"] == 6 and doc["surveillance"] == 3
    assert doc["by_category"]["camera"] == 2 and doc["by_category"]["unknown"] == 2 and doc["by_category"]["dvr"] == 0
    hik = next(m for m in doc["by_maker"] if m["maker"] == "hikvision")
    assert hik == {"maker": "hikvision", "surveillance": 2, "by_category": {"camera": 2, "unknown": 1},
                   "concerns": ["uk-bscc-police-survey-2022"]}
    assert doc["concern"]["devices"] == 3
    assert doc["concern"]["lists"]["uk-bscc-police-survey-2022"]["date"] == "2023-02-15"
    assert doc["advisories"] == {"devices": 1, "affected": 1, "possible": 0, "ids": {"CVE-2021-36260": 1}}
    assert doc["errors"] == 1 and doc["ignored_out_of_scope"] == 28 and doc["seconds"] == 4.25
    assert doc["files"] == ["out/inventory.json"] and doc["exit_code"] == 1


def test_fail_on_conditions_are_met_only_by_what_they_name() -> None:
    calm = Inventory(SiteInfo(), sample().scan, (device("198.18.0.14", vendor="hp", category="other",
                                                        concerns=("uk-bscc-police-survey-2022",)),))
    assert failed_conditions(calm, ["surveillance", "concern", "advisory", "error"]) == []
    dropped = Inventory(SiteInfo(), ScanInfo("a", "b", (), (), (), False, "t", "t", {"errors_dropped": 3}), ())
    assert failed_conditions(dropped, ["error"]) == ["error"]


# --- out-of-scope replies are a counter ------------------------------------------------------------

def test_out_of_scope_replies_are_counted_never_error_entries() -> None:
    st = ScanStats()
    for i in range(28):
        st.out_of_scope("wsd", f"198.18.1.{i}", "reply from an address outside the scan scope; ignored")
    st.error("wsd", "198.18.0.9", "undecodable WS-Discovery reply: not XML")
    assert st.counters["ignored_out_of_scope"] == st.counters["ignored_out_of_scope.wsd"] == 28
    assert [e["ip"] for e in st.errors] == ["198.18.0.9"]      # hostile or broken replies stay errors


# --- logging --------------------------------------------------------------------------------------

@pytest.fixture()
def logs() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    yield buf
    logmod.setup()   # back to the defaults for the next test


def test_json_log_lines_carry_time_level_logger_message_and_fields(logs: io.StringIO) -> None:
    logmod.setup(verbose=0, quiet=False, fmt="json", stream=logs)
    logmod.set_context(scan_id="s-1")
    try:
        logmod.get("scan").info("wsd: %d observations", 3, extra={"fields": {"module": "wsd", "seconds": 2.0}})
        logmod.get("scan").debug("not shown at the default level")
    finally:
        logmod.set_context(scan_id=None)
    lines = [json.loads(x) for x in logs.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == {"time", "level", "logger", "message", "scan_id", "module", "seconds"}
    assert (line["level"], line["logger"], line["message"]) == ("info", "camscan.scan", "wsd: 3 observations")
    assert line["time"].endswith("+00:00") and line["seconds"] == 2.0 and line["scan_id"] == "s-1"


@pytest.mark.parametrize(("verbose", "quiet", "shown"), [(0, True, {"WARNING"}), (0, False, {"INFO", "WARNING"}),
                                                         (1, False, {"DEBUG", "INFO", "WARNING"})])
def test_levels(logs: io.StringIO, verbose: int, quiet: bool, shown: set[str]) -> None:
    logmod.setup(verbose=verbose, quiet=quiet, fmt="text", stream=logs)
    for lvl in ("DEBUG", "INFO", "WARNING"):
        logmod.get("x").log(getattr(logging, lvl), "level %s", lvl)
    got = {line.rsplit(" ", 1)[1] for line in logs.getvalue().splitlines()}
    assert got == shown
    assert all(line.startswith("camscan: ") for line in logs.getvalue().splitlines())


def test_registered_secrets_never_reach_a_log_line(logs: io.StringIO) -> None:
    logmod.setup(verbose=2, fmt="json", stream=logs)
    logmod.add_secret(MARKER)
    logmod.get("discovery").warning("login with %s failed", MARKER, extra={"fields": {"tried": [MARKER]}})
    logging.getLogger("some.library").debug("payload %s", MARKER)   # -vv: other libraries' lines too
    text = logs.getvalue()
    assert MARKER not in text and text.count(logmod.REDACTED) == 3
    assert json.loads(text.splitlines()[1])["logger"] == "some.library"


def test_the_log_follows_stderr_even_when_the_one_it_wrote_to_was_closed(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    first, second = (tmp_path / "first").open("w", encoding="utf-8"), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logmod.setup(0)
    logging.getLogger("camscan.test").warning("one")
    first.close()                                  # e.g. a progress display's or a test's capture, now gone
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("camscan.test").warning("two")
    assert "two" in second.getvalue()
