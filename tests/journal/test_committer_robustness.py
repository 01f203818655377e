"""The committer process when its surroundings are not the test suite's: a bot that imports
``recorder`` from a checkout that is not installed, a child that stops answering, a close while
another thread commits.

Found in review: the child ran ``sys.executable -c ...`` with the interpreter's default
``sys.path``, so a bot whose ``recorder`` came from a ``sys.path.insert`` could not start it (and
was told only "its error is on stderr"); the parent waited for a commit without a deadline, so a
stopped child hung ``flush()`` and ``close()`` for ever; and ``Appender.close()`` used the
child's ZeroMQ socket (not thread-safe) while another thread's flush was using it.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from waiting import WAIT, until

import recorder
from recorder.core.frames import FrameRecord
from recorder.errors import JournalError, JournalFullError
from recorder.journal import Journal, open_journal
from recorder.journal import committer as committer_module
from recorder.journal.spool import Spool
from recorder.journal.verify import verify
from recorder.venues.lx.samples import sample_records

CHECKOUT = Path(recorder.__file__).resolve().parent.parent
"""The folder holding the ``recorder`` package under test."""
DEPENDENCIES = sysconfig.get_paths()["purelib"]
"""The site-packages holding recorder's dependencies (apsw, pyzmq, ...)."""


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter (a new virtual environment) in which neither ``recorder`` nor its
    dependencies are installed."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin" / "python"


