"""The camscan command line: one module per command group, registered below.

Exit status across commands: 0 done, 1 a condition the command reports (`scan --fail-on` met, `diff` found
changes), 2 bad input or usage (nothing sent or written), 3 runtime failure, 128+N stopped by signal N.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from scanner import __version__
from scanner import log as logmod
from scanner.errors import CamscanError

EXIT_INPUT = 2
EXIT_RUNTIME = 3


#: command name -> (module under scanner.cli, attribute): imported only when the command runs or is listed,
#: so `camscan scan` does not pay for the report, survey, lab and store commands' imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "identify": ("identify", "identify"), "fingerprints": ("fingerprints", "fingerprints"), "lab": ("lab", "lab"),
    "scan": ("scan", "scan"), "import-nmap": ("scan", "import_nmap"), "history": ("history", "history"),
    "show": ("history", "show"), "diff": ("history", "diff"), "watch": ("watch", "watch"),
    "schedule": ("watch", "schedule"), "report": ("report", "report_cmd"), "survey": ("report", "survey"),
    "man": ("manpage", "man"),
}


class LazyGroup(click.Group):
    """The top-level group: commands from COMMANDS, each module imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted."""
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module the first time; None for an unknown name."""
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            mod, attr = COMMANDS[cmd_name]
            cmd = getattr(importlib.import_module(f"scanner.cli.{mod}"), attr)
            if cmd_name == "fingerprints":
                from scanner.cli import advisories
                cmd.add_command(advisories.advisories)
            self.add_command(cmd, cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="camscan",
                      help="Show camscan's version and exit.")
@click.option("-v", "--verbose", count=True,
              help="More log detail for any command: -v debug, -vv debug from the libraries too.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors in the log, for any command.")
@click.option("--log-format", type=click.Choice(logmod.FORMATS), default="text", show_default=True,
              help="Log lines on stderr as text or JSON lines (time, level, logger, message, fields).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, log_format: str) -> None:
    """camscan: find surveillance devices on networks you are authorised to scan.

    Exit status: 0 done, 1 a condition the command reports (scan --fail-on met, diff found changes), 2 bad
    input or usage, 3 runtime failure, 128+N stopped by signal N. Shell completion:
    eval "$(_CAMSCAN_COMPLETE=bash_source camscan)" (zsh_source, fish_source for zsh and fish).
    """
    ctx.obj = {"verbose": verbose, "quiet": quiet, "log_format": log_format}
    logmod.setup(verbose, quiet, log_format)


def _register() -> None:
    """Load every command now (for tools that walk cli.commands)."""
    ctx = click.Context(cli)
    for name in COMMANDS:
        cli.get_command(ctx, name)


def main() -> None:
    """Entry point: run the CLI; a CamscanError becomes a one-line message and exit status 2, any other failure
    a logged traceback and exit status 3."""
    try:
        cli.main(prog_name="camscan", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except CamscanError as e:
        click.echo(f"camscan: error: {e}", err=True)
        sys.exit(EXIT_INPUT)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        if logmod.handler() is None:
            logmod.setup()
        logging.getLogger("camscan").critical("internal error: %s: %s", type(e).__name__, e, exc_info=True)
        sys.exit(EXIT_RUNTIME)
