"""`camscan scan --site ... --parallel N` without a lab: the child runner (at most N at once, results in site
order, a failure is one site's outcome, children never write on the run's stdout, signals forwarded and no site
started after one) and the option's checks."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from scanner import log as logmod
from scanner.cli import parallel
from tests.lab.conftest import REPO


def _mark(d: Path, name: str, what: str, text: str = "") -> None:
    (d / f"{name}.{what}").write_text(text)


def _wait_until(cond: Callable[[], bool]) -> None:
    end = time.monotonic() + 20
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(9)       # what it waited for never happened
        time.sleep(0.02)


def _job(name: str, mode: str, d: Path) -> parallel.Job:
    """A stand-in for one site's scan: its start and end are files in d the test reads; its result is its name."""
    def run(result: IO[bytes]) -> int:
        _mark(d, name, "start", ",".join(sorted(f.stem for f in d.glob("*.end"))))
        if mode == "pair":        # both of a pair must run at once, or it never ends
            _wait_until(lambda: len(list(d.glob("*.start"))) >= 2)
            time.sleep(0.3)
        elif mode.startswith("after:"):
            _wait_until((d / f"{mode[6:]}.end").exists)
        elif mode == "crash":
            print("half a line\nboom: it broke", file=sys.stderr)
            return 3
        elif mode == "raise":
            raise RuntimeError("kaput")
        elif mode == "secret":
            logmod.add_secret("hunter2-s3cret")          # as a site's credentials file registers its passwords
            raise RuntimeError("login with hunter2-s3cret refused")
        elif mode == "noisy":
            print("noise on stdout", flush=True)
        result.write(name.encode())
        _mark(d, name, "end")
        return 0
    return parallel.Job(name, run)


def test_at_most_n_sites_run_at_once_and_results_come_in_site_order(tmp_path: Path) -> None:
    jobs = [_job("a", "pair", tmp_path), _job("b", "pair", tmp_path), _job("c", "quick", tmp_path)]
    got: list[tuple[int, int, bytes]] = []
    stopped = parallel.run_jobs(jobs, 2, lambda i, o: got.append((i, o.returncode, o.result)), sink=io.StringIO())
    assert stopped is None
    assert got == [(0, 0, b"a"), (1, 0, b"b"), (2, 0, b"c")]
    # a and b ran together (each waited for the other to start, or it would have exited 9); c was started only
    # once one of them had ended
    ended_before_c = (tmp_path / "c.start").read_text().split(",")
    assert ended_before_c and set(ended_before_c) <= {"a", "b"}


def test_a_later_site_that_ends_first_is_still_reported_after_the_earlier_one(tmp_path: Path) -> None:
    jobs = [_job("slow", "after:fast", tmp_path), _job("fast", "quick", tmp_path)]
    got: list[tuple[int, bytes]] = []
    parallel.run_jobs(jobs, 2, lambda i, o: got.append((i, o.result)), sink=io.StringIO())
    assert got == [(0, b"slow"), (1, b"fast")]


def test_a_failed_site_is_its_own_outcome_and_the_others_finish(tmp_path: Path) -> None:
    jobs = [_job("bad", "crash", tmp_path), _job("worse", "raise", tmp_path), _job("good", "quick", tmp_path)]
    got: dict[int, parallel.Outcome] = {}
    sink = io.StringIO()
    parallel.run_jobs(jobs, 3, lambda i, o: got.__setitem__(i, o), sink=sink)
    assert (got[0].returncode, got[0].last_error, got[0].result) == (3, "boom: it broke", b"")
    assert (got[1].returncode, got[1].last_error, got[1].result) == (3, "RuntimeError: kaput", b"")
    assert got[2].returncode == 0 and got[2].result == b"good"
    relayed = sink.getvalue()
    assert "[bad] half a line\n[bad] boom: it broke\n" in relayed     # whole lines, tagged with their site
    assert "[worse] Traceback (most recent call last):" in relayed


