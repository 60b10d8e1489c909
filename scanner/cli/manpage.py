"""`camscan man`: the manual page camscan(1), generated in roff from the click definitions themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from scanner import __version__

EXIT_STATUS = [
    ("0", "Done (for diff: nothing changed)."),
    ("1", "A condition the command reports: scan or import-nmap --fail-on met; diff found changes."),
    ("2", "Bad input or usage: a message names the problem; nothing was sent or written."),
    ("3", "Runtime failure (a traceback is logged)."),
    ("128+N", "Stopped by signal N: 130 for SIGINT (Ctrl-C), 143 for SIGTERM; the inventory written is marked "
              "incomplete."),
]
ENVIRONMENT = [
    ("CAMSCAN_DB", "The store: a SQLite file or a postgresql:// URL (default camscan.db in the data directory)."),
    ("CAMSCAN_LAB", "The lab instance name camscan lab and the lab tests use."),
    ("_CAMSCAN_COMPLETE", "Set to bash_source, zsh_source or fish_source to print the shell completion script."),
]


def roff(text: str) -> str:
    """text safe in a roff line: backslashes and hyphens escaped, no line starting with a control character."""
    out = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(out)


def _commands(group: click.Group, ctx: click.Context, prefix: str) -> Iterator[tuple[str, click.Command,
                                                                                      click.Context]]:
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        sub = click.Context(cmd, info_name=name, parent=ctx)
        yield f"{prefix} {name}", cmd, sub
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, sub, f"{prefix} {name}")


def _options(cmd: click.Command, ctx: click.Context) -> list[str]:
    lines = []
    for p in cmd.get_params(ctx):
        if not isinstance(p, click.Option):
            continue
        rec = p.get_help_record(ctx)
        if rec is None:
            continue
        names, help_text = rec
        lines += [".TP", f"\\fB{roff(names)}\\fR", roff(" ".join(help_text.split()) or "(no description)")]
    return lines


def _paragraphs(text: str) -> list[str]:
    out: list[str] = []
    for para in click.unstyle(text or "").replace("\b\n", "").split("\n\n"):
        words = " ".join(para.split())
        if words:
            out += [".PP", roff(words)]
    return out


def render(group: click.Group) -> str:
    """The manual page of the command line rooted at group: every command and every option, in roff."""
    ctx = click.Context(group, info_name="camscan", **group.context_settings)
    head = (group.help or "").split("\n", 1)[0]
    name_line = head.split(":", 1)[1].strip() if ":" in head else head
    lines = [f'.TH CAMSCAN 1 "" "camscan {roff(__version__)}" "User Commands"', ".SH NAME",
             f"camscan \\- {roff(name_line)}", ".SH SYNOPSIS",
             "\\fBcamscan\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...", ".SH DESCRIPTION"]
    lines += _paragraphs(group.help or "")
    lines += [".SH OPTIONS", *_options(group, ctx)]
    lines += [".SH COMMANDS"]
    for full, cmd, sub in _commands(group, ctx, "camscan"):
        usage = " ".join(cmd.collect_usage_pieces(sub))
        lines += [f'.SS "{roff(full)}"', f"\\fB{roff(full)}\\fR {roff(usage)}"]
        lines += _paragraphs(cmd.help or cmd.short_help or "")
        opts = _options(cmd, sub)
        if opts:
            lines += [".PP", "Options:", ".RS", *opts, ".RE"]
    lines += [".SH EXIT STATUS"]
    for code, what in EXIT_STATUS:
        lines += [".TP", f"\\fB{roff(code)}\\fR", roff(what)]
    lines += [".SH ENVIRONMENT"]
    for var, what in ENVIRONMENT:
        lines += [".TP", f"\\fB{roff(var)}\\fR", roff(what)]
    lines += [".SH SHELL COMPLETION", ".nf",
              roff('bash: eval "$(_CAMSCAN_COMPLETE=bash_source camscan)"    # in ~/.bashrc'),
              roff('zsh:  eval "$(_CAMSCAN_COMPLETE=zsh_source camscan)"     # in ~/.zshrc'),
              roff("fish: _CAMSCAN_COMPLETE=fish_source camscan > ~/.config/fish/completions/camscan.fish"),
              ".fi", ".SH SEE ALSO", "\\fBnmap\\fR(1)"]
    return "\n".join(lines) + "\n"


@click.command("man")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the page to this file (e.g. camscan.1) instead of stdout.")
def man(out: str | None) -> None:
    """Print the manual page camscan(1) in roff (read it with: camscan man | man -l -)."""
    from scanner.cli import cli

    text = render(cli)
    if out is None:
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")
