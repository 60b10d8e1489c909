"""The camscan command line: one module per command group, registered below.

Exit status across commands: 0 done, 1 a condition the command reports (`scan --fail-on` met, `diff` found
changes), 2 bad input or usage (nothing sent or written), 3 runtime failure, 128+N stopped by signal N.
"""

from __future__ import annotations

import logging
import sys

import click

from scanner import __version__
from scanner import log as logmod
from scanner.errors import CamscanError

EXIT_INPUT = 2
EXIT_RUNTIME = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    from scanner.cli import advisories, fingerprints, history, identify, lab, manpage, report, scan, watch

    if cli.commands:
        return
    cli.add_command(identify.identify)
    fingerprints.fingerprints.add_command(advisories.advisories)
    cli.add_command(fingerprints.fingerprints)
    cli.add_command(lab.lab)
    cli.add_command(scan.scan)
    cli.add_command(scan.import_nmap)
    cli.add_command(history.history)
    cli.add_command(history.show)
    cli.add_command(history.diff)
    cli.add_command(watch.watch)
    cli.add_command(watch.schedule)
    cli.add_command(report.report_cmd)
    cli.add_command(report.survey)
    cli.add_command(manpage.man)


def main() -> None:
    """Entry point: run the CLI; a CamscanError becomes a one-line message and exit status 2, any other failure
    a logged traceback and exit status 3."""
    _register()
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
