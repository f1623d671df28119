"""One local state folder per worker process, kept for the next process on the same host.

Faust keeps each table partition in a RocksDB database under the worker's data folder. Two worker
processes of one app on one host must not share those databases (RocksDB allows one writer; a
second process's writes would interleave with the first's), yet a restarted worker should find
the folder its predecessor left, so it resumes from the stored offsets instead of restoring every
changelog from the beginning.

So a worker claims the first free *slot* under ``$FRAUDSTREAM_HOME/worker/<app-id>``:
``process-0``, ``process-1``, ... A slot is taken while a process holds an exclusive ``flock`` on
its ``.lock`` file; the kernel releases it when the process exits, however it exits (kill -9
included), so a crashed worker's slot is free for its restart at once.

>>> import tempfile
>>> base = Path(tempfile.mkdtemp())
>>> first, second = StateDirClaim(base), StateDirClaim(base)
>>> first.path.name, second.path.name
('process-0', 'process-1')
>>> first.release(); StateDirClaim(base).path.name
'process-0'
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["StateDirClaim", "held_slots"]

#: more worker processes of one app than this on one host is a mistake, not a deployment
MAX_SLOTS = 64


class StateDirClaim:
    """The first free state folder under ``base``, held until :meth:`release` or the process ends."""

    def __init__(self, base: Path) -> None:
        base.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            path = base / f"process-{slot}"
            path.mkdir(exist_ok=True)
            fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.path, self._fd = path, fd
            return
        raise RuntimeError(
            f"all {MAX_SLOTS} state folders under {base} are held by running workers of this app; "
            "stop some, or give this one another --app-id"
        )

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = -1


def held_slots(base: Path) -> list[tuple[Path, int | None]]:
    """The slots under ``base`` a running process holds now, with the pid it wrote (``fraudstream status``).

    The check takes a shared lock for a moment; a worker starting in that moment finds the slot
    taken and claims the next one, which is harmless.
    """
    held = []
    for lock in sorted(base.glob("process-*/.lock")):
        fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = lock.read_text().strip()
            held.append((lock.parent, int(text) if text.isdigit() else None))
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return held