def _bot(python: Path, script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a bot's ``script`` with ``python``, outside the checkout and with a clean
    environment (no ``PYTHONPATH``)."""
    return subprocess.run(
        [str(python), "-c", textwrap.dedent(script), *args],
        cwd=cwd, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


_CHECKOUT_BOT = """
    import sys
    checkout, dependencies, path, drop = sys.argv[1:]
    sys.path[:0] = [checkout, dependencies]  # a checkout that is not installed
    from recorder.errors import JournalError
    from recorder.journal import open_journal
    from recorder.venues.lx.samples import sample_records
    if drop == "dependencies":  # imported already: this process goes on without them
        sys.path.remove(dependencies)
    try:
        journal = open_journal(path, committer="process")
    except JournalError as exc:
        print(exc)
        sys.exit(3)
    with journal:
        sid = journal.start_session(venue="lx1", capture_point="bot")
        journal.append(sample_records(20, session_id=sid))
        journal.flush()
"""


def test_a_bot_importing_recorder_from_a_checkout_starts_its_committer(
    tmp_path: Path, bare_python: Path
) -> None:
    path = tmp_path / "bot.journal"
    alone = _bot(bare_python, "import recorder", cwd=tmp_path)
    assert alone.returncode != 0, "recorder is importable there without the checkout"
    bot = _bot(
        bare_python, _CHECKOUT_BOT, str(CHECKOUT), DEPENDENCIES, str(path), "-", cwd=tmp_path
    )
    assert bot.returncode == 0, bot.stdout + bot.stderr
    with open_journal(path, readonly=True) as reader:
        assert reader.head_position() == 20
        assert verify(reader).ok


def test_a_committer_that_cannot_import_recorder_is_a_clear_error(
    tmp_path: Path, bare_python: Path
) -> None:
    path = tmp_path / "bot.journal"
    open_journal(path).close()  # (creating one needs Alembic, which that process would lack)
    bot = _bot(
        bare_python, _CHECKOUT_BOT, str(CHECKOUT), DEPENDENCIES, str(path), "dependencies",
        cwd=tmp_path,
    )  # fmt: skip
    assert bot.returncode == 3, bot.stdout + bot.stderr
    message = bot.stdout
    assert "committer process" in message
    assert str(bare_python) in message, message  # the interpreter the child ran
    assert "No module named 'apsw'" in message or "No module named 'zmq'" in message, message


def _outcome(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` in a thread; the list gets what it returned, or the exception it raised."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _in(thread: threading.Thread, function: str) -> bool:
    """True while ``thread`` is inside a call of ``function`` (by name)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None and frame.f_code.co_name != function:
        frame = frame.f_back
    return frame is not None


DEADLINE_S = 0.5


def _stopped_committer(path: Path, committed: int) -> tuple[Journal, list[FrameRecord], int]:
    """A ``safe`` journal with its committer process, 300 sample records of which the first
    ``committed`` are committed, and its child then stopped (``SIGSTOP``: alive, and silent);
    the journal, the records and the child's pid (the caller kills it)."""
    journal = open_journal(path, committer="process")
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(300, session_id=sid)
    journal.append(records[:committed])
    journal.flush()
    pid = journal.committer_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    return journal, records, pid


def test_a_stopped_committer_fails_flush_within_its_deadline_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(committer_module, "ANSWER_TIMEOUT_S", DEADLINE_S)
    path = tmp_path / "s.journal"
    journal, records, pid = _stopped_committer(path, 100)  # wedged: alive, and silent
    try:
        for record in records[100:]:
            journal.append_one(record)  # in the spool: acknowledged
        flush, raised = _outcome(journal.flush)
        flush.join(DEADLINE_S + WAIT)
        hung = flush.is_alive()
    finally:
        os.kill(pid, signal.SIGKILL)  # (frees a flush that waits for ever)
    flush.join(WAIT)
    assert not hung, f"flush() still waited {DEADLINE_S + WAIT} s for the stopped committer"
    (error,) = raised
    assert isinstance(error, JournalError), error
    assert f"committer process (pid {pid}) did not answer within {DEADLINE_S} s" in str(error)
    assert "stay in the spool" in str(error)
    journal.close()
    with open_journal(path, committer="process") as again:  # merges the spool
        assert again.head_position() == len(records)
        assert [f.payload for f in again.frames()] == [r.payload for r in records]
        assert verify(again).ok


def test_close_uses_the_committer_only_once_another_threads_flush_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush holds the committer role, waiting for the child's answer (stopped here, so it
    waits until the test lets it go); an append fails meanwhile (its spool write: the disk is
    full), which stops the journal; then the journal is closed. The child's socket is the
    flush's until it returns: close must not send on it, nor read the answers, nor destroy it."""
    path = tmp_path / "c.journal"
    journal = open_journal(path, committer="process")
    appender = journal._appender
    assert appender is not None
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(11, session_id=sid)
    journal.append(records[:10])
    child = appender._committer
    assert child is not None
    os.kill(child.pid, signal.SIGSTOP)
    flush, flushed = _outcome(journal.flush)
    closed: list[Any] = []
    try:
        assert until(lambda: appender._committing)  # the flush holds the role
        real_write_one = Spool.write_one

        def full(self: Spool, canon: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(Spool, "write_one", full)
        with pytest.raises(JournalFullError):
            journal.append_one(records[10])
        monkeypatch.setattr(Spool, "write_one", real_write_one)
        used_during_flush: list[bool] = []
        real_close = child.close

        def close_child() -> None:
            used_during_flush.append(_in(flush, "_drain"))
            if used_during_flush[-1]:
                raise AssertionError("closing the committer while a flush holds the role")
            real_close()

        monkeypatch.setattr(child, "close", close_child)
        close, closed = _outcome(journal.close)
        assert until(lambda: used_during_flush or _in(close, "wait"))  # for the role, or not
    finally:
        os.kill(child.pid, signal.SIGCONT)  # the flush gets its answer
    flush.join(WAIT)
    close.join(WAIT)
    assert flushed == [None]
    assert used_during_flush == [False], "close() used the committer during another's flush"
    assert closed == [None]
    assert child.process.poll() is not None, "the committer did not exit after close()"
    with open_journal(path, readonly=True) as reader:
        assert [f.payload for f in reader.frames()] == [r.payload for r in records[:10]]


def test_the_committer_runs_below_its_parents_cpu_priority(tmp_path: Path) -> None:
    with open_journal(tmp_path / "n.journal", committer="process") as journal:
        pid = journal.committer_pid
        assert pid is not None
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(mine + committer_module.NICE, 19)


def test_a_committer_far_behind_holds_the_writer_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A child that gets no CPU (here: stopped) must not let the rows handed to it grow without
    # bound: past MAX_BEHIND uncommitted rows a hand-over waits for its commit.
    monkeypatch.setattr(committer_module, "ANSWER_TIMEOUT_S", DEADLINE_S)
    monkeypatch.setattr("recorder.journal.writer.MAX_BEHIND", 50)
    path = tmp_path / "b.journal"
    journal, records, pid = _stopped_committer(path, 10)
    try:
        appended: list[int] = []

        def append_and_hand() -> None:
            for record in records[10:]:
                appended.append(journal.append_one(record))
                journal.commit_pending()

        handed, raised = _outcome(append_and_hand)
        handed.join(DEADLINE_S + WAIT)
        hung = handed.is_alive()
    finally:
        os.kill(pid, signal.SIGKILL)
    handed.join(WAIT)
    assert not hung
    (error,) = raised
    assert isinstance(error, JournalError), error  # it waited for the child, and gave up
    assert "did not answer" in str(error)
    journal.close()
    assert 10 + 50 <= appended[-1] < len(records)  # held back once 50 rows were behind
    with open_journal(path, committer="process") as again:  # nothing lost: all in the spool
        assert again.head_position() == appended[-1]
        assert verify(again).ok


def test_a_failed_bulk_append_is_not_said_to_be_in_the_spool(tmp_path: Path) -> None:
    # A bulk append goes around the spool: if its commit fails, its rows are nowhere, and the
    # error must not tell the operator the next open will merge them.
    journal = open_journal(tmp_path / "bulk.journal", committer="process")
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(1005, session_id=sid)
    journal.append(records[:5])  # spooled
    pid = journal.committer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert until(lambda: _gone(pid))
    with pytest.raises(JournalError) as info:
        journal.append(records[5:])  # 1,000 rows: a bulk append
    message = str(info.value)
    assert "positions 6..1005 (a bulk append, which goes around the spool) were not written" in (
        message
    ), message
    assert "..1005 could not be committed and stay in the spool" not in message
    journal.close()


def _gone(pid: int) -> bool:
    """True once process ``pid`` has exited (a zombie not reaped yet counts)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
