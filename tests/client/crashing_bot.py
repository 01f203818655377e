"""A bot process for the crash tests (run as a script, not collected): it places one order and
a batch of two, all resting, waits for their INSERTED reports, prints their mids as JSON and
dies without ending its journal session (``os._exit``: a killed process).

argv: order endpoint, market endpoint, server key, private key, public key, journal folder.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the helpers in sdk_helpers.py

from sdk_helpers import WAIT, Recording, client_config

from recorder.client import Commands, Context
from recorder.venues.lx import lx1_pb2 as pb


def main() -> None:
    order, market, server_key, private, public, folder = sys.argv[1:7]
    processor = Recording()
    context = Context(
        order, private.encode(), public.encode(), server_key.encode(), processor,
        market_endpoint=market, config=client_config(Path(folder)),
    )  # fmt: skip
    context.start()
    cmd = Commands(context)
    single = cmd.limit_order(contract_id=1, size=1, price_in_cents=3000)
    batch, kids = cmd.batch(
        [pb.LimitOrder(contract_id=1, size=1, price_in_cents=3100 + i) for i in range(2)]
    )  # GTC: they rest
    assert batch.wait_done(WAIT)
    processor.wait_for(lambda _: len(processor.named("action_report")) == 3)  # INSERTED
    print(json.dumps({"single": single.mid, "kids": [k.mid for k in kids]}), flush=True)
    os._exit(0)  # journaled (the spool survives a killed process); the session never ends


if __name__ == "__main__":
    main()
