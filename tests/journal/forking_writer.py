"""Child process for the fork test: opens a journal for writing (safe, committer process),
forks a worker that outlives it (as ``multiprocessing`` does by default on Linux), prints
``writer PID committer PID worker PID`` and waits to be killed. The worker waits for its stdin
to close.

Usage: python forking_writer.py JOURNAL
"""

from __future__ import annotations

import os
import sys

from recorder.journal import open_journal
from recorder.venues.lx.samples import sample_records


def main() -> None:
    journal = open_journal(sys.argv[1], durability="safe", committer="process")
    sid = journal.start_session(venue="lx1", capture_point="fork-test")
    journal.append(sample_records(10, session_id=sid))
    worker = os.fork()
    if worker == 0:  # the worker: nothing of the journal's, until its stdin closes
        sys.stdin.read()
        os._exit(0)
    print(f"writer {os.getpid()} committer {journal.committer_pid} worker {worker}", flush=True)
    sys.stdin.read()  # killed meanwhile


if __name__ == "__main__":
    main()
