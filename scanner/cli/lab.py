"""`camscan lab ...`: bring a simulated camera estate up in network namespaces, inspect it, tear it down.

The lab instance is $CAMSCAN_LAB (default `lab`), so a test run and a user's lab can coexist.
"""

from __future__ import annotations

import json
import os
import sys

import click

from scanner.lab import control, profiles
from scanner.lab.state import instance_name


@click.group()
def lab() -> None:
    """Bring a simulated camera estate up in network namespaces, inspect it, tear it down.

    Needs root. Several labs can coexist: each command works on the lab named by $CAMSCAN_LAB
    (default `lab`); its namespaces are camscan-<name>-*, its files /run/camscan/<name>/.
    """


@lab.command()
@click.option("--profile", "profile", type=click.Choice(list(profiles.PROFILES)), default="small",
              show_default=True, help="Which site to simulate.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of addresses, MACs, serials and mutations (same seed, same site).")
@click.option("--subnet", default=None,
              help="Lab subnet (default 198.18.0.0/24, /16 for sparse16); must not overlap this "
                   "machine's routes unless inside 198.18.0.0/15.")
@click.option("--arp-filter/--no-arp-filter", default=True, show_default=True, envvar="CAMSCAN_LAB_ARP_FILTER",
              help="Drop the scanner's ARP requests for addresses no lab host holds at its bridge port, as if a "
                   "switch flooded them to hosts that ignore them (lab emulation cost, not scanner speed); "
                   "--no-arp-filter (or CAMSCAN_LAB_ARP_FILTER=0) floods every request to every host namespace.")
def up(profile: str, seed: int, subnet: str | None, arp_filter: bool) -> None:
    """Build the site and return when every host answers."""
    result = control.up(instance_name(), profile, seed, subnet, arp_filter=arp_filter)
    click.echo(result.summary())


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Say whether the lab is up (exit 0), down or broken (exit 1)."""
    s = control.status(instance_name())
    if as_json:
        click.echo(json.dumps(s, indent=1))
    elif s["state"] == "down":
        click.echo(f"lab '{s['instance']}': down")
    elif s["state"] == "up":
        click.echo(f"lab '{s['instance']}': up, profile {s['profile']} (seed {s['seed']}), "
                   f"{s['hosts']} hosts on {s['subnet']}, scanner {s['scanner_ip']}, "
                   f"{s['snmpd']} snmpd, {s['mutations']} mutations, daemon pid {s['daemon_pid']}")
    else:
        click.echo(f"lab '{s['instance']}': broken ({s.get('reason')}); "
                   "run `camscan lab down` to clean up")
    if s["state"] != "up":
        sys.exit(1)


@lab.command()
def down() -> None:
    """Remove every namespace, interface and process of the lab (safe to repeat)."""
    inst = instance_name()
    removed = control.down(inst)
    click.echo(f"lab '{inst}' down" + (f": removed {len(removed)} namespaces" if removed else
                                        " (nothing was up)"))


@lab.command()
def truth() -> None:
    """Print the ground truth of the running lab as JSON."""
    click.echo(json.dumps(control.truth(instance_name()), indent=1))


@lab.command(name="exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(command: tuple[str, ...]) -> None:
    """Run COMMAND inside the lab's scanner namespace (camscan lab exec -- CMD ...)."""
    argv = control.exec_argv(instance_name(), list(command))
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@lab.command()
@click.option("--add", type=click.IntRange(min=0), default=0, help="Hosts to add.")
@click.option("--remove", type=click.IntRange(min=0), default=0, help="Hosts to remove.")
@click.option("--reflash", type=click.IntRange(min=0), default=0, help="Hosts whose firmware changes.")
@click.option("--move", type=click.IntRange(min=0), default=0,
              help="Hosts that move to a new address (same MAC, serial and firmware).")
def mutate(add: int, remove: int, reflash: int, move: int) -> None:
    """Change the running site (hosts added, removed, firmware changed, moved); `lab truth` follows."""
    for line in control.mutate(instance_name(), add=add, remove=remove, reflash=reflash, move=move):
        click.echo(line)
