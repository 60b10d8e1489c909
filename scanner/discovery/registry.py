"""The explicit list of discovery modules (one line each); each file exposes MODULE = its class."""

from __future__ import annotations

import importlib

from scanner.discovery.base import Module

#: module name -> import path; the order is the default run order within a phase.
MODULES: dict[str, str] = {
    "arp": "scanner.discovery.arp",
    "tcp": "scanner.discovery.tcp",
    "wsd": "scanner.discovery.wsd",
    "sadp": "scanner.discovery.sadp",
    "dhip": "scanner.discovery.dhip",
    "mdns": "scanner.discovery.mdns",
    "ssdp": "scanner.discovery.ssdp",
    "http": "scanner.discovery.http",
    "rtsp": "scanner.discovery.rtsp",
    "snmp": "scanner.discovery.snmp",
    "onvif": "scanner.discovery.onvif",
}


def load(name: str) -> type[Module]:
    """The module class registered as name (ImportError/KeyError if it is missing)."""
    mod = importlib.import_module(MODULES[name])
    cls: type[Module] = mod.MODULE
    return cls
