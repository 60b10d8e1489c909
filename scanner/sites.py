"""Site files (YAML) and credential files: validated before anything is sent; secrets never printed."""

from __future__ import annotations

import ipaddress
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from scanner.errors import InputError
from scanner.scope import parse_target

SURVEY_CATEGORIES: Final = ("external", "internal", "anpr", "bodyworn", "drones")
SITE_KEYS: Final = frozenset({"name", "organisation", "ranges", "excludes", "interface", "credentials", "modules",
                              "rate", "alerts"})
ALERT_RULES: Final = ("new_device", "new_device_of_concern", "firmware_change", "device_gone")
ALERT_KEYS: Final = frozenset({"webhook", "command", "rules", "concerns"})
WEBHOOK_KEYS: Final = frozenset({"url", "timeout", "retries"})


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


def _load_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{what} {path}: cannot read: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"{what} {path}: not valid YAML: {e}") from None


def load_site(path: str | Path) -> Site:
    """Read and validate a site file; InputError names the file and the field."""
    p = Path(path)
    doc = _load_yaml(p, "site file")
    if not isinstance(doc, dict):
        raise InputError(f"site file {p}: must be a mapping")
    unknown = set(doc) - SITE_KEYS
    if unknown:
        raise InputError(f"site file {p}: unknown field(s) {sorted(unknown)}")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"site file {p}: field 'name' is required")
    ranges: list[SiteRange] = []
    raw_ranges = doc.get("ranges")
    if not isinstance(raw_ranges, list) or not raw_ranges:
        raise InputError(f"site file {p}: field 'ranges' must list at least one range")
    for i, r in enumerate(raw_ranges):
        if isinstance(r, str):
            r = {"cidr": r}
        if not isinstance(r, dict) or not isinstance(r.get("cidr"), str):
            raise InputError(f"site file {p}: ranges[{i}] needs a 'cidr'")
        try:
            parse_target(r["cidr"])
        except InputError as e:
            raise InputError(f"site file {p}: ranges[{i}]: {e}") from None
        survey = r.get("survey")
        if survey is not None and survey not in SURVEY_CATEGORIES:
            raise InputError(f"site file {p}: ranges[{i}]: survey {survey!r} must be one of "
                             f"{', '.join(SURVEY_CATEGORIES)}")
        vlan = r.get("vlan")
        if vlan is not None and (not isinstance(vlan, int) or not 1 <= vlan <= 4094):
            raise InputError(f"site file {p}: ranges[{i}]: vlan must be 1-4094")
        ranges.append(SiteRange(r["cidr"], survey, vlan, str(r.get("note", ""))))
    excludes = doc.get("excludes") or []
    if not isinstance(excludes, list) or not all(isinstance(x, str) for x in excludes):
        raise InputError(f"site file {p}: field 'excludes' must be a list of addresses/CIDRs")
    for x in excludes:
        try:
            parse_target(x)
        except InputError as e:
            raise InputError(f"site file {p}: excludes: {e}") from None
    modules = doc.get("modules")
    if modules is not None and (not isinstance(modules, list) or not all(isinstance(m, str) for m in modules)):
        raise InputError(f"site file {p}: field 'modules' must be a list of module names")
    rate = doc.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
        raise InputError(f"site file {p}: field 'rate' must be a positive number (probes per second)")
    creds = doc.get("credentials")
    if creds is not None:
        if not isinstance(creds, str):
            raise InputError(f"site file {p}: field 'credentials' must be a file path")
        creds = str((p.parent / creds).resolve()) if not os.path.isabs(creds) else creds
    iface = doc.get("interface")
    return Site(name.strip(), str(doc.get("organisation", "")), tuple(ranges), tuple(excludes),
                iface if isinstance(iface, str) else None, creds,
                tuple(modules) if modules is not None else None, float(rate) if rate is not None else None,
                _alerts(p, doc.get("alerts")))