def test_a_site_cannot_write_on_the_runs_stdout(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    got: list[bytes] = []
    parallel.run_jobs([_job("n", "noisy", tmp_path)], 2, lambda i, o: got.append(o.result), sink=io.StringIO())
    assert got == [b"n"]
    assert "noise" not in capfd.readouterr().out     # stdout is the run's (--json), never a site's


DRIVER = textwrap.dedent("""
    import json, signal, sys, time
    from pathlib import Path
    from scanner.cli import parallel
    d = Path(sys.argv[1])

    def job(name):
        def run(result):
            def stopped(signum, frame):
                (d / f"{name}.stopped").write_text(signal.Signals(signum).name)
                raise SystemExit(128 + signum)
            signal.signal(signal.SIGTERM, stopped)
            (d / f"{name}.start").write_text("")
            time.sleep(30)
            return 9
        return parallel.Job(name, run)

    out = []
    stopped = parallel.run_jobs([job(n) for n in "abc"], 2, lambda i, o: out.append([i, o.returncode]))
    print(json.dumps({"stopped": stopped, "outcomes": out}))
""")


def test_sigterm_stops_every_running_site_and_starts_no_more(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], cwd=REPO, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 30
        while not ((tmp_path / "a.start").exists() and (tmp_path / "b.start").exists()):
            assert time.monotonic() < end and p.poll() is None, "the two first sites never started"
            time.sleep(0.02)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    doc = json.loads(out)
    assert doc == {"stopped": "SIGTERM", "outcomes": [[0, 143], [1, 143]]}, err
    assert (tmp_path / "a.stopped").read_text() == "SIGTERM" == (tmp_path / "b.stopped").read_text()
    assert not (tmp_path / "c.start").exists()       # the third site was never started
    assert "SIGTERM: stopping the 2 site(s) running" in err


def _sites(tmp_path: Path) -> list[str]:
    for n in ("a", "b"):
        (tmp_path / f"{n}.yaml").write_text(f"name: {n.upper()}\nranges:\n  - cidr: 198.18.{ord(n)}.0/28\n")
    return ["--site", str(tmp_path / "a.yaml"), "--site", str(tmp_path / "b.yaml")]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_parallel_value_is_refused_before_anything_is_sent_or_written(tmp_path: Path, value: str) -> None:
    out, db = tmp_path / "out", tmp_path / "s.db"
    p = subprocess.run([sys.executable, "-m", "scanner", "scan", *_sites(tmp_path), "--parallel", value,
                        "-o", str(out), "--db", str(db)], cwd=REPO, text=True, capture_output=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "--parallel" in p.stderr
    assert not out.exists() and not db.exists()


def test_a_crashing_sites_traceback_never_shows_a_secret(tmp_path: Path) -> None:
    sink = io.StringIO()
    got: list[parallel.Outcome] = []
    parallel.run_jobs([_job("s", "secret", tmp_path)], 1, lambda i, o: got.append(o), sink=sink)
    assert got[0].returncode == 3 and "RuntimeError" in sink.getvalue()
    assert "hunter2-s3cret" not in sink.getvalue() and "hunter2-s3cret" not in (got[0].last_error or "")


def test_a_site_that_gets_no_process_is_its_own_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fork, forks = os.fork, []

    def fork() -> int:
        forks.append(1)
        if len(forks) == 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")   # EAGAIN, as under a process limit
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    got: dict[int, parallel.Outcome] = {}
    parallel.run_jobs([_job("first", "quick", tmp_path), _job("second", "quick", tmp_path)], 1,
                      lambda i, o: got.__setitem__(i, o), sink=io.StringIO())
    assert got[0].returncode == 3 and "cannot start a process" in got[0].last_error
    assert got[1].returncode == 0 and got[1].result == b"second"
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask      # SIGINT/SIGTERM not left blocked
