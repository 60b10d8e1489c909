"""Several jobs run as child processes, at most N at a time (`camscan scan --site ... --parallel N`).

Each job is one command (a whole `camscan scan` of one site, with its own interpreter, event loop and signal
handling). The parent starts them in order, relays what they write on stderr line by line (tagged with the job's
name in text logs), forwards SIGINT and SIGTERM to every child still running and starts no further job after
one, and hands each finished job's outcome back in job order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Final

_log = logging.getLogger("camscan.cli")
POLL_S: Final = 0.05
FORWARDED: Final = (signal.SIGINT, signal.SIGTERM)


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """One child command and the name its messages are tagged with."""

    name: str
    argv: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """How a job's process ended: its exit status (negative: killed by that signal), its stdout, the last line
    it wrote on stderr ("" if none) and its wall seconds."""

    returncode: int
    stdout: str
    last_error: str
    seconds: float


@dataclasses.dataclass(slots=True)
class _Running:
    index: int
    job: Job
    proc: subprocess.Popen[bytes]
    out: IO[bytes]
    relay: threading.Thread
    last: list[str]
    started: float


class _Relay:
    """Copies children's stderr lines to ours whole (never two children's halves on one line)."""

    def __init__(self, sink: IO[str], tag: bool) -> None:
        self.sink, self.tag, self.lock = sink, tag, threading.Lock()

    def thread(self, name: str, stream: IO[bytes], last: list[str]) -> threading.Thread:
        def pump() -> None:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.strip():
                    last[:] = [line.strip()]
                with self.lock:
                    self.sink.write((f"[{name}] " if self.tag else "") + line + "\n")
                    self.sink.flush()
            stream.close()
        t = threading.Thread(target=pump, name=f"relay-{name}", daemon=True)
        t.start()
        return t


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
            _send(r.proc, sig)

    restore = _install(forward)
    try:
        while pending or running:
            while pending and not stop and len(running) < parallel:
                index, job = pending.pop(0)
                out = tempfile.TemporaryFile()   # noqa: SIM115 (closed when the child is collected)
                proc = subprocess.Popen(job.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
                assert proc.stderr is not None
                last: list[str] = []
                running.append(_Running(index, job, proc, out, relay.thread(job.name, proc.stderr, last), last,
                                        time.monotonic()))
                _log.info("site %s: started (pid %d)", job.name, proc.pid,
                          extra={"fields": {"site": job.name, "pid": proc.pid}})
                if stop:     # the signal came while this child was being started: it must stop too
                    _send(proc, stop[0])
            if stop:
                pending.clear()
            time.sleep(POLL_S)
            for r in [r for r in running if r.proc.poll() is not None]:
                running.remove(r)
                done[r.index] = _collect(r)
            while next_report in done:
                on_done(next_report, done.pop(next_report))
                next_report += 1
    finally:
        restore()
        for r in running:     # only after an exception in on_done: leave no child behind
            _send(r.proc, signal.SIGTERM)
            r.proc.wait()
    return stop[0].name if stop else None


def _collect(r: _Running) -> Outcome:
    """The finished child's outcome (its relay drained first, so its last message is known)."""
    rc = r.proc.wait()
    r.relay.join()
    r.out.seek(0)
    text = r.out.read().decode("utf-8", "replace")
    r.out.close()
    secs = time.monotonic() - r.started
    how = f"exit {rc}" if rc >= 0 else f"killed by {signame(-rc)}"
    _log.info("site %s: ended (%s, %.1fs)", r.job.name, how, secs,
              extra={"fields": {"site": r.job.name, "exit_code": rc, "seconds": round(secs, 3)}})
    return Outcome(rc, text, r.last[0] if r.last else "", secs)


def signame(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _send(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def _install(handler: Callable[[int, object], None]) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to handler until the returned function is called (no-op off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.signal(s, handler) for s in FORWARDED}

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
    return restore
