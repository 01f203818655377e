"""Child process for the kill tests: appends sample frames and reports each returned position.

Usage: python appender_child.py JOURNAL DURABILITY BATCH [events]
Prints ``position sha256(payload)`` after each append returns (i.e. when the journal promised it).
DURABILITY ``safe+process``: ``safe`` with a committer process, whose pid is printed first
(``committer PID``); a ``:wire`` suffix appends the frames as they came off the wire
(``append_wires``, BATCH at a time, as the SDK and the capture loop do). ``events``: every
fifth batch is followed by a gap opened and written off (two ledger events among the frames).
"""

from __future__ import annotations

import hashlib
import sys

from recorder.core.frames import Channel
from recorder.journal import open_journal
from recorder.venues.lx.samples import sample_records


def main() -> None:
    path, durability, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    events = sys.argv[4:] == ["events"]
    durability, _, how = durability.partition(":")
    durability, _, committer = durability.partition("+")
    journal = open_journal(path, durability=durability, committer=committer or "inline")  # type: ignore[arg-type]
    sid = journal.start_session(venue="lx1", capture_point="kill-test")
    records = sample_records(20_000, session_id=sid)
    out = sys.stdout
    if committer:
        out.write(f"committer {journal.committer_pid}\n")
    for n, i in enumerate(range(0, len(records), batch)):
        chunk = records[i : i + batch]
        if how == "wire":
            first = journal.append_wires(
                [(sid, r.channel, r.direction, r.wall_ns, r.mono_ns, r.flags, r.payload, None)
                 for r in chunk]
            )  # fmt: skip
            positions = list(range(first, first + len(chunk)))
        else:
            positions = journal.append(chunk)
        for position, record in zip(positions, chunk, strict=True):
            out.write(f"{position} {hashlib.sha256(record.payload).hexdigest()}\n")
        out.flush()
        if events and n % 5 == 4:
            gap = journal.open_gap(
                session_id=sid, channel=Channel.MARKET, run_id="k", from_seq=n, to_seq=n,
                detected_position=positions[-1],
            )  # fmt: skip
            journal.update_gap(gap, "unrecoverable", reason="kill test")
    journal.close()


if __name__ == "__main__":
    main()
