"""The wheel as a user gets it: built from the checkout, installed into a fresh venv outside it, used from there.

The tests marked `wheel` build and install it (about a minute; dependencies come from PyPI or pip's cache, pinned to
the versions of the venv running the tests). The lab part also needs root (`lab`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import scanner
from scanner.lab import topology
from scanner.match.load import SPECIAL_FILES

REPO = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "scanner", "fingerprints")
AXIS = {"id": "cam-1", "observations": [
    {"signal": "snmp.sysdescr",
     "value": "; AXIS P5534-E; PTZ Dome Network Camera; 5.40.9.2; May 15 2012 09:50; 188.1; 1;"},
    {"signal": "snmp.sysobjectid", "value": "1.3.6.1.4.1.368"}]}


def _run(argv: list[str], *, cwd: Path | str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, text=True, capture_output=True, timeout=600, cwd=cwd, env=env)
    assert p.returncode == 0, f"{' '.join(map(str, argv))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


@dataclass
class Installed:
    """camscan installed from its wheel into a fresh venv, run from a folder outside the checkout."""

    wheel: Path
    venv: Path
    work: Path
    env: dict[str, str]

    def camscan(self, *args: str, input: str | None = None, check: bool = True,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the venv's `camscan ARGS` in the working folder."""
        p = subprocess.run([str(self.venv / "bin" / "camscan"), *args], cwd=self.work, text=True, input=input,
                           capture_output=True, timeout=600, env={**self.env, **(extra_env or {})})
        if check:
            assert p.returncode == 0, f"camscan {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout's build inputs (no stale build/ can leak into it)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
          str(src)], cwd=root)
    (built,) = (root / "dist").glob("camscan-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv (no system site-packages) holding the wheel and its dependencies."""
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    pins = _run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"]).stdout
    constraints = root / "constraints.txt"
    constraints.write_text("".join(line + "\n" for line in pins.splitlines()
                                   if "==" in line and not line.lower().startswith("camscan")))
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(constraints), str(wheel)], cwd=root)
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CAMSCAN_FINGERPRINTS"}}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", XDG_CACHE_HOME=str(root / "cache"))
    return Installed(wheel, venv, work, env)


def _source_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            and not p.name.startswith(".") and not p.name.endswith("~")}   # editors' scratch files


@pytest.mark.wheel
def test_wheel_holds_code_database_schemas_types_and_licence_under_scanner_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        top_level_text = z.read(top_level).decode()
        (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        licence_text = z.read(licence).decode()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {n.split("/")[0] for n in names} == {"scanner", wheel.name.split("-py3")[0] + ".dist-info"}
    assert top_level_text.split() == ["scanner"]
    code = _source_files(REPO / "scanner")
    missing = sorted(f for f in code if f"scanner/{f}" not in names)
    assert not missing, f"missing from the wheel (add the package to pyproject.toml's packages?): {missing}"
    assert "py.typed" in code and any(f.startswith("schemas/") and f.endswith(".json") for f in code)
    yaml = sorted(p.name for p in (REPO / "fingerprints").glob("*.yaml"))
    assert len(yaml) > 50 and all(f"scanner/_fingerprints/{n}" in names for n in yaml)
    assert licence_text.startswith("MIT License") and "Copyright (c) 2026 the camscan authors" in licence_text
    assert "License-Expression: MIT" in metadata


def test_checkout_reads_its_own_fingerprint_folder() -> None:
    # this suite runs against the checkout (editable install): rule authors' edits there take effect at once
    assert Path(scanner.__file__).resolve().parent == REPO / "scanner"
    env = {k: v for k, v in os.environ.items() if k != "CAMSCAN_FINGERPRINTS"}
    here = _run([sys.executable, "-c", "from scanner.match.load import default_root; print(default_root())"],
                env=env, cwd="/").stdout.strip()
    assert Path(here) == REPO / "fingerprints"


@pytest.mark.wheel
def test_installed_camscan_finds_its_shipped_database(installed: Installed) -> None:
    site = _run([str(installed.venv / "bin" / "python"), "-c",
                 "import scanner; from scanner.match.load import default_root; print(scanner.__file__); "
                 "print(default_root())"], cwd=installed.work, env=installed.env).stdout.split()
    package = Path(site[0]).parent
    assert package.is_relative_to(installed.venv) and not package.is_relative_to(REPO)
    assert Path(site[1]) == package / "_fingerprints"

    version = installed.camscan("--version").stdout
    assert "camscan" in version and scanner.__version__ in version

    check = installed.camscan("fingerprints", "check")
    makers = sum(1 for p in (REPO / "fingerprints").glob("*.yaml") if p.name not in SPECIAL_FILES)
    assert check.stdout.startswith("ok: ") and f"{makers} makers" in check.stdout, check.stdout + check.stderr

    # the validated database is cached by YAML digest, and the next run reads it back instead of writing another
    cache = Path(installed.env["XDG_CACHE_HOME"]) / "camscan"
    (pickle,) = cache.glob("fingerprints-*.pickle")
    stamp = pickle.stat().st_mtime_ns
    out = installed.camscan("identify", "-", input=json.dumps(AXIS) + "\n").stdout.splitlines()
    assert len(out) == 1
    device = json.loads(out[0])
    assert (device["id"], device["vendor"], device["model"], device["category"]) == ("cam-1", "axis", "P5534-E",
                                                                                    "camera")
    assert list(cache.glob("fingerprints-*.pickle")) == [pickle] and pickle.stat().st_mtime_ns == stamp


@pytest.mark.wheel
@pytest.mark.lab
@pytest.mark.skipif(not topology.has_privileges(), reason="needs root or CAP_NET_ADMIN to build network namespaces")
def test_installed_camscan_brings_a_lab_up_and_down(installed: Installed) -> None:
    lab = {"CAMSCAN_LAB": f"tw{uuid.uuid4().hex[:6]}"}
    try:
        installed.camscan("lab", "up", "--profile", "small", extra_env=lab)
        status = json.loads(installed.camscan("lab", "status", "--json", extra_env=lab).stdout)
        assert status["state"] == "up" and status["hosts"] > 0
        truth = json.loads(installed.camscan("lab", "truth", extra_env=lab).stdout)
        assert truth["profile"] == "small"
    finally:
        down = installed.camscan("lab", "down", extra_env=lab, check=False)
    assert down.returncode == 0, down.stderr
    assert topology.instance_namespaces(lab["CAMSCAN_LAB"], topology.list_namespaces()) == []
