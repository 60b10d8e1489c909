"""Store backends for the tests: a SQLite file, and a real PostgreSQL server started as a throwaway cluster.

The cluster listens on a Unix socket only (no TCP), lives in a temporary folder and is stopped at the end.
$CAMSCAN_TEST_PG_URL points the tests at an existing server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """postgresql:// URL of a throwaway server (skips when PostgreSQL or root is missing)."""
    env = os.environ.get("CAMSCAN_TEST_PG_URL")
    if env:
        yield env
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl and shutil.which("runuser")) or os.geteuid() != 0:
        pytest.skip("PostgreSQL tests need Debian's postgresql package and root (make test installs it)")
    base = Path(tempfile.mkdtemp(prefix="camscan-pg-"))
    os.chmod(base, 0o755)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(sock, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    port = "5544"
    subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                    f"-c listen_addresses='' -k {sock} -p {port} -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield str(tmp_path / "camscan.db")
        return
    url: str = request.getfixturevalue("pg_url")
    import psycopg

    db = f"t{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {db}")
        con.execute(f"CREATE DATABASE {db}")
    yield url.replace("@/postgres?", f"@/{db}?")
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
