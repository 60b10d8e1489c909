"""CLI conventions without a network: help text for every option, -V/--version, shell completion scripts, the
man page, --fail-on and -iL/--exclude-file parsing, bad input refused (exit 2) before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from scanner import __version__
from scanner.cli import _register, cli
from scanner.cli.manpage import render
from scanner.cli.scan import parse_fail_on, read_list_file
from scanner.errors import InputError
from tests.netns import empty_netns

REPO = Path(__file__).resolve().parents[2]
PRIVILEGED = os.geteuid() == 0


def camscan(*args: str, env: dict[str, str] | None = None, netns: str | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`camscan ARGS` as a user runs it (optionally inside a network namespace)."""
    cmd = [sys.executable, "-m", "scanner", *args]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO, input=stdin,
                          env={**os.environ, **(env or {})})


def commands() -> Iterator[tuple[str, click.Command, click.Context]]:
    """Every command of the CLI (groups and their subcommands too), with its context."""
    _register()
    root = click.Context(cli, info_name="camscan", **cli.context_settings)
    todo: list[tuple[str, click.Command, click.Context]] = [("camscan", cli, root)]
    while todo:
        name, cmd, ctx = todo.pop()
        yield name, cmd, ctx
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                c = cmd.get_command(ctx, sub)
                assert c is not None
                todo.append((f"{name} {sub}", c, click.Context(c, info_name=sub, parent=ctx)))


def test_every_option_of_every_command_has_help_text() -> None:
    seen = 0
    missing = []
    for name, cmd, ctx in commands():
        assert cmd.help or cmd.short_help, f"{name} has no description"
        for p in cmd.get_params(ctx):
            if isinstance(p, click.Option):
                seen += 1
                if not (p.help or "").strip():
                    missing.append(f"{name} {'/'.join(p.opts)}")
    assert seen > 50
    assert not missing, f"options without help text: {missing}"


def test_scan_help_shows_the_conventions() -> None:
    p = camscan("scan", "-h")
    assert p.returncode == 0, p.stderr
    for opt in ("-iL, --targets-file", "--exclude-file", "-o, --out", "-q, --quiet", "-v, --verbose", "--json",
                "--fail-on", "--log-format [text|json]", "--engine [native|nmap]", "Exit status: 0 done, 1"):
        assert opt in p.stdout, opt
    engine = p.stdout.split("--engine [native|nmap]", 1)[1].split("--why", 1)[0]
    assert "nmap" in engine and "identification" in engine   # --engine has a description, not just choices


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str) -> None:
    p = camscan(flag)
    assert p.returncode == 0 and p.stdout.strip() == f"camscan, version {__version__}"


@pytest.mark.parametrize(("shell", "needle"), [("bash", "_camscan_completion()"), ("zsh", "#compdef camscan"),
                                               ("fish", "complete --no-files --command camscan")])
def test_shell_completion_scripts_are_produced(shell: str, needle: str) -> None:
    p = camscan(env={"_CAMSCAN_COMPLETE": f"{shell}_source"})
    assert p.returncode == 0, p.stderr
    assert needle in p.stdout


def test_bash_completion_completes_commands_and_options() -> None:
    p = camscan(env={"_CAMSCAN_COMPLETE": "bash_complete", "COMP_WORDS": "camscan sc", "COMP_CWORD": "1"})
    assert "plain,scan" in p.stdout.splitlines() and "plain,schedule" in p.stdout.splitlines()
    p = camscan(env={"_CAMSCAN_COMPLETE": "bash_complete", "COMP_WORDS": "camscan scan --fail", "COMP_CWORD": "2"})
    assert p.stdout.splitlines() == ["plain,--fail-on"]


def test_man_page_names_every_command_and_option() -> None:
    text = render(cli)
    assert text.startswith(".TH CAMSCAN 1")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                    "SHELL COMPLETION"):
        assert f"\n.SH {section}\n" in text, section
    for name, cmd, ctx in commands():
        if name != "camscan":
            assert f'.SS "{name.replace("-", chr(92) + "-")}"' in text, name
        for p in cmd.get_params(ctx):
            if isinstance(p, click.Option):
                for o in p.opts:
                    assert o.replace("-", "\\-") in text, f"{name} {o}"
    assert not any(line.startswith(("'", ".")) and not line[1:2].isalpha() and line != "." for line in
                   text.splitlines() if line), "a text line would be read as a roff request"


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_page_renders_with_man(tmp_path: Path) -> None:
    page = tmp_path / "camscan.1"
    p = camscan("man", "-o", str(page))
    assert p.returncode == 0, p.stderr
    r = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "100", "LC_ALL": "C.UTF-8"})
    assert r.returncode == 0, r.stderr
    out = r.stdout.replace("\u2010", "-").replace("\u2011", "-")
    assert "CAMSCAN(1)" in out and "EXIT STATUS" in out
    assert "--targets-file" in out and "camscan import-nmap" in out and "128+N" in out
    assert "warning" not in r.stderr.lower()


