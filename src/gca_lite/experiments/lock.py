"""One lock file per config, so two workers (processes, hosts) never train the same config.

The lock holds the owner's host, pid, a random token and the time. It is written to a private file
first and then hard-linked to its name, which fails if the name exists (atomic on local file
systems and on NFS), so a lock never exists without its content, even if its owner is killed
mid-way; on a file system without hard links it falls back to an exclusive create and a write.

While held, a lock is refreshed (its mtime touched) every ``heartbeat`` seconds by a background
thread, and records that interval. A lock is *stale*, and is broken, when

* it was taken on this host by a process that no longer exists (a killed sweep), or whose pid now
  belongs to another process (the lock records the owner's start time, which a reused pid does
  not share);
* it has a heartbeat and missed ``MISSED_BEATS`` of them (5 min by default): its owner died,
  froze, or lost the file system, on this host or another one;
* it is older than ``stale_after`` seconds (default 24 h: longer than any single run); this is
  the only rule for locks written by older versions, which have no heartbeat.

An unreadable lock (written by other means, or a disk fault) is stale after a minute.

Breaking renames the stale file to a unique name before deleting it, so two processes breaking the
same stale lock cannot delete a fresh lock that a third one just took.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

DEFAULT_STALE_AFTER = 24 * 3600.0
HEARTBEAT = 30.0  # seconds between refreshes of a held lock
MISSED_BEATS = 10  # a lock not refreshed for this many heartbeats is stale
_UNREADABLE_GRACE = 60.0


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat field 22); None if unknown.
    With the pid it identifies a process: a pid the kernel reuses belongs to a later start."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # never probe 0 / -1: they address process groups, not one process
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True  # unknown: assume alive rather than risk a double run
    try:  # a killed worker whose parent died too may linger as a zombie if nobody reaps it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class RunLock:
    """``with RunLock(path) as got:`` -> ``got`` is True if this process now holds the lock."""

    def __init__(self, path: str | Path, stale_after: float = DEFAULT_STALE_AFTER, heartbeat: float = HEARTBEAT):
        self.path = Path(path)
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.token = uuid.uuid4().hex
        self.held = False
        self._stop = threading.Event()

    # -------------------------------------------------------------------- inspection
    def owner(self) -> dict | None:
        """The lock's content, ``{}`` if unreadable, ``None`` if there is no lock."""
        try:
            info = json.loads(self.path.read_text())
            return info if isinstance(info, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def is_stale(self) -> bool:
        info = self.owner()
        if info is None:
            return False
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        if not isinstance(info, dict) or not info:
            return age > _UNREADABLE_GRACE
        beat = info.get("heartbeat")
        if age > self.stale_after or (isinstance(beat, (int, float)) and beat > 0 and age > MISSED_BEATS * beat):
            return True
        if info.get("host") != socket.gethostname():
            return False  # another host's pids cannot be checked: its heartbeat tells
        try:
            pid = int(info.get("pid", -1))
        except (TypeError, ValueError):
            pid = -1
        if not _pid_alive(pid):
            return True
        started = info.get("start")
        return started is not None and _start_ticks(pid) not in (None, started)  # the pid was reused

    # -------------------------------------------------------------------- acquire / release
    def acquire(self) -> bool:
        """Take the lock if free or stale; never blocks. Returns whether it is now held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = self.path.with_name(f".{self.path.name}-{self.token}")
        try:
            mine.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                        "start": _start_ticks(os.getpid()), "token": self.token,
                                        "heartbeat": self.heartbeat, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
            for _ in range(2):  # second try only after breaking a stale lock
                try:
                    self._place(mine)
                except FileExistsError:
                    if self.is_stale() and self._break():
                        continue
                    return False
                self.held = True
                self._stop.clear()
                threading.Thread(target=self._beat, name=f"lock-heartbeat {self.path}", daemon=True).start()
                return True
            return False
        finally:
            mine.unlink(missing_ok=True)

    def _place(self, mine: Path) -> None:
        """Put the written lock at its name; FileExistsError if a lock is there."""
        try:
            os.link(mine, self.path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: exclusive create, then write
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(mine.read_text())

    def _break(self) -> bool:
        aside = self.path.with_name(f"{self.path.name}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True  # someone else broke it first; try to take it
        aside.unlink(missing_ok=True)
        return True

    def _beat(self) -> None:
        """Touch the lock every ``heartbeat`` seconds while it is held and still ours."""
        while not self._stop.wait(self.heartbeat):
            if (self.owner() or {}).get("token") != self.token:
                return
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Delete the lock file if (and only if) it is still ours."""
        self._stop.set()
        if self.held and (self.owner() or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
