"""Scan history: every scan and its devices in SQLite (default, no set-up) or PostgreSQL (a force's central store).

One schema and numbered migrations for both, applied on open. A scan is a row marked incomplete when it
starts; its devices are written in transactions of DEVICE_BATCH; it is marked complete only at the end,
so a scan killed part-way leaves what it committed and stays incomplete. Two scans of one site at once
are refused (StoreBusy); scans of different sites may share the store. Nothing written here comes from
the credentials: the store keeps inventories, which never hold them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from scanner.errors import CamscanError, InputError
from scanner.match.load import SURVEILLANCE_CATEGORIES

DEVICE_BATCH: Final = 50
BUSY_TIMEOUT_S: Final = 30

#: Numbered migrations; the same SQL runs on SQLite and PostgreSQL (TEXT ids, JSON kept as TEXT).
MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (1, (
        """CREATE TABLE scans (
            id TEXT PRIMARY KEY, site TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
            complete INTEGER NOT NULL DEFAULT 0, devices INTEGER NOT NULL DEFAULT 0,
            surveillance INTEGER NOT NULL DEFAULT 0, doc TEXT)""",
        "CREATE INDEX scans_site_started ON scans (site, started)",
        """CREATE TABLE devices (
            scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE, idx INTEGER NOT NULL,
            ip TEXT NOT NULL, mac TEXT, serial TEXT, vendor TEXT, category TEXT NOT NULL, doc TEXT NOT NULL,
            PRIMARY KEY (scan_id, idx))""",
        """CREATE TABLE site_locks (
            site TEXT PRIMARY KEY, scan_id TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
            since TEXT NOT NULL)""",
    )),
)


class StoreError(CamscanError):
    """The store cannot be opened or read (bad location, unreachable server, unknown scan)."""


class StoreBusy(StoreError):
    """Another scan of the same site is running against this store."""


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One scan as `camscan history` lists it."""

    id: str
    site: str
    started: str
    finished: str | None
    complete: bool
    devices: int
    surveillance: int

    def to_dict(self) -> dict[str, Any]:
        """The camscan.history/1 entry."""
        return {"id": self.id, "site": self.site, "started": self.started, "finished": self.finished,
                "complete": self.complete, "devices": self.devices, "surveillance": self.surveillance}


def default_location() -> str:
    """$CAMSCAN_DB, else camscan.db in the user's data directory (platformdirs)."""
    env = os.environ.get("CAMSCAN_DB")
    if env:
        return env
    import platformdirs

    return str(Path(platformdirs.user_data_dir("camscan", appauthor=False)) / "camscan.db")


def is_postgres(location: str) -> bool:
    """True for a postgresql:// (or postgres://) URL."""
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | None = None) -> Store:
    """The store at location (a path, sqlite:///path, or postgresql://...), created and migrated as needed."""
    loc = location or default_location()
    if is_postgres(loc):
        return Store(_Postgres(loc))
    if loc.startswith("sqlite:///"):
        loc = loc[len("sqlite://"):]
    elif "://" in loc:
        raise InputError(f"--db: {loc.split('://')[0]!r} is not a store kind camscan knows (a path, sqlite:///PATH "
                         "or postgresql://...)")
    return Store(_Sqlite(Path(loc)))


def site_key(site_name: str | None, targets: Sequence[str]) -> str:
    """The name a scan is filed under: the site's name, or its targets for an ad-hoc scan."""
    return site_name or "ad-hoc " + ",".join(targets)


class _Dialect:
    """What differs between SQLite and PostgreSQL: connecting, placeholders, site locks."""

    placeholder = "?"

    def connect(self) -> Any:
        raise NotImplementedError

    def lock_site(self, store: Store, site: str, scan_id: str) -> None:
        raise NotImplementedError

    def unlock_site(self, store: Store, site: str, scan_id: str) -> None:
        raise NotImplementedError


