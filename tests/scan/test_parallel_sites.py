"""`camscan scan --site ... --parallel N` without a lab: the child runner (at most N at once, results in site
order, a crash is one job's outcome, signals forwarded and no job started after one), the option's checks, and
the child command carrying every option of the parent (a dropped --exclude would send packets it must not)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scanner.cli import parallel
from scanner.cli.scan import _child_argv, scan
from tests.lab.conftest import REPO

# a stand-in for one site's child: its start, end and stop are files in a folder the test reads
CHILD = textwrap.dedent("""
    import os, signal, sys, time
    name, mode, d = sys.argv[1], sys.argv[2], sys.argv[3]
    def mark(what, text=""):
        with open(os.path.join(d, f"{name}.{what}"), "w") as f:
            f.write(text)
    def ended():
        return sorted(f.split(".")[0] for f in os.listdir(d) if f.endswith(".end"))
    def stopped(signum, frame):
        mark("stopped", signal.Signals(signum).name)
        mark("end")
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, stopped)
    mark("start", ",".join(ended()))
    end = time.monotonic() + 20
    if mode == "crash":
        print("half a line", file=sys.stderr)
        print("boom: it broke", file=sys.stderr)
        sys.exit(3)
    while time.monotonic() < end:
        if mode == "pair" and len([f for f in os.listdir(d) if f.endswith(".start")]) >= 2:
            time.sleep(0.3)
            break
        if mode.startswith("after:") and os.path.exists(os.path.join(d, mode[6:] + ".end")):
            break
        if mode == "quick":
            break
        time.sleep(0.02)
    else:
        sys.exit(9)     # what it waited for never happened
    print(name)
    mark("end")
""")


def _job(name: str, mode: str, d: Path) -> parallel.Job:
    return parallel.Job(name, (sys.executable, "-I", "-c", CHILD, name, mode, str(d)))


def test_at_most_n_sites_run_at_once_and_results_come_in_site_order(tmp_path: Path) -> None:
    jobs = [_job("a", "pair", tmp_path), _job("b", "pair", tmp_path), _job("c", "quick", tmp_path)]
    got: list[tuple[int, int, str]] = []
    sink = io.StringIO()
    stopped = parallel.run_jobs(jobs, 2, lambda i, o: got.append((i, o.returncode, o.stdout.strip())), sink=sink)
    assert stopped is None
    assert got == [(0, 0, "a"), (1, 0, "b"), (2, 0, "c")]
    # a and b ran together (each waited for the other to start, or it would have exited 9); c was started only
    # once one of them had ended
    ended_before_c = (tmp_path / "c.start").read_text().split(",")
    assert ended_before_c and set(ended_before_c) <= {"a", "b"}


def test_a_later_site_that_ends_first_is_still_reported_after_the_earlier_one(tmp_path: Path) -> None:
    jobs = [_job("slow", "after:fast", tmp_path), _job("fast", "quick", tmp_path)]
    got: list[tuple[int, str]] = []
    parallel.run_jobs(jobs, 2, lambda i, o: got.append((i, o.stdout.strip())), sink=io.StringIO())
    assert got == [(0, "slow"), (1, "fast")]


def test_a_crashed_site_is_its_own_outcome_and_the_others_finish(tmp_path: Path) -> None:
    jobs = [_job("bad", "crash", tmp_path), _job("good", "quick", tmp_path)]
    got: dict[int, parallel.Outcome] = {}
    sink = io.StringIO()
    parallel.run_jobs(jobs, 2, lambda i, o: got.__setitem__(i, o), sink=sink)
    assert got[0].returncode == 3 and got[0].last_error == "boom: it broke" and got[0].stdout == ""
    assert got[1].returncode == 0 and got[1].stdout.strip() == "good"
    assert "[bad] boom: it broke\n" in sink.getvalue()      # its messages are relayed whole, tagged with its site


DRIVER = textwrap.dedent("""
    import json, sys
    from scanner.cli import parallel
    child, d = sys.argv[1], sys.argv[2]
    jobs = [parallel.Job(n, (sys.executable, "-I", "-c", child, n, "wait", d)) for n in ("a", "b", "c")]
    out = []
    stopped = parallel.run_jobs(jobs, 2, lambda i, o: out.append([i, o.returncode]))
    print(json.dumps({"stopped": stopped, "outcomes": out}))
""")


def test_sigterm_stops_every_running_site_and_starts_no_more(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", DRIVER, CHILD, str(tmp_path)], cwd=REPO, text=True,
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


def test_the_child_command_carries_every_option_of_the_run(tmp_path: Path) -> None:
    opts = {"excludes": ("198.18.0.5", "198.18.0.64/30"), "cred_file": "creds.yaml", "modules": "arp,http",
            "rate": 150.5, "interface": "eth7", "engine": "nmap", "allow_large": True, "allow_public": False,
            "allow_link_local": True, "concerns": "fcc-covered-list"}
    argv = _child_argv(Path("sites/a.yaml"), tmp_path / "A", ["json", "csv"], "/x/s.db", 0, "json", opts)
    assert argv[:4] == (sys.executable, "-m", "scanner", "scan")
    p = scan.make_context("scan", list(argv[4:])).params
    assert p["site_files"] == ("sites/a.yaml",) and p["out_dir"] == str(tmp_path / "A")
    assert p["excludes"] == opts["excludes"] and p["cred_file"] == "creds.yaml" and p["modules"] == "arp,http"
    assert p["rate"] == 150.5 and p["interface"] == "eth7" and p["engine"] == "nmap"
    assert (p["allow_large"], p["allow_public"], p["allow_link_local"]) == (True, False, True)
    assert p["concerns"] == "fcc-covered-list" and p["db"] == "/x/s.db" and not p["no_store"]
    assert p["formats"] == "json,csv" and p["json_out"] and p["log_format"] == "json"
    assert p["quiet"] and p["fail_on"] == []       # the parent judges --fail-on from the inventory
    none = {**opts, "excludes": (), "cred_file": None, "modules": None, "rate": None, "interface": None,
            "concerns": None, "engine": "native", "allow_large": False, "allow_link_local": False}
    p = scan.make_context("scan", list(_child_argv(Path("a.yaml"), tmp_path, ["json"], None, 2, "text",
                                                   none)[4:])).params
    assert p["no_store"] and p["rate"] is None and p["interface"] is None and p["excludes"] == ()
    assert p["verbose"] == 2 and not p["quiet"]
    p = scan.make_context("scan", list(_child_argv(Path("a.yaml"), tmp_path, ["json"], "", 0, "text",
                                                   none)[4:])).params
    assert p["db"] is None and not p["no_store"]      # "" is the default store, as the parent would use
