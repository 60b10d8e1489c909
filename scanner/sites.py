"""Site files (YAML) and credential files: schema-checked before anything is sent; secrets never printed."""

from __future__ import annotations

import ipaddress
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from scanner import config_schema
from scanner.errors import InputError
from scanner.scope import parse_target

SURVEY_CATEGORIES: Final = ("external", "internal", "anpr", "bodyworn", "drones")
ALERT_RULES: Final = ("new_device", "new_device_of_concern", "firmware_change", "device_gone")


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where an alert is POSTed (JSON), how long one try may take and how many times to try."""

    url: str
    timeout: float = 10.0
    retries: int = 3

    def __repr__(self) -> str:   # a webhook URL may carry a token: never print it whole
        return f"Webhook({self.url.split('//')[0]}//{self.url.split('//')[-1].split('/')[0].split('@')[-1]}/...)"


@dataclass(frozen=True, slots=True)
class Alerts:
    """What changes raise an alert, and where it goes (a webhook and/or a command reading it on stdin)."""

    webhook: Webhook | None = None
    command: tuple[str, ...] = ()
    rules: tuple[str, ...] = ALERT_RULES
    concerns: tuple[str, ...] | None = None   # lists for new_device_of_concern (None: all)


@dataclass(frozen=True, slots=True)
class SiteRange:
    """One authorised range and the survey category its camera systems belong to."""

    cidr: str
    survey: str | None = None
    vlan: int | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Site:
    """A site file: name, organisation, ranges with survey tags, excludes and scan settings."""

    name: str
    organisation: str = ""
    ranges: tuple[SiteRange, ...] = ()
    excludes: tuple[str, ...] = ()
    interface: str | None = None
    credentials: str | None = None     # path of a credentials file, relative to the site file
    modules: tuple[str, ...] | None = None
    rate: float | None = None
    alerts: Alerts | None = None

    def survey_for(self, ip: str) -> str | None:
        """The survey category tag of the most specific range holding ip (None if untagged)."""
        a = ipaddress.IPv4Address(ip)
        best: tuple[int, str | None] | None = None
        for r in self.ranges:
            for net in parse_target(r.cidr):
                if a in net and (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, r.survey)
        return best[1] if best else None


def load_site(path: str | Path) -> Site:
    """Read and validate a site file (schema scanner/schemas/site-1.json); InputError names file, line and key."""
    doc = config_schema.load(path, "site", "site file")
    d: dict[str, Any] = doc.data
    ranges: list[SiteRange] = []
    for i, r in enumerate(d["ranges"]):
        where: list[str | int] = [i] if isinstance(r, str) else [i, "cidr"]
        r = {"cidr": r} if isinstance(r, str) else r
        _check_target(doc, ["ranges", *where], r["cidr"])
        ranges.append(SiteRange(r["cidr"], r.get("survey"), r.get("vlan"), r.get("note") or ""))
    excludes = d.get("excludes") or []
    for i, x in enumerate(excludes):
        _check_target(doc, ["excludes", i], x)
    creds = d.get("credentials")
    if creds is not None:
        creds = str((doc.path.parent / creds).resolve()) if not os.path.isabs(creds) else creds
    modules, rate = d.get("modules"), d.get("rate")
    return Site(d["name"].strip(), d.get("organisation") or "", tuple(ranges), tuple(excludes), d.get("interface"),
                creds, tuple(modules) if modules is not None else None, float(rate) if rate is not None else None,
                _alerts(doc, d.get("alerts")))


def _check_target(doc: config_schema.ConfigDoc, where: list[str | int], text: str) -> None:
    try:
        parse_target(text)
    except InputError as e:
        raise doc.error(where, str(e)) from None


def _alerts(doc: config_schema.ConfigDoc, raw: dict[str, Any] | None) -> Alerts | None:
    if raw is None:
        return None
    hook = None
    w = raw.get("webhook")
    if w is not None:
        w = {"url": w} if isinstance(w, str) else w
        hook = Webhook(w["url"], float(w.get("timeout", 10)), int(w.get("retries", 3)))
    cmd = raw.get("command")
    try:
        command = tuple(shlex.split(cmd)) if isinstance(cmd, str) else tuple(cmd or ())
    except ValueError as e:   # unbalanced quotes
        raise doc.error(["alerts", "command"], f"cannot split into arguments: {e}") from None
    concerns = raw.get("concerns")
    rules = tuple(raw.get("rules", ALERT_RULES))
    return Alerts(hook, command, rules, tuple(concerns) if concerns is not None else None)


@dataclass(frozen=True, slots=True)
class Login:
    """One username/password pair; repr never shows the password."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Login(username={self.username!r}, password=***)"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Operator credentials: a default login, per-host logins, SNMP communities (never reported)."""

    default: Login | None = None
    hosts: dict[str, Login] = field(default_factory=dict)
    snmp_communities: tuple[str, ...] = field(default=(), repr=False)

    def for_host(self, ip: str) -> Login | None:
        """The login to use for ip: a per-host entry, else the default, else None."""
        return self.hosts.get(ip, self.default)


def _login(doc: config_schema.ConfigDoc, where: list[str | int], d: dict[str, Any]) -> Login:
    if "password_env" in d:
        env = d["password_env"]
        if env not in os.environ:
            raise doc.error([*where, "password_env"], f"environment variable {env!r} is not set")
        return Login(d["username"], os.environ[env])
    return Login(d["username"], d["password"])


def load_credentials(path: str | Path) -> Credentials:
    """Read and validate a credentials file (schema scanner/schemas/credentials-1.json); errors name the file,
    line and key, never a value."""
    doc = config_schema.load(path, "credentials", "credentials file", secret=True)
    d: dict[str, Any] = doc.data if doc.data is not None else {}
    default = _login(doc, ["default"], d["default"]) if d.get("default") is not None else None
    hosts: dict[str, Login] = {}
    for ip, login in (d.get("hosts") or {}).items():
        try:
            addr = str(ipaddress.IPv4Address(str(ip)))
        except ValueError:
            raise doc.error(["hosts", str(ip)], "key is not an IPv4 address", key=True) from None
        hosts[addr] = _login(doc, ["hosts", str(ip)], login)
    comms = (d.get("snmp") or {}).get("communities") or []
    return Credentials(default, hosts, tuple(comms))
