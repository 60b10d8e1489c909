"""Several jobs run in child processes, at most N at a time (`camscan scan --site ... --parallel N`).

Each job is a function run in a process of its own, forked from this one once every input is checked and the
fingerprint engine loaded (so a child starts in milliseconds, not with a fresh interpreter's imports), with its
own GIL, event loop and signal handling. The parent starts the jobs in order, relays what each writes on stderr
line by line (tagged with the job's name in text logs), forwards SIGINT and SIGTERM to every child still running
and starts no further job after one, and hands each finished job's outcome back in job order. The parent runs no
thread of its own, so forking is safe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import selectors
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Final

from scanner import log as logmod

_log = logging.getLogger("camscan.cli")
POLL_S: Final = 0.05
FORWARDED: Final = (signal.SIGINT, signal.SIGTERM)
EXIT_CRASH: Final = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """One job: run(result) happens in a child process, writes what the parent needs to the binary file result
    and returns the child's exit status; name tags its messages."""

    name: str
    run: Callable[[IO[bytes]], int]


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """How a job's process ended: its exit status (negative: killed by that signal), what it wrote to its result
    file, the last line it wrote on stderr ("" if none) and its wall seconds."""

    returncode: int
    result: bytes
    last_error: str
    seconds: float


@dataclasses.dataclass(slots=True)
class _Running:
    index: int
    job: Job
    pid: int
    stderr: int
    result: IO[bytes]
    started: float
    buf: bytes = b""
    last: str = ""


