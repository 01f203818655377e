"""Descriptors a forked child must not keep: the journal's writer lock and the committer's
life pipe.

``os.fork()`` without ``exec`` (``multiprocessing``'s default start method on Linux) gives the
child a copy of every descriptor. Two of a writer's must stay the writer's alone:

* the **writer lock** (``flock`` on ``<journal>-writer.lock``): a lock belongs to the open file
  description, so a worker forked by a bot keeps the journal locked after the bot is killed,
  and a restarted bot is refused for as long as the worker lives;
* the **committer's life pipe** (its write end): the committer process learns that its parent
  died when the pipe's last write end closes, which a forked worker's copy prevents — the
  committer would wait for a parent that is gone.

In every forked child the descriptors registered here are pointed at ``/dev/null``
(``dup2``): the number stays valid (the child's own objects may still close it, harmlessly),
the description is no longer the child's. A child is never a writer of its parent's journal
(SQLite handles must not cross a fork either).
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["private", "released"]

_PRIVATE: set[int] = set()
_lock = threading.Lock()


def private(fd: int) -> None:
    """Keep ``fd`` out of forked children from now on."""
    with _lock:
        _PRIVATE.add(fd)


def released(fd: int) -> None:
    """``fd`` is about to be closed (its number may then be reused): forget it."""
    with _lock:
        _PRIVATE.discard(fd)


def _in_forked_child() -> None:
    if not _PRIVATE:
        return
    null = os.open(os.devnull, os.O_RDWR)
    for fd in _PRIVATE:
        with contextlib.suppress(OSError):
            os.dup2(null, fd, inheritable=False)
    os.close(null)
    _PRIVATE.clear()


os.register_at_fork(after_in_child=_in_forked_child)