def test_fail_on_accepts_repeats_and_comma_lists() -> None:
    assert parse_fail_on(["concern,advisory", "error", "concern"]) == ["concern", "advisory", "error"]
    assert parse_fail_on([]) == []
    with pytest.raises(click.BadParameter, match="'cameras' is not one of"):
        parse_fail_on(["surveillance,cameras"])


def test_a_bad_fail_on_is_a_usage_error_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = camscan("scan", "198.18.0.0/24", "--fail-on", "cameras", "-o", str(out), "--no-store")
    assert p.returncode == 2 and "'cameras' is not one of surveillance, concern, advisory, error" in p.stderr
    assert not out.exists()


def test_target_files_read_like_nmap_il(tmp_path: Path) -> None:
    f = tmp_path / "targets.txt"
    f.write_text("# site A\n198.18.0.0/28\n\n  198.18.1.5   198.18.1.10-20 # two on a line\n#198.18.9.9\n")
    assert read_list_file(str(f), "--targets-file") == ["198.18.0.0/28", "198.18.1.5", "198.18.1.10-20"]
    f.write_text("198.18.0.1\n198.18.0.300\n")
    with pytest.raises(InputError, match=rf"--targets-file {f}:2: bad target '198.18.0.300'"):
        read_list_file(str(f), "--targets-file")
    f.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="no targets in it"):
        read_list_file(str(f), "--targets-file")
    assert read_list_file(str(f), "--exclude-file", empty_ok=True) == []
    with pytest.raises(InputError, match="No such file"):
        read_list_file(str(tmp_path / "missing.txt"), "--targets-file")


@pytest.mark.skipif(not PRIVILEGED, reason="needs root to make an empty network namespace")
@pytest.mark.parametrize(("lines", "extra", "needle"), [
    ("198.18.0.0/29\nnot-an-address\n", [], "targets.txt:2: bad target 'not-an-address'"),
    ("# public space needs --allow-public\n8.8.8.0/24\n", [], "8.8.8.0/24 is public address space"),
    ("", [], "no targets in it"),
    ("198.18.0.0/24\n", ["--exclude-file", "{missing}"], "--exclude-file"),
    ("198.18.0.8/30\n", ["--exclude-file", "{excl}"], "every target address is excluded"),
])
def test_target_and_exclude_files_refused_before_anything_is_sent(tmp_path: Path, lines: str, extra: list[str],
                                                                  needle: str) -> None:
    targets, excl, out = tmp_path / "targets.txt", tmp_path / "excl.txt", tmp_path / "out"
    targets.write_text(lines)
    excl.write_text("# the whole test range\n198.18.0.8/30\n")
    args = [a.format(missing=tmp_path / "missing.txt", excl=excl) for a in extra]
    with empty_netns("ticli") as ns:
        p = camscan("scan", "-iL", str(targets), *args, "-o", str(out), "--no-store", netns=ns)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert needle in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists(), "nothing may be written for bad input"


@pytest.mark.skipif(not PRIVILEGED, reason="needs root to make an empty network namespace")
def test_targets_file_from_stdin_is_scanned(tmp_path: Path) -> None:
    """-iL - reads stdin; the targets it names are what the inventory says was scanned (an empty namespace:
    nothing answers, nothing leaves)."""
    out = tmp_path / "out"
    with empty_netns("ticli") as ns:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        p = camscan("scan", "-iL", "-", "198.18.7.1", "--modules", "tcp", "--rate", "500", "-o", str(out),
                    "--no-store", "--json", netns=ns, stdin="# from a pipe\n198.18.7.8/30\n")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["targets"] == ["198.18.7.1/32", "198.18.7.8/30"]
    assert doc["hosts"] == 0 and doc["complete"] is True
