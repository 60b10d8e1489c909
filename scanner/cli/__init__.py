"""The camscan command line: one module per command group, registered below."""

from __future__ import annotations

import sys

import click

from scanner import __version__
from scanner.errors import CamscanError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="camscan")
def cli() -> None:
    """camscan: find surveillance devices on networks you are authorised to scan."""


def _register() -> None:
    from scanner.cli import fingerprints, history, identify, lab, report, scan, watch

    cli.add_command(identify.identify)
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


def main() -> None:
    """Entry point: run the CLI; a CamscanError becomes a one-line message and exit status 2."""
    _register()
    try:
        cli.main(standalone_mode=False)
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
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
