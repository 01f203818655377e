"""Child process for the live-verify tests: writes a journal until it is killed.

Usage: python live_writer_child.py JOURNAL
Session after session (each started, 200 order heartbeats in batches of 10, ended), with a
checkpoint of the exchange view stored every fifth session: frames, ledger events and
checkpoints all change while a reader verifies. Prints ``ready`` once the first session's frames
are committed.
"""

from __future__ import annotations

import itertools
import sys

from recorder.journal import open_journal
from recorder.projection import projector_at, save_checkpoint
from recorder.venues.lx.samples import heartbeat_records


def main() -> None:
    journal = open_journal(sys.argv[1])
    for n in itertools.count():
        sid = journal.start_session(venue="lx1", capture_point="live", participant=f"p{n}")
        records = heartbeat_records(sid, list(range(1, 201)), run_id=f"{n:032x}")
        for i in range(0, len(records), 10):
            journal.append(records[i : i + 10])
        journal.end_session(sid, "stopped")
        if n % 5 == 4:
            save_checkpoint(journal, projector_at(journal))
        if n == 0:
            journal.flush()
            sys.stdout.write("ready\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
