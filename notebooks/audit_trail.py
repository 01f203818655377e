# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Audit trail
#
# One order's complete lifecycle with both clocks, the hash chain's verification and the gap
# ledger with how each gap was closed — the evidence a compliance review asks for.
#
# The journal is `$RECORDER_NOTEBOOK_JOURNAL`, by default `var/demo.journal`.

# %%
import os
from pathlib import Path

import pandas as pd

from recorder import analysis
from recorder.audit import audit_report, order_story
from recorder.journal import open_journal
from recorder.journal.verify import verify

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
JOURNAL = Path(os.environ.get("RECORDER_NOTEBOOK_JOURNAL", ROOT / "var" / "demo.journal"))
if not JOURNAL.exists():
    from recorder.demo import run_demo

    run_demo(JOURNAL, seconds=8)
journal = open_journal(JOURNAL, readonly=True)

# %% [markdown]
# ## One order's lifecycle
#
# The filled order with the longest story: every frame that carries its mid or names it, in
# journal order, with the wall clock and the monotonic clock of each.

# %%
orders = analysis.orders(journal)
filled = orders[(orders["kind"] == "LimitOrder") & (orders["filled_size"] > 0)]
mid = filled.sort_values("frames", ascending=False).iloc[0]["mid"]
story = order_story(journal, mid)
table = pd.DataFrame(
    [
        {
            "position": s.frame.position,
            "time": s.view["time"],
            "mono_ns": s.frame.mono_ns,
            "direction": s.frame.direction.value,
            "kind": s.frame.kind,
            "seq": s.frame.seq,
            "replay": s.frame.is_replay,
            "relation": s.relation,
        }
        for s in story.frames
    ]
)
life = story.lifecycle
assert life is not None and life.mid == mid
assert story.frames[0].frame.kind == "LimitOrder" and story.frames[0].frame.direction.value == "out"
assert list(table["position"]) == sorted(table["position"])
row = orders.set_index("mid").loc[mid]
assert row["ack_latency_us"] == life.ack_latency_ns / 1000 and row["outcome"] == life.outcome
print(f"{life.kind} {mid}: {life.outcome or 'still working'}, filled {life.filled_size}, "
      f"ACK after {life.ack_latency_ns / 1000:.0f} µs")
table

# %% [markdown]
# ## Hash chain and sequence continuity
#
# `verify` recomputes every row's hash from the previous one and checks that every exchange
# stream is continuous (or its holes are documented as unrecoverable in the gap ledger).

# %%
report = verify(journal)
assert report.ok, report.breaks
head_position, head_hash = journal.reader.head()
assert report.head_hash == head_hash.hex() and report.frames == head_position
print(f"OK: {report.frames} frames, {report.streams} streams, head hash {report.head_hash}")

# %% [markdown]
# ## The gap ledger
#
# Every gap the bot detected, when, and how it was closed. A gap marked `filled` on the order
# channel must have all its seqs in the journal (recovered by `MessageReplay`).

# %%
gaps = analysis.gaps(journal)
assert set(gaps["state"]) <= {"filled", "unrecoverable"}
frames = analysis.frames(journal)
order_in = frames[(frames["channel"] == "order") & (frames["direction"] == "in")]
for g in gaps.itertuples():
    if g.channel == "order" and g.state == "filled":
        seen = set(order_in[order_in["run_id"] == g.run_id]["seq"])
        assert set(range(g.from_seq, g.to_seq + 1)) <= seen, g
gaps[["channel", "run_id", "from_seq", "to_seq", "state", "detected_time", "closed_time",
      "reason"]]

# %% [markdown]
# ## The audit report for the whole journal (Markdown; `--format html` for HTML)

# %%
text = audit_report(journal, None, None, fmt="markdown")
assert report.head_hash[:16] in text or "OK" in text
print(text[:3000])
journal.close()