class _Relay:
    """Children's stderr copied to ours in whole lines (never two children's halves on one line)."""

    def __init__(self, sink: IO[str], tag: bool) -> None:
        self.sink, self.tag, self.sel = sink, tag, selectors.DefaultSelector()

    def add(self, r: _Running) -> None:
        os.set_blocking(r.stderr, False)
        self.sel.register(r.stderr, selectors.EVENT_READ, r)

    def pump(self, timeout: float) -> None:
        """Relay what is ready within timeout seconds."""
        for key, _ in self.sel.select(timeout):
            self.read(key.data)

    def read(self, r: _Running, final: bool = False) -> None:
        """Relay the complete lines r's child has written; final: everything left, then stop watching it."""
        while True:
            try:
                chunk = os.read(r.stderr, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                r.buf += chunk
            *lines, r.buf = r.buf.split(b"\n")
            for raw in lines:
                self.write(r, raw)
            if not chunk:
                break
        if final or chunk == b"":
            if r.buf:
                self.write(r, r.buf)
                r.buf = b""
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(r.stderr)
        if final:
            os.close(r.stderr)

    def write(self, r: _Running, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if line.strip():
            r.last = line.strip()
        self.sink.write((f"[{r.job.name}] " if self.tag else "") + line + "\n")
        self.sink.flush()


def run_jobs(jobs: Sequence[Job], parallel: int, on_done: Callable[[int, Outcome], None], *,
             tag_lines: bool = True, sink: IO[str] | None = None) -> str | None:
    """Run jobs, at most `parallel` at once, starting them in order; call on_done(index, outcome) in job order as
    soon as a job and all before it have ended. SIGINT/SIGTERM (main thread only) are forwarded to every running
    child and no job starts after them; jobs never started get no call. Returns the first signal's name, or None."""
    relay = _Relay(sink or sys.stderr, tag_lines)
    pending = list(enumerate(jobs))
    running: list[_Running] = []
    done: dict[int, Outcome] = {}
    next_report = 0
    stop: list[signal.Signals] = []

    def forward(signum: int, frame: object) -> None:
        sig = signal.Signals(signum)
        if not stop:
            stop.append(sig)
            _log.warning("%s: stopping the %d site(s) running, starting no more", sig.name, len(running),
                         extra={"fields": {"signal": sig.name}})
        for r in list(running):
            with contextlib.suppress(ProcessLookupError):
                os.kill(r.pid, sig)

    restore = _install(forward)
    try:
        while pending or running:
            while pending and not stop and len(running) < parallel:
                index, job = pending.pop(0)
                try:
                    r = _start(index, job, running, relay)
                except OSError as e:   # no process for it (EAGAIN, ENOMEM): that job's failure, the rest go on
                    done[index] = Outcome(EXIT_CRASH, b"", f"cannot start a process: {e}", 0.0)
                    continue
                _log.info("site %s: started (pid %d)", job.name, r.pid,
                          extra={"fields": {"site": job.name, "pid": r.pid}})
            if stop:
                pending.clear()
            relay.pump(POLL_S)
            for r in list(running):
                pid, status = os.waitpid(r.pid, os.WNOHANG)
                if pid:
                    running.remove(r)
                    done[r.index] = _collect(r, os.waitstatus_to_exitcode(status), relay)
            while next_report in done:
                on_done(next_report, done.pop(next_report))
                next_report += 1
    finally:
        restore()
        for r in running:     # only after an exception: leave no child behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(r.pid, signal.SIGTERM)
            os.waitpid(r.pid, 0)
    return stop[0].name if stop else None


def _start(index: int, job: Job, running: list[_Running], relay: _Relay) -> _Running:
    """Fork a child for job; signals stay blocked until it is in `running`, so a stop reaches it too."""
    result = tempfile.TemporaryFile()   # noqa: SIM115 (closed when the child is collected)
    rfd, wfd = os.pipe()
    for f in (sys.stdout, sys.stderr):
        f.flush()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        pid = os.fork()
    except OSError:   # EAGAIN/ENOMEM: nothing started; signals and files as they were
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        for fd in (rfd, wfd):
            os.close(fd)
        result.close()
        raise
    if pid == 0:
        _child(job, result, wfd, [rfd, *(x.stderr for x in running)], old)
    os.close(wfd)
    r = _Running(index, job, pid, rfd, result, time.monotonic())
    running.append(r)
    relay.add(r)
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return r


def _child(job: Job, result: IO[bytes], stderr_fd: int, close: list[int], mask: Iterable[int]) -> None:
    """In the forked child: stderr to the parent's pipe, stdout to /dev/null, default signal handling (the job
    installs its own), run the job, exit with its status (3 and the traceback if it raised); never returns."""
    code = EXIT_CRASH
    try:
        for s in FORWARDED:
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for fd in close:
            os.close(fd)
        os.dup2(stderr_fd, 2)
        os.close(stderr_fd)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
        # whatever stood in for the streams in the parent, the child's are its file descriptors 1 and 2
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)   # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
        code = job.run(result)
        result.flush()
    except SystemExit as e:
        code = 0 if e.code is None else e.code if isinstance(e.code, int) else EXIT_CRASH
    except BaseException as e:
        # through the same redaction as the log: a traceback's frames may quote a secret the job registered
        sys.stderr.write(logmod.redact("".join(traceback.format_exception(e))))
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def _collect(r: _Running, rc: int, relay: _Relay) -> Outcome:
    """The ended child's outcome (its messages relayed first, so its last one is known)."""
    relay.read(r, final=True)
    r.result.seek(0)
    data = r.result.read()
    r.result.close()
    secs = time.monotonic() - r.started
    how = f"exit {rc}" if rc >= 0 else f"killed by {signame(-rc)}"
    _log.info("site %s: ended (%s, %.1fs)", r.job.name, how, secs,
              extra={"fields": {"site": r.job.name, "exit_code": rc, "seconds": round(secs, 3)}})
    return Outcome(rc, data, r.last, secs)


def signame(num: int) -> str:
    """SIGTERM for 15; 'signal N' for a number with no name."""
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _install(handler: Callable[[int, object], None]) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to handler until the returned function is called (no-op off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.signal(s, handler) for s in FORWARDED}

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
    return restore

