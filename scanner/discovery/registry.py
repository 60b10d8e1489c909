"""The explicit list of discovery modules (one line each): name -> "import.path[:Class]" (default MODULE)."""

from __future__ import annotations

import importlib

from scanner.discovery.base import Module

#: module name -> import path; the order is the default run order within a phase.
MODULES: dict[str, str] = {
    "arp": "scanner.discovery.arp",
    "tcp": "scanner.discovery.tcp",
    "wsd": "scanner.discovery.wsd",
    "wsd_directed": "scanner.discovery.wsd:WsdDirected",
    "sadp": "scanner.discovery.sadp",
    "dhip": "scanner.discovery.dhip",
    "mdns": "scanner.discovery.mdns",
    "ssdp": "scanner.discovery.ssdp",
    "http": "scanner.discovery.http",
    "rtsp": "scanner.discovery.rtsp",
    "snmp": "scanner.discovery.snmp",
    "onvif": "scanner.discovery.onvif",
    "nmap": "scanner.discovery.nmap",
}


def load(name: str) -> type[Module]:
    """The module class registered as name (ImportError/KeyError if it is missing)."""
    path, _, attr = MODULES[name].partition(":")
    mod = importlib.import_module(path)
    cls: type[Module] = getattr(mod, attr or "MODULE")
    return cls