class _Sqlite(_Dialect):
    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> Any:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            os.close(fd)
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"store {self.path}: cannot open: {e}") from None
        return con

    def lock_site(self, store: Store, site: str, scan_id: str) -> None:
        host = socket.gethostname()
        with store.transaction(immediate=True) as cur:
            cur.execute("SELECT scan_id, pid, host FROM site_locks WHERE site = ?", (site,))
            row = cur.fetchone()
            if row is not None and _alive(row[1], row[2]):
                raise StoreBusy(f"a scan of site {site!r} is already running ({row[0]}, pid {row[1]} on {row[2]}); "
                                "wait for it to finish")
            cur.execute("DELETE FROM site_locks WHERE site = ?", (site,))
            cur.execute("INSERT INTO site_locks (site, scan_id, pid, host, since) VALUES (?, ?, ?, ?, ?)",
                        (site, scan_id, os.getpid(), host, _now()))

    def unlock_site(self, store: Store, site: str, scan_id: str) -> None:
        with store.transaction() as cur:
            cur.execute("DELETE FROM site_locks WHERE site = ? AND scan_id = ?", (site, scan_id))


def _alive(pid: int, host: str) -> bool:
    """A lock holder is alive unless it ran on this host and its process is gone."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Postgres(_Dialect):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock_con: Any = None

    def connect(self) -> Any:
        try:
            import psycopg

            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except Exception as e:   # psycopg.Error and bad URLs alike; never echo the URL (it may hold a password)
            raise StoreError(f"PostgreSQL store: cannot connect: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}") from None

    def lock_site(self, store: Store, site: str, scan_id: str) -> None:
        # a session advisory lock: held while this connection lives, gone when the process dies
        con = self.connect()
        key = int.from_bytes(hashlib.sha256(site.encode()).digest()[:8], "big", signed=True)
        got = con.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
        if not got:
            con.close()
            raise StoreBusy(f"a scan of site {site!r} is already running against this store; wait for it to finish")
        self.lock_con = con

    def unlock_site(self, store: Store, site: str, scan_id: str) -> None:
        if self.lock_con is not None:
            self.lock_con.close()
            self.lock_con = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A scan history (see the module docstring)."""

    def __init__(self, dialect: _Dialect) -> None:
        self.dialect = dialect
        self.con = dialect.connect()
        self._migrate()

    # ---- plumbing --------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self.dialect.placeholder == "?" else sql.replace("?", "%s")

    @contextlib.contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on any error."""
        cur = self.con.cursor()
        sqlite = isinstance(self.dialect, _Sqlite)
        cur.execute("BEGIN IMMEDIATE" if sqlite and immediate else "BEGIN")
        try:
            yield _Cursor(cur, self._sql)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def _migrate(self) -> None:
        try:
            with self.transaction(immediate=True) as cur:
                if isinstance(self.dialect, _Postgres):
                    cur.execute("SELECT pg_advisory_xact_lock(7358029)")   # one migrator at a time
                cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                            "applied TEXT NOT NULL)")
                cur.execute("SELECT version FROM schema_migrations")
                done = {int(r[0]) for r in cur.fetchall()}
                for version, statements in MIGRATIONS:
                    if version in done:
                        continue
                    for st in statements:
                        cur.execute(st)
                    cur.execute("INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", (version, _now()))
        except StoreError:
            raise
        except Exception as e:
            raise StoreError(f"store: cannot prepare its tables: {type(e).__name__}: {e}") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (and any site lock it still holds)."""
        with contextlib.suppress(Exception):
            self.con.close()

    # ---- writing a scan -----------------------------------------------------------------------

    def begin_scan(self, site: str, started: str) -> str:
        """File a new, incomplete scan of site; StoreBusy if one of the same site is running."""
        scan_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        self.dialect.lock_site(self, site, scan_id)
        with self.transaction() as cur:
            cur.execute("INSERT INTO scans (id, site, started, complete) VALUES (?, ?, ?, 0)", (scan_id, site, started))
        return scan_id

    def add_devices(self, scan_id: str, devices: Sequence[dict[str, Any]], first: int = 0) -> None:
        """Write inventory device records, DEVICE_BATCH per transaction, numbered from first."""
        for start in range(0, len(devices), DEVICE_BATCH):
            with self.transaction() as cur:
                for i, d in enumerate(devices[start:start + DEVICE_BATCH], first + start):
                    cur.execute("INSERT INTO devices (scan_id, idx, ip, mac, serial, vendor, category, doc) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                (scan_id, i, d["ip"], d.get("mac"), d.get("serial"), d.get("vendor"),
                                 d["category"], json.dumps(d, ensure_ascii=False)))

    def finish_scan(self, scan_id: str, site: str, doc: dict[str, Any]) -> None:
        """Mark the scan complete with its inventory document (devices are kept apart); release the site."""
        devices = doc["devices"]
        head = {k: v for k, v in doc.items() if k != "devices"}
        surv = sum(1 for d in devices if d["category"] in SURVEILLANCE_CATEGORIES)
        try:
            with self.transaction() as cur:
                cur.execute("UPDATE scans SET finished = ?, complete = 1, devices = ?, surveillance = ?, doc = ? "
                            "WHERE id = ?", (doc["scan"]["finished"], len(devices), surv,
                                             json.dumps(head, ensure_ascii=False), scan_id))
        finally:
            self.release(scan_id, site)

    def release(self, scan_id: str, site: str) -> None:
        """Let the next scan of the site start (the scan itself stays as it is)."""
        self.dialect.unlock_site(self, site, scan_id)

    # ---- reading -------------------------------------------------------------------------------

    def history(self, site: str | None = None, *, complete_only: bool = False,
                limit: int | None = None) -> list[ScanRow]:
        """Scans, newest first (of one site, complete ones only, at most limit, when asked)."""
        where, args = [], []
        if site is not None:
            where.append("site = ?")
            args.append(site)
        if complete_only:
            where.append("complete = 1")
        sql = ("SELECT id, site, started, finished, complete, devices, surveillance FROM scans"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY started DESC, id DESC"
               + (f" LIMIT {int(limit)}" if limit else ""))
        with self.transaction() as cur:
            cur.execute(sql, tuple(args))
            rows = cur.fetchall()
        return [ScanRow(r[0], r[1], r[2], r[3], bool(r[4]), int(r[5]), int(r[6])) for r in rows]

    def sites(self) -> list[str]:
        """Every site the store has scans of."""
        with self.transaction() as cur:
            cur.execute("SELECT DISTINCT site FROM scans ORDER BY site")
            return [r[0] for r in cur.fetchall()]

    def scan(self, scan_id: str) -> ScanRow:
        """One scan's row; StoreError if the store has no such scan."""
        with self.transaction() as cur:
            cur.execute("SELECT id, site, started, finished, complete, devices, surveillance FROM scans "
                        "WHERE id = ?", (scan_id,))
            r = cur.fetchone()
        if r is None:
            raise StoreError(f"no scan {scan_id!r} in this store (camscan history lists them)")
        return ScanRow(r[0], r[1], r[2], r[3], bool(r[4]), int(r[5]), int(r[6]))

    def devices(self, scan_id: str) -> list[dict[str, Any]]:
        """A scan's device records, in the order the inventory lists them."""
        with self.transaction() as cur:
            cur.execute("SELECT doc FROM devices WHERE scan_id = ? ORDER BY idx", (scan_id,))
            return [json.loads(r[0]) for r in cur.fetchall()]

    def inventory(self, scan_id: str) -> dict[str, Any]:
        """The inventory.json document a complete scan wrote; StoreError for an unknown or incomplete scan."""
        row = self.scan(scan_id)
        with self.transaction() as cur:
            cur.execute("SELECT doc FROM scans WHERE id = ?", (scan_id,))
            head = cur.fetchone()[0]
        if not row.complete or head is None:
            raise StoreError(f"scan {scan_id} is incomplete (it was stopped before it finished)")
        doc: dict[str, Any] = json.loads(head)
        doc["devices"] = self.devices(scan_id)
        return doc


class _Cursor:
    """A DB-API cursor that takes '?' placeholders on both backends."""

    def __init__(self, cur: Any, sql: Any) -> None:
        self._cur = cur
        self._sql = sql

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._cur.execute(self._sql(sql), tuple(args))

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())
