"""Site and credentials files are checked against their shipped JSON Schemas: every mistake is refused with
the file, line and key, and nothing from a credentials file ever appears in a message."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from scanner.errors import InputError
from scanner.sites import load_credentials, load_site

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SECRET = "hunter2-Sekr1t"


def _site_error(tmp_path: Path, text: str | bytes) -> str:
    p = tmp_path / "site.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError) as e:
        load_site(p)
    msg = str(e.value)
    assert msg.startswith(f"site file {p}"), msg
    return msg


def _creds_error(tmp_path: Path, text: str | bytes) -> str:
    p = tmp_path / "credentials.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError) as e:
        load_credentials(p)
    msg = str(e.value)
    assert msg.startswith(f"credentials file {p}"), msg
    return msg


@pytest.mark.parametrize("name", ["site-1.json", "credentials-1.json"])
def test_schemas_ship_with_the_package_and_are_valid_json_schema(name: str) -> None:
    schema = json.loads(resources.files("scanner").joinpath(f"schemas/{name}").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)


def test_shipped_examples_and_an_alerts_section_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMSCAN_PASSWORD", "x")
    monkeypatch.setenv("CAMSCAN_NVR_PASSWORD", "y")
    site = load_site(EXAMPLES / "site.yaml")
    assert [(r.cidr, r.survey, r.vlan) for r in site.ranges] == [("198.18.0.0/25", "external", 110),
                                                                 ("198.18.0.128/26", "internal", None),
                                                                 ("198.18.0.192/27", "anpr", None)]
    assert site.rate == 1000.0 and site.excludes == ("198.18.0.250",)
    assert load_credentials(EXAMPLES / "credentials.example.yaml").for_host("198.18.0.20") is not None
    lab = load_credentials(EXAMPLES / "lab-credentials.yaml")
    assert lab.default is not None and lab.default.username == "admin" and lab.snmp_communities == ("public",)
    # the commented alerts block of the example, switched on
    text = (EXAMPLES / "site.yaml").read_text()
    text = "\n".join(line[2:] if line.startswith(("# alerts:", "#   ")) else line for line in text.splitlines())
    p = tmp_path / "site.yaml"
    p.write_text(text.replace("credentials: credentials.example.yaml", ""))
    a = load_site(p).alerts
    assert a is not None and a.webhook is not None and a.webhook.retries == 3
    assert a.command == ("/usr/local/bin/notify-soc",) and a.concerns == ("fcc-covered-list",)


@pytest.mark.parametrize(("text", "needle"), [
    # a misspelt key inside a range entry used to leave the range silently untagged
    ("name: x\nranges:\n  - cidr: 198.18.0.0/24\n    surevy: external\n",
     "line 4: ranges[0].surevy: unknown key (allowed: cidr, note, survey, vlan)"),
    # YAML true is not a VLAN number (bool is an int subclass in Python)
    ("name: x\nranges:\n  - cidr: 198.18.0.0/24\n    vlan: true\n",
     "line 4: ranges[0].vlan: must be a whole number, not true/false"),
    ("name: x\nranges:\n  - cidr: 198.18.0.0/24\n    vlan: 5000\n", "line 4: ranges[0].vlan: must be at least 1"),
    ("name: x\nranges: [198.18.0.0/24]\nvlan: 2\n", "line 3: vlan: unknown key"),
    ("name: x\nranges: [198.18.0.0/24]\nalerts: {webhook: {url: 'https://h', tmeout: 9}}\n",
     "line 3: alerts.webhook.tmeout: unknown key"),
    ("name: x\nranges: [{cidr: 198.18.0.0/24, survey: outdoors}]\n",
     "line 2: ranges[0].survey: 'outdoors' must be one of external, internal, anpr, bodyworn, drones"),
    ("name: x\nranges: []\n", "line 2: ranges: must not be an empty list"),
    ("name: x\n", "line 1: 'ranges' is required"),
    ("organisation: y\nranges: [198.18.0.0/24]\n", "'name' is required"),
    ("name: '  '\nranges: [198.18.0.0/24]\n", "name: must not be blank"),
    ("name: 2026-01-01\nranges: [198.18.0.0/24]\n", "name: must be a string, not a date"),
    ("name: x\nranges:\n  - 198.18.0.0/24\n  - cidr: 198.18.1.0/99\n", "line 4: ranges[1].cidr: bad target"),
    ("name: x\nranges: [198.18.0.0/24]\nexcludes:\n  - 198.18.0.9\n  - bogus\n", "line 5: excludes[1]: bad target"),
    ("name: x\nranges: [198.18.0.0/24]\nrate: 5\nrate: 6\n", "line 4: rate: key appears twice (first on line 3)"),
    ("name: x\nranges: [198.18.0.0/24]\nalerts: {command: 'notify \"x'}\n", "alerts.command: cannot split"),
    ("- just\n- a list\n", "line 1: must be a mapping"),
    ("", "must be a mapping (key: value), not empty"),
    ("name: [unclosed\n", "line 2, column 1: not valid YAML"),
    ("name: x\nranges: [198.18.0.0/24]\n---\nname: y\n", "line 3, column 1: not valid YAML"),
])
def test_site_file_mistakes_name_file_line_and_key(tmp_path: Path, text: str, needle: str) -> None:
    assert needle in _site_error(tmp_path, text)


@pytest.mark.parametrize(("value", "needle"), [
    (".nan", "rate: must be a number, not nan or infinity"),    # NaN compares false: it switched the limiter off
    (".inf", "rate: must be a number, not nan or infinity"),
    ("-.inf", "rate: must be a number, not nan or infinity"),
    ("0", "rate: must be greater than 0"),
    ("-1", "rate: must be greater than 0"),
    ("fast", "rate: must be a number, not a string"),
    ("true", "rate: must be a number, not true/false"),
])
def test_site_rate_must_be_a_finite_positive_number(tmp_path: Path, value: str, needle: str) -> None:
    msg = _site_error(tmp_path, f"name: x\nranges: [198.18.0.0/24]\nrate: {value}\n")
    assert "line 3" in msg and needle in msg


def test_a_site_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    msg = _site_error(tmp_path, b"name: x\nranges: [198.18.0.0/24]\norganisation: Caf\xe9 Police\n")
    assert "line 3, column 18: not UTF-8 text" in msg


@pytest.mark.parametrize(("text", "needle"), [
    # YAML's own error would print the offending line: here, the password
    (f'default:\n  username: admin\n  password: "{SECRET}\n', "line 4, column 1: not valid YAML"),
    (f"default:\n  username: admin\n  password: {SECRET}: more\n", "line 3, column 27: not valid YAML"),
    (f"default:\n  username: admin\n\tpassword: {SECRET}\n", "line 3, column 1: not valid YAML"),
    (f'default: {{username: admin, password: "a\\q{SECRET}"}}\n', "line 1, column 41: not valid YAML"),
    (f"default: {{username: admin, password: *{SECRET}}}\n", "not valid YAML"),
    (f"default: {{username: admin, password: !!python/object {SECRET}}}\n", "not valid YAML"),
    (f'default: {{username: admin, password: "\x07{SECRET}"}}\n', "line 1, column 39: not valid YAML"),
    # the schema's messages never quote a value either
    ("default:\n  username: admin\n  password: 20261207\n",
     "line 3, column 13: default.password: must be a string, not a whole number (quote it"),
    (f"default: {{username: admin, {SECRET}}}\n",
     "line 1, column 28: default: unknown key (allowed: password, password_env, username)"),
    (f"default: {{username: admin, passwrod: {SECRET}}}\n", "line 1, column 28: default: unknown key"),
    (f"default: {{username: admin, password: {SECRET}, password_env: X}}\n",
     "default: needs 'password' or 'password_env' (one of them, not both)"),
    ("default: {username: admin}\n", "default: needs 'password' or 'password_env'"),
    (f"hosts:\n  {SECRET}: {{username: a, password: b}}\n", "line 2, column 3: hosts: key is not an IPv4 address"),
    (f"snmp: {{communities: [{SECRET}, 5]}}\n", "snmp.communities[1]: must be a string, not a whole number"),
    (f"snmp: {{communities: {SECRET}}}\n", "snmp.communities: must be a list, not a string"),
    (f"default: {{username: admin, password: {SECRET}}}\nhosts:\n  198.18.0.5: {{username: a, password: b}}\n"
     f"  198.18.0.5: {{username: a, password: {SECRET}}}\n", "line 4: hosts.198.18.0.5: key appears twice"),
    (f"default: {{username: admin, password: {SECRET}}}\ncolour: {SECRET}\n", "line 2, column 1: unknown key"),
    (f"default: {{username: admin, password: {SECRET}}}\n".encode() + b"\xff\n", "line 2, column 1: not UTF-8"),
])
def test_credentials_mistakes_never_show_a_secret(tmp_path: Path, text: str | bytes, needle: str) -> None:
    msg = _creds_error(tmp_path, text)
    assert needle in msg
    assert "Sekr1t" not in msg and "hunter2" not in msg


def test_unset_password_variable_is_named(tmp_path: Path) -> None:
    msg = _creds_error(tmp_path, "default:\n  username: admin\n  password_env: CAMSCAN_TEST_UNSET_VAR\n")
    assert "line 3" in msg and "default.password_env: environment variable 'CAMSCAN_TEST_UNSET_VAR' is not set" in msg
