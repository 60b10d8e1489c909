"""Bad targets, site files and credential files fail before anything is sent; good ones parse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.errors import InputError
from scanner.scan import ScanRequest, plan
from scanner.scope import Scope
from scanner.sites import load_credentials, load_site
from tests.inventory.schema import valid_inventory
from tests.netns import empty_netns

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_scope_ranges_and_excludes() -> None:
    s = Scope.build(["198.18.0.10-20", "198.18.1.0/30"], ["198.18.0.15"])
    assert s.allows("198.18.0.10") and s.allows("198.18.0.20") and not s.allows("198.18.0.15")
    assert not s.allows("198.18.0.21") and not s.allows("10.0.0.1")
    assert s.size() == 10 + 2


@pytest.mark.parametrize(("targets", "needle"), [
    (["198.18.0.0/33"], "bad target"),
    (["nonsense"], "bad target"),
    (["198.18.0.20-10"], "end is before start"),
    (["10.0.0.0/8"], "larger than a /16"),
    (["8.8.8.0/24"], "public address space"),
    (["224.0.0.0/24"], "not a unicast"),
    ([], "no targets"),
])
def test_bad_targets_are_refused(targets: list[str], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        Scope.build(targets)


def test_large_and_public_need_flags() -> None:
    assert Scope.build(["10.0.0.0/8"], allow_large=True).size() > 0
    assert Scope.build(["8.8.8.8"], allow_public=True).allows("8.8.8.8")


def test_example_site_and_credentials_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    site = load_site(EXAMPLES / "site.yaml")
    assert site.name == "Example Road Police Station"
    assert site.survey_for("198.18.0.200") == "anpr" and site.survey_for("198.18.0.5") == "external"
    monkeypatch.setenv("CAMSCAN_PASSWORD", "s3cret-value")
    monkeypatch.setenv("CAMSCAN_NVR_PASSWORD", "other-secret")
    assert site.credentials is not None
    creds = load_credentials(site.credentials)
    assert creds.for_host("198.18.0.20").username == "admin"  # type: ignore[union-attr]
    assert creds.for_host("198.18.0.21").password == "s3cret-value"  # type: ignore[union-attr]
    assert "s3cret" not in repr(creds)
    assert creds.snmp_communities == ("public",)


@pytest.mark.parametrize(("text", "needle"), [
    ("name: x\n", "'ranges' is required"),
    ("ranges: [198.18.0.0/24]\n", "'name' is required"),
    ("name: x\nranges: [{cidr: 198.18.0.0/24, survey: outdoors}]\n", "survey: 'outdoors' must be one of"),
    ("name: x\nranges: [198.18.0.0/99]\n", "ranges[0]: bad target"),
    ("name: x\nranges: [198.18.0.0/24]\nrate: -1\n", "rate: must be greater than 0"),
    ("name: x\nranges: [198.18.0.0/24]\ncolour: blue\n", "colour: unknown key"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_bad_site_files_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "site.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        load_site(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_credentials_errors_never_show_the_secret(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("default: {username: admin, password_env: CAMSCAN_TEST_UNSET_VAR}\n")
    with pytest.raises(InputError, match="CAMSCAN_TEST_UNSET_VAR"):
        load_credentials(p)
    p.write_text("default: {username: admin, password: hunter2}\nhosts: {not-an-ip: {username: a, password: b}}\n")
    with pytest.raises(InputError) as e:
        load_credentials(p)
    assert "line 2, column 9: hosts: key is not an IPv4 address" in str(e.value) and "hunter2" not in str(e.value)


def test_scan_cli_refuses_bad_input_before_sending(tmp_path: Path) -> None:
    env = dict(os.environ)
    for args, needle in [
        (["198.18.0.0/40"], "bad target"),
        (["--site", str(tmp_path / "missing.yaml")], "cannot read"),
        (["198.18.0.0/24", "--format", "pdf"], "unknown format"),
        (["198.18.0.0/24", "--modules", "arp,teleport"], "unknown module"),
        (["198.18.0.0/24", "--interface", "camscan-nope0"], "does not exist"),
    ]:
        out = tmp_path / "out"
        p = subprocess.run([sys.executable, "-m", "scanner", "scan", *args, "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode != 0, args
        assert needle in p.stderr, (args, p.stderr)
        assert not out.exists(), "nothing may be written for bad input"


REPO = EXAMPLES.parent
PRIVILEGED = os.geteuid() == 0
SECRET = "hunter2-Sekr1t"


def _scan_in_empty_netns(args: list[str], out: Path, env: dict[str, str] | None = None
                         ) -> subprocess.CompletedProcess[str]:
    with empty_netns("tinputs") as ns:
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "scanner", "scan", *args, "--no-store",
                               "--out", str(out)], capture_output=True, text=True, timeout=60, cwd=REPO,
                              env=env or dict(os.environ))


def _refused(p: subprocess.CompletedProcess[str], out: Path, needle: str) -> None:
    assert p.returncode != 0, p.stdout
    assert needle in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists(), "nothing may be written for bad input"


@pytest.mark.skipif(not PRIVILEGED, reason="needs root to create a network namespace")
@pytest.mark.parametrize("rate", ["0", "-1", "nan", "inf", "-inf", "NaN", "1e999"])
def test_scan_cli_refuses_a_rate_that_is_not_finite_and_positive(tmp_path: Path, rate: str) -> None:
    # --rate 0 used to become the default silently and --rate nan switched the rate limit off
    out = tmp_path / "out"
    _refused(_scan_in_empty_netns(["198.18.0.0/30", f"--rate={rate}"], out),
             out, "Invalid value for '--rate': must be a finite number of probes per second above 0")


@pytest.mark.skipif(not PRIVILEGED, reason="needs root to create a network namespace")
@pytest.mark.parametrize("rate", [".nan", ".inf", "0"])
def test_scan_cli_refuses_a_site_rate_that_is_not_finite_and_positive(tmp_path: Path, rate: str) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(f"name: HQ\nranges: [198.18.0.0/30]\nrate: {rate}\n")
    out = tmp_path / "out"
    _refused(_scan_in_empty_netns(["--site", str(site)], out), out, f"site file {site}, line 3: rate: must be")


def test_plan_refuses_a_rate_that_would_switch_the_limiter_off() -> None:
    for rate in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="--rate must be a finite number"):
            plan(ScanRequest(targets=["198.18.0.0/30"], rate=rate))


@pytest.mark.skipif(not PRIVILEGED, reason="needs root to create a network namespace")
def test_scan_cli_bad_site_files_are_refused_with_file_line_and_key(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    out = tmp_path / "out"
    for text, needle in [
        (b"name: HQ\nranges:\n  - cidr: 198.18.0.0/30\n    surevy: external\n",
         f"site file {site}, line 4: ranges[0].surevy: unknown key"),
        (b"name: HQ\nranges:\n  - cidr: 198.18.0.0/30\n    vlan: true\n",
         f"site file {site}, line 4: ranges[0].vlan: must be a whole number, not true/false"),
        (b"name: Caf\xe9\nranges: [198.18.0.0/30]\n", f"site file {site}, line 1, column 10: not UTF-8 text"),
    ]:
        site.write_bytes(text)
        _refused(_scan_in_empty_netns(["--site", str(site)], out), out, needle)


@pytest.mark.skipif(not PRIVILEGED, reason="needs root to create a network namespace")
@pytest.mark.parametrize(("text", "needle"), [
    (f'default:\n  username: admin\n  password: "{SECRET}\n'.encode(), ", line 4, column 1: not valid YAML"),
    (f"default:\n  username: admin\n  password: {SECRET}: x\n".encode(), ", line 3, column 27: not valid YAML"),
    (f"default:\n  username: admin\n  passwrod: {SECRET}\n".encode(), ", line 3, column 3: default: unknown key"),
    (f"default:\n  username: admin\n  password: {SECRET}\n".encode() + b"\xff\n", ", line 4, column 1: not UTF-8"),
])
def test_scan_cli_bad_credentials_never_print_the_password(tmp_path: Path, text: bytes, needle: str) -> None:
    creds = tmp_path / "credentials.yaml"
    creds.write_bytes(text)
    out = tmp_path / "out"
    p = _scan_in_empty_netns(["198.18.0.0/30", "--credentials", str(creds)], out)
    _refused(p, out, f"credentials file {creds}{needle}")
    assert "Sekr1t" not in p.stderr + p.stdout


NMAP_XML = """<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -sV -oX - 198.18.37.0/24">
<host><status state="up"/><address addr="not-an-ip" addrtype="ipv4"/>
<address addr="44:19:B6:00:00:99" addrtype="mac"/></host>
<host><status state="up"/><address addr="198.18.37.300" addrtype="ipv4"/></host>
<host><status state="up"/><address addr="198.18.37.2" addrtype="ipv4"/>
<address addr="44:19:B6:00:00:37" addrtype="mac"/>
<ports><port protocol="tcp" portid="80"><state state="open"/><service name="http"/>
<script id="http-server-header" output="App-webs/"/></port></ports></host>
</nmaprun>
"""


def test_import_nmap_never_puts_a_non_address_in_the_inventory(tmp_path: Path) -> None:
    xml = tmp_path / "scan.xml"
    xml.write_text(NMAP_XML)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "scanner", "import-nmap", str(xml), "--out", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    text = (out / "inventory.json").read_text()
    assert "not-an-ip" not in text and "198.18.37.300" not in text and "00:00:99" not in text
    inv = valid_inventory(out / "inventory.json")
    assert [d["ip"] for d in inv["devices"]] == ["198.18.37.2"]
    # each skipped host is an error entry and a line on stderr, named by its place in the report
    assert [(e["module"], e["error"][:7]) for e in inv["scan"]["errors"]] == [("nmap-import", "host 1 "),
                                                                             ("nmap-import", "host 2 ")]
    assert "host 1 of the report: its ipv4 address is not an IPv4 address; skipped" in p.stderr
