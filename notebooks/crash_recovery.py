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
# # Crash recovery
#
# A market-making bot (`recorder.examples.market_maker`) trades in its own process against the
# simulator, journaling every frame before it is sent or handled. We kill it with `SIGKILL` —
# no clean-up, no last flush — and compare:
#
# * **before**: the state the journal holds at the kill (`project()` of what the dead bot left);
# * **the exchange's truth** at that moment and after;
# * **after recovery**: a new SDK context on the same journal reconnects, recovers what the
#   exchange sent while the bot was dead (`MessageReplay`), cancels its orders — and the
#   projected state then equals the exchange's, fill for fill.
#
# Work files go to `$RECORDER_NOTEBOOK_WORKDIR` (default `var/crash_recovery`).

# %%
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from recorder.client import Commands, Context, MessageProcessor
from recorder.config import ClientConfig, Config, JournalConfig, SimConfig
from recorder.errors import RecorderError
from recorder.journal import open_journal
from recorder.journal.verify import verify
from recorder.keys import KeyPair
from recorder.projection import project
from recorder.sim.server import SimServer

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
WORK = Path(os.environ.get("RECORDER_NOTEBOOK_WORKDIR", ROOT / "var" / "crash_recovery"))
WORK.mkdir(parents=True, exist_ok=True)
JOURNAL = WORK / "bot.journal"
for suffix in ("", "-wal", "-shm", "-spool", "-writer.lock"):
    Path(f"{JOURNAL}{suffix}").unlink(missing_ok=True)


