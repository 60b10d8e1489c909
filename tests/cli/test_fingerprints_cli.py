"""`camscan fingerprints stats` and `coverage` on terminals of different widths: the table when it fits, else the
same figures a line per maker (a 30-column table squeezed into 80 columns is unreadable)."""

from __future__ import annotations

from click.testing import CliRunner

from scanner.cli import cli as main


def _run(args: list[str], columns: int) -> str:
    res = CliRunner().invoke(main, ["fingerprints", *args], env={"COLUMNS": str(columns)})
    assert res.exit_code == 0, res.output
    return res.output


def test_coverage_on_a_narrow_terminal_is_a_line_per_maker() -> None:
    out = _run(["coverage"], 80)
    assert "┃" not in out and "│" not in out                       # no squeezed table
    hik = next(line for line in out.splitlines() if line.startswith("hikvision *: "))
    assert "http.server" in hik and "models" in hik                 # its families and model rules, by name
    assert max(len(line) for line in out.splitlines() if line.startswith("hikvision")) > 80   # lines may wrap


def test_coverage_on_a_wide_terminal_is_the_table() -> None:
    out = _run(["coverage"], 400)
    assert "┃" in out and "hikvision *" in out


def test_stats_on_a_narrow_terminal_is_a_line_per_maker() -> None:
    out = _run(["stats", "--no-write"], 80)
    assert "┃" not in out
    assert any(line.startswith("axis: ") and "http.title" in line for line in out.splitlines())
