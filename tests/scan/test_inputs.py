"""Bad targets, site files and credential files fail before anything is sent; good ones parse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.errors import InputError
from scanner.scope import Scope
from scanner.sites import load_credentials, load_site

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
    ("name: x\n", "'ranges' must list"),
    ("ranges: [198.18.0.0/24]\n", "'name' is required"),
    ("name: x\nranges: [{cidr: 198.18.0.0/24, survey: outdoors}]\n", "survey 'outdoors'"),
    ("name: x\nranges: [198.18.0.0/99]\n", "ranges[0]: bad target"),
    ("name: x\nranges: [198.18.0.0/24]\nrate: -1\n", "'rate' must be a positive"),
    ("name: x\nranges: [198.18.0.0/24]\ncolour: blue\n", "unknown field"),
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
    assert "not-an-ip" in str(e.value) and "hunter2" not in str(e.value)


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