def _alerts(p: Path, raw: Any) -> Alerts | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InputError(f"site file {p}: field 'alerts' must be a mapping")
    unknown = set(raw) - ALERT_KEYS
    if unknown:
        raise InputError(f"site file {p}: alerts: unknown field(s) {sorted(unknown)}")
    hook = None
    w = raw.get("webhook")
    if w is not None:
        if isinstance(w, str):
            w = {"url": w}
        if not isinstance(w, dict) or set(w) - WEBHOOK_KEYS or not isinstance(w.get("url"), str):
            raise InputError(f"site file {p}: alerts.webhook needs a 'url' (and optional timeout, retries)")
        if not w["url"].startswith(("http://", "https://")):
            raise InputError(f"site file {p}: alerts.webhook.url must be an http:// or https:// URL")
        timeout, retries = w.get("timeout", 10), w.get("retries", 3)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
            raise InputError(f"site file {p}: alerts.webhook.timeout must be 0-300 seconds")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise InputError(f"site file {p}: alerts.webhook.retries must be 0-10")
        hook = Webhook(w["url"], float(timeout), retries)
    cmd = raw.get("command")
    if cmd is not None and not (isinstance(cmd, str) and cmd.strip()) and not (
            isinstance(cmd, list) and cmd and all(isinstance(c, str) for c in cmd)):
        raise InputError(f"site file {p}: alerts.command must be a command line or a list of arguments")
    command = tuple(shlex.split(cmd)) if isinstance(cmd, str) else tuple(cmd or ())
    rules = raw.get("rules", list(ALERT_RULES))
    if not isinstance(rules, list) or not rules or any(r not in ALERT_RULES for r in rules):
        raise InputError(f"site file {p}: alerts.rules must list some of {', '.join(ALERT_RULES)}")
    concerns = raw.get("concerns")
    if concerns is not None and (not isinstance(concerns, list) or not all(isinstance(c, str) for c in concerns)):
        raise InputError(f"site file {p}: alerts.concerns must be a list of concern list ids")
    if hook is None and not command:
        raise InputError(f"site file {p}: alerts needs a webhook or a command to send them to")
    return Alerts(hook, command, tuple(rules), tuple(concerns) if concerns is not None else None)


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


def _login(p: Path, where: str, d: Any) -> Login:
    if not isinstance(d, dict) or not isinstance(d.get("username"), str):
        raise InputError(f"credentials file {p}: {where}: needs 'username' and 'password' or 'password_env'")
    if "password_env" in d:
        env = d["password_env"]
        if not isinstance(env, str) or env not in os.environ:
            raise InputError(f"credentials file {p}: {where}: environment variable {env!r} is not set")
        return Login(d["username"], os.environ[env])
    pw = d.get("password")
    if not isinstance(pw, str):
        raise InputError(f"credentials file {p}: {where}: needs 'password' or 'password_env'")
    return Login(d["username"], pw)


def load_credentials(path: str | Path) -> Credentials:
    """Read and validate a credentials file (YAML); errors name the field, never the secret."""
    p = Path(path)
    doc = _load_yaml(p, "credentials file")
    if not isinstance(doc, dict):
        raise InputError(f"credentials file {p}: must be a mapping")
    unknown = set(doc) - {"default", "hosts", "snmp"}
    if unknown:
        raise InputError(f"credentials file {p}: unknown field(s) {sorted(unknown)}")
    default = _login(p, "default", doc["default"]) if doc.get("default") is not None else None
    hosts: dict[str, Login] = {}
    raw_hosts = doc.get("hosts") or {}
    if not isinstance(raw_hosts, dict):
        raise InputError(f"credentials file {p}: 'hosts' must map addresses to logins")
    for ip, d in raw_hosts.items():
        try:
            ipaddress.IPv4Address(str(ip))
        except ValueError:
            raise InputError(f"credentials file {p}: hosts: {ip!r} is not an IPv4 address") from None
        hosts[str(ip)] = _login(p, f"hosts.{ip}", d)
    snmp = doc.get("snmp") or {}
    comms = snmp.get("communities", []) if isinstance(snmp, dict) else None
    if not isinstance(comms, list) or not all(isinstance(c, str) and c for c in comms):
        raise InputError(f"credentials file {p}: snmp.communities must be a list of strings")
    return Credentials(default, hosts, tuple(comms))