def wait_until(predicate, timeout=30.0, every=0.1, required=True):
    """Poll a condition (bounded): the bot runs in another process."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() >= deadline:
            assert not required, "timed out"
            return value
        time.sleep(every)
    return value


# %% [markdown]
# ## The exchange, and the bot in its own process

# %%
exchange_keys, bot_keys = KeyPair.generate(), KeyPair.generate()
exchange_keys.save_certificate(WORK / "exchange.key", overwrite=True)
bot_keys.save_certificate(WORK / "bot.key", overwrite=True)
loopback = "tcp://127.0.0.1:*"
server = SimServer(
    SimConfig(order_bind=loopback, market_bind=loopback, control_bind=loopback, contracts=3,
              makers=3, takers=2, heartbeat_ms=200, liquidity_interval_ms=10),
    keys=exchange_keys,
    participants=[bot_keys.public],
)
endpoints = server.start()
bot = subprocess.Popen(
    [sys.executable, "-m", "recorder.examples.market_maker", "--order", endpoints.order,
     "--market", endpoints.market, "--key", str(WORK / "bot.key"),
     "--server-key", str(WORK / "exchange.key"), "--journal", str(JOURNAL),
     "--seconds", "300", "--heartbeat-ms", "200"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
participant = bot_keys.public_text


def journal_fills():
    try:
        return len(project(JOURNAL).fills)
    except RecorderError:  # the bot has not created its journal yet
        return 0


wait_until(lambda: journal_fills() >= 8)  # let it trade a little

# %% [markdown]
# ## Kill -9

# %%
bot.send_signal(signal.SIGKILL)
assert bot.wait(10) == -signal.SIGKILL
exchange_open = {o.entry_id for o in server.open_orders(participant)}
exchange_fills_at_kill = {f.trade_id for f in server.fills(participant)}
before = project(JOURNAL)
with open_journal(JOURNAL, readonly=True) as journal:
    report = verify(journal)
    killed_session = journal.sessions()[-1]
assert killed_session.ended_wall_ns is None  # the process never got to end its session
assert not [b for b in report.breaks if b.kind in ("hash", "position")]  # the chain is intact

# Journal before wire: every order the exchange holds for the bot is in the dead bot's journal,
# and every fill in the journal really happened.
known = {o.entry_id for o in before.orders}
assert exchange_open <= known, exchange_open - known
assert {f.trade_id for f in before.fills} <= exchange_fills_at_kill
pd.DataFrame(
    {
        "journal at the kill": [len(before.open_orders), len(before.fills)],
        "exchange at the kill": [len(exchange_open), len(exchange_fills_at_kill)],
    },
    index=["open orders", "fills"],
)

# %% [markdown]
# While the bot is dead the exchange goes on: takers keep trading against its resting quotes.
# Those fills are not in the journal — nobody was there to receive them.

# %%
wait_until(lambda: len(server.fills(participant)) > len(exchange_fills_at_kill), timeout=5,
           required=False)
missed = {f.trade_id for f in server.fills(participant)} - {f.trade_id for f in before.fills}
print(f"{len(missed)} fills happened while the bot was dead or had not reached its journal")

# %% [markdown]
# ## Recovery
#
# A new SDK context on the same journal (a new session). On connecting it learns from the
# exchange's order-channel seq that it missed messages and recovers them with `MessageReplay`;
# the recovered frames are journaled (flagged as replays) like any other. The bot then cancels
# everything, so the exchange's state stops moving.


# %%
class Recovering(MessageProcessor):
    """Only waits for the replays; the state comes from the journal (``project``)."""

    def __init__(self):
        self.replays = threading.Event()

    def handle_replay_done(self, msg, prev_msg):
        self.replays.set()

    def handle_run_change(self, run_id, prev_run_id): ...
    def handle_action_report(self, msg, prev_msg): ...
    def handle_contract_detail(self, msg, prev_msg): ...
    def handle_status_message(self, msg, prev_msg): ...
    def handle_batch_message(self, msg, prev_msg): ...
    def handle_book_top(self, msg, prev_msg): ...
    def handle_book_state_snapshot(self, msg, prev_msg): ...
    def handle_heartbeat(self, msg, prev_msg): ...


processor = Recovering()
context = Context(
    endpoints.order, bot_keys.private, bot_keys.public, server.public_key, processor,
    market_endpoint=endpoints.market, journal=JOURNAL,
    config=Config(journal=JournalConfig(path=JOURNAL),
                  client=ClientConfig(default_heartbeat_ms=200)),
)
context.start()
cmd = Commands(context)
assert cmd.get_open_orders().wait_done(10)
assert processor.replays.wait(10)  # what the exchange sent while we were away
assert cmd.cancel_all().wait_done(10)
exchange_fills = {f.trade_id for f in server.fills(participant)}
assert not server.open_orders(participant)


def caught_up():
    state = project(JOURNAL)
    return state if {f.trade_id for f in state.fills} == exchange_fills else None


wait_until(caught_up, timeout=10)
context.stop()  # a clean stop: every frame committed, the session ended
context.join(10)
server.stop()
after = project(JOURNAL)

# %% [markdown]
# ## Before the kill vs after recovery
#
# After recovery the journal-derived state equals the exchange's truth exactly: every fill,
# including those that happened while the bot was dead, and no open order left.

# %%
assert {f.trade_id for f in after.fills} == exchange_fills
assert not after.open_orders
net = {cid: p.net_size for cid, p in after.positions.items()}
truth = {}
for f in server.fills(participant):
    truth[f.contract_id] = truth.get(f.contract_id, 0) + (-f.filled_size if f.is_ask else f.filled_size)
assert {c: n for c, n in net.items() if n} == {c: n for c, n in truth.items() if n}
with open_journal(JOURNAL, readonly=True) as journal:
    final = verify(journal)
    sessions = journal.sessions()
assert not [b for b in final.breaks if b.kind in ("hash", "position")]
print(f"{len(sessions)} sessions; replayed frames in the journal: {final.replayed}")
pd.DataFrame(
    {
        "journal at the kill": [len(before.open_orders), len(before.fills),
                                {c: p.net_size for c, p in before.positions.items()}],
        "after recovery": [len(after.open_orders), len(after.fills), net],
        "exchange": [0, len(exchange_fills), truth],
    },
    index=["open orders", "fills", "net position"],
)
