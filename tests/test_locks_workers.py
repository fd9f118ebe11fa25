"""Issue 26, items 5 and 6: a killed sweep leaves no workers behind, and a stale lock (a reused pid,
a dead owner on another host) does not block its config for a day."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from gca_lite.experiments import RunLock
from gca_lite.experiments.lock import HEARTBEAT, MISSED_BEATS, _start_ticks

from conftest import REPO, SMOKE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an exited child of a killed parent may linger as a zombie until init reaps it
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_reused_pid_does_not_keep_a_lock(tmp_path):
    path = tmp_path / "lock"
    me = {"host": socket.gethostname(), "pid": os.getpid(), "token": "x", "heartbeat": HEARTBEAT}
    path.write_text(json.dumps({**me, "start": _start_ticks(os.getpid())}))
    assert not RunLock(path).acquire()  # that very process: alive, respected
    path.write_text(json.dumps({**me, "start": "1"}))  # same pid, another process (started at tick 1)
    assert RunLock(path).acquire()


def test_another_hosts_lock_without_heartbeat_goes_stale(tmp_path):
    path = tmp_path / "lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "x", "heartbeat": HEARTBEAT}))
    assert not RunLock(path).acquire()  # fresh: its owner may be training
    old = time.time() - MISSED_BEATS * HEARTBEAT - 5
    os.utime(path, (old, old))
    assert RunLock(path).acquire()  # missed its heartbeats: not a day's wait


def test_a_held_lock_keeps_beating(tmp_path):
    lock = RunLock(tmp_path / "lock", heartbeat=0.05)
    assert lock.acquire()
    old = time.time() - 3600
    os.utime(lock.path, (old, old))
    deadline = time.time() + 5
    while lock.path.stat().st_mtime < time.time() - 60:
        assert time.time() < deadline, "the heartbeat never refreshed the lock"
        time.sleep(0.05)
    assert not RunLock(lock.path).is_stale()
    lock.release()
    assert not lock.path.exists()


@pytest.mark.slow
def test_sigkill_of_the_sweep_ends_its_workers(tmp_path):
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "gca_lite.cli", "sweep", str(SMOKE), "--store", str(root),
                             "--workers", "2", "--threads", "1", "--quiet"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        workers: set[int] = set()
        while not workers:
            assert proc.poll() is None and time.time() < deadline, "the sweep ended before a worker locked a run"
            for lock in root.glob("*/*/lock"):
                try:
                    workers.add(json.loads(lock.read_text())["pid"])
                except (OSError, ValueError, KeyError):
                    pass
            time.sleep(0.05)
        assert proc.pid not in workers
        os.kill(proc.pid, signal.SIGKILL)  # the sweep's main process only: no clean-up runs
        proc.wait()
        deadline = time.time() + 15
        while any(_alive(pid) for pid in workers):
            assert time.time() < deadline, f"workers {workers} outlived their sweep"
            time.sleep(0.1)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
