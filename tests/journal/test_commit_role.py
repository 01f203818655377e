"""The committer role when writers overlap: one thread's bulk append or non-frame write, another
thread's frames.

Found in review: a frame spooled behind a bulk append that was not committed yet (a bulk goes
around the spool) was acknowledged in front of a hole, and a kill -9 lost it; a non-frame write
(``start_session``, ``open_gap``, ``write_checkpoint``: :meth:`Appender.exclusive`) let the role
go without committing the frames appended meanwhile, so their appenders, a reader, and a parked
flusher waited for a commit nobody made. Each test holds the other writer at a known point and
waits on conditions (a thread blocked in ``Condition.wait``, the flusher parked), not on time.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from waiting import WAIT, until

from recorder.journal import Journal, open_journal
from recorder.journal.writer import SPOOL_BYPASS_ROWS, Appender
from recorder.venues.lx.samples import sample_records


def _waiting(thread: threading.Thread) -> bool:
    """True while ``thread`` is blocked in ``threading.Condition.wait``."""
    frame = sys._current_frames().get(thread.ident or -1)
    return (
        frame is not None
        and frame.f_code.co_name == "wait"
        and "threading" in (frame.f_code.co_filename)
    )


def _appender(journal: Journal) -> Appender:
    appender = journal._appender
    assert appender is not None
    return appender


class _Role:
    """Holds the committer role as a non-frame write does (:meth:`Appender.exclusive`), in a
    thread, until :meth:`release`."""

    def __init__(self, appender: Appender) -> None:
        self._held, self._release = threading.Event(), threading.Event()

        def hold() -> None:
            with appender.exclusive():
                self._held.set()
                self._release.wait(WAIT)

        self._thread = threading.Thread(target=hold, daemon=True)
        self._thread.start()
        assert self._held.wait(WAIT)

    def release(self) -> None:
        self._release.set()
        self._thread.join(WAIT)


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


_BEHIND_A_BULK = textwrap.dedent(
    """
    import os, signal, sys, threading
    sys.path[:0] = [sys.argv[3], os.path.dirname(sys.argv[3])]  # this folder, and tests/
    from test_commit_role import _waiting
    from waiting import until
    from recorder.journal import committer as committer_module, open_journal
    from recorder.journal import writer as writer_module
    from recorder.venues.lx.samples import sample_records

    path, committer = sys.argv[1], sys.argv[2]
    in_commit, release = threading.Event(), threading.Event()
    def hold(owner, name, big):  # the bulk's commit is held (a slow disk) until released
        original = getattr(owner, name)
        def held(self, data):
            if len(data) > big:
                in_commit.set()
                release.wait()
            return original(self, data)
        setattr(owner, name, held)
    if committer == "inline":
        hold(writer_module.Appender, "_write", 100)  # rows
    else:
        hold(committer_module.CommitterProcess, "hand", 50_000)  # the handed records' bytes
    journal = open_journal(path, committer=committer)
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(10 + 1500 + 1, session_id=sid)
    journal.append(records[:10])
    journal.flush()
    threading.Thread(target=journal.append, args=(records[10:-1],), daemon=True).start()
    assert in_commit.wait(30)
    acked = []
    one = threading.Thread(target=lambda: acked.append(journal.append_one(records[-1])))
    one.start()
    assert until(lambda: acked or _waiting(one))
    if not acked:  # it waits for the bulk's commit: let that finish, then it is acknowledged
        release.set()
        one.join(30)
    print(acked[0], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # with the bulk's commit held, if it was not waited for
    """
)


@pytest.mark.parametrize("committer", ["inline", "process"])
def test_a_frame_acknowledged_behind_a_bulk_append_survives_kill_9(
    tmp_path: Path, committer: str
) -> None:
    path = tmp_path / "b.journal"
    child = subprocess.run(
        [sys.executable, "-c", _BEHIND_A_BULK, str(path), committer, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr
    acknowledged = int(child.stdout)
    records = sample_records(acknowledged, session_id=1)
    with open_journal(path, readonly=True) as reader:  # merges the killed writer's spool
        payloads = {f.position: f.payload for f in reader.frames()}
    assert payloads.get(acknowledged) == records[-1].payload, (
        f"frame {acknowledged} was acknowledged and is not in the journal (head "
        f"{max(payloads, default=0)}); files: {sorted(p.name for p in tmp_path.iterdir())}"
    )


@pytest.mark.parametrize(
    ("durability", "count"), [("strict", 3), ("safe", SPOOL_BYPASS_ROWS)], ids=["strict", "bulk"]
)
def test_an_append_that_waits_for_a_non_frame_write_is_committed_after_it(
    tmp_path: Path, durability: Any, count: int
) -> None:
    journal = open_journal(tmp_path / "w.journal", durability=durability)
    appender = _appender(journal)
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(count, session_id=sid)
    role = _Role(appender)
    append, positions = _in_thread(lambda: journal.append(records))
    assert until(lambda: _waiting(append))  # its rows are pending, the role is taken
    role.release()
    append.join(WAIT)
    hung = append.is_alive()
    journal.close()  # (commits, which frees a hung append)
    assert not hung, "the append still waited after the non-frame write let the role go"
    assert positions == [list(range(1, count + 1))]


@pytest.mark.parametrize("durability", ["safe", "fast"])
def test_a_read_during_a_non_frame_write_returns_after_it(tmp_path: Path, durability: Any) -> None:
    journal = open_journal(tmp_path / "r.journal", durability=durability)
    appender = _appender(journal)
    sid = journal.start_session(venue="lx1", capture_point="test")
    role = _Role(appender)
    last = journal.append_one(sample_records(1, session_id=sid)[0])
    assert until(lambda: appender._parked)  # the role is held: two idle ticks, then it parks
    read, seen = _in_thread(journal.head_position)  # waits for the frames before it
    assert until(lambda: _waiting(read))
    role.release()
    read.join(WAIT)
    hung = read.is_alive()
    journal.close()
    assert not hung, "head_position() still waited after the non-frame write let the role go"
    assert seen == [last]


@pytest.mark.parametrize("durability", ["safe", "fast"])
def test_frames_appended_during_a_non_frame_write_reach_sqlite(
    tmp_path: Path, durability: Any
) -> None:
    """Other processes see them within moments, though the flusher parked meanwhile."""
    path = tmp_path / "p.journal"
    journal = open_journal(path, durability=durability)
    appender = _appender(journal)
    sid = journal.start_session(venue="lx1", capture_point="test")
    role = _Role(appender)
    last = journal.append_one(sample_records(1, session_id=sid)[0])
    assert until(lambda: appender._parked)  # the role is held: two idle ticks, then it parks
    role.release()

    def seen() -> int:
        with open_journal(path, readonly=True) as reader:  # what another process sees
            return reader.head_position()

    visible = until(lambda: seen() == last, timeout=5)
    journal.close()
    assert visible, f"5 s after the write, other processes see head {seen()}, not {last}"
