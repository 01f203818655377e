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
# # Post-trade analysis
#
# Fills, slippage against the book top at arrival, ACK latency and the P&L curve of a bot —
# read from its journal alone, with `recorder.analysis` (pandas) and the projector.
#
# The journal is `$RECORDER_NOTEBOOK_JOURNAL`, by default `var/demo.journal` (written by
# `make demo`; recorded here with a short demo run if it is missing).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt

from recorder import analysis
from recorder.projection import project
from recorder.venues.lx import lx1_pb2 as pb

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
JOURNAL = Path(os.environ.get("RECORDER_NOTEBOOK_JOURNAL", ROOT / "var" / "demo.journal"))
if not JOURNAL.exists():
    from recorder.demo import run_demo

    run_demo(JOURNAL, seconds=8)
print(JOURNAL)

# %% [markdown]
# ## Fills
#
# `analysis.fills` is the projector's list of own fills with the time each was journaled. The
# same fills, read straight from the private action reports in the frames (each trade once),
# must be identical: the analysis and the projector read one journal, so they cannot disagree.

# %%
state = project(JOURNAL)
fills = analysis.fills(JOURNAL, state=state)
assert list(fills["trade_id"]) == [f.trade_id for f in state.fills]

frames = analysis.frames(JOURNAL, payload=True)
private = frames[(frames["channel"] == "order") & (frames["kind"] == "ActionReport")]
from_frames = set()
for payload in private["payload"]:
    r = pb.Envelope.FromString(payload).action_report
    if r.filled_size:
        from_frames.add((r.trade_id, r.entry_id, r.filled_price, r.filled_size))
projected = set(
    zip(fills["trade_id"], fills["entry_id"], fills["price_in_cents"], fills["size"], strict=True)
)
assert from_frames == projected, from_frames ^ projected
print(f"{len(fills)} fills, identical in the frames and in the projection")
fills.head(10)

# %% [markdown]
# ## Slippage against the book top at arrival
#
# For each fill, the book top of its contract when the order was sent (the last `BookTop` the
# bot had received). Positive slippage is worse for us: bought above the arrival mid, or sold
# below it.

# %%
slip = analysis.slippage(JOURNAL, state=state)
assert len(slip) == len(fills)
quoted = slip.dropna(subset=["mid_price"])
sign = quoted["is_ask"].map({True: -1, False: 1})
assert ((quoted["price_in_cents"] - quoted["mid_price"]) * sign == quoted["slippage_cents"]).all()
print(quoted.groupby("side")["slippage_cents"].describe())
ax = quoted["slippage_cents"].plot.hist(bins=20, title="slippage vs arrival mid (cents)")
plt.show()

# %% [markdown]
# ## ACK latency
#
# From each request going out to its first reply, on the monotonic clock of the capture point that
# journaled both (a wall clock stepped meanwhile changes nothing; `ack_latency_clock` says `wall`
# where two capture points journaled them).

# %%
orders = analysis.orders(JOURNAL)
acked = orders.dropna(subset=["ack_latency_us"])
latency = acked["ack_latency_us"]
assert len(latency) > 0 and (latency > 0).all()
assert set(acked["ack_latency_clock"]) == {"mono"}  # the SDK: one capture point
assert ((acked["acked_mono_ns"] - acked["sent_mono_ns"]) / 1000 == latency).all()
print(latency.describe(percentiles=[0.5, 0.9, 0.99]))
latency.plot.hist(bins=40, title="ACK latency (µs)")
plt.show()

# %% [markdown]
# ## Positions and realised P&L over time
#
# FIFO lots per contract in integer cents; the curve's last point is the projector's P&L.

# %%
curve = analysis.positions(JOURNAL, state=state)
total = sum(p.realised_pnl_cents for p in state.positions.values())
assert curve["total_realised_pnl_cents"].iloc[-1] == total
last = curve.groupby("contract_id").last()
for cid, p in state.positions.items():
    assert last.loc[cid, "net_size"] == p.net_size
curve.plot(x="wall_time", y="total_realised_pnl_cents", title="realised P&L (cents)")
plt.show()
last[["net_size", "avg_price_in_cents", "realised_pnl_cents", "bought", "sold"]]
